"""A copy of the project to run against, as a clean checkout has it: for the tests and for the bench.

A checkout that ran `make demo` holds what the demo learnt (facts in host_vars, sightings in the knowledge
base, the docs made from them); a copy taken from it must start from the documentation alone, whatever ran in
the checkout before.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_project(dest: Path) -> Path:
    """A copy of the project without its virtualenv, state, tests, bench or session logs; returns ``dest``.

    Compiled bytecode is copied with the sources: `homelab` started in the copy imports the copy's planner,
    and with no __pycache__ there (or with PYTHONDONTWRITEBYTECODE set, as on CI machines) every run would
    compile it from source again, about 50 ms of CPU each, over a thousand runs in `make test`
    (scripts/test.sh compiles the checkout first). copytree keeps each source's mtime, which a .pyc is
    checked against, so a source changed since is compiled afresh as usual."""
    import shutil

    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(".venv", ".homelab", ".git",
                                                              ".pytest_cache", ".mypy_cache", ".ruff_cache",
                                                              "*.egg-info", "tests", "sessions", "bench"))
    return dest


def documented_only(project: Path) -> Path:
    """``project`` with the facts a `make demo` wrote into its host_vars taken out: tests start from the
    documentation alone, whatever ran in the checkout before them."""
    from planner.yamlio.edit import delete_text

    taken_out = False
    for path in (project / "inventory" / "host_vars").glob("*.yml"):
        text = path.read_text()
        if "\ndiscovered:" in text:
            path.write_text(delete_text(text, ("discovered",)))
            taken_out = True
    kb = project / "docs" / "knowledge-base.yml"
    if kb.exists():
        documented = kb_as_documented(kb.read_text())
        taken_out = taken_out or documented != kb.read_text()
        kb.write_text(documented)
    if taken_out:
        # The docs the demo regenerated show those facts; made again from what is left, the copy starts with
        # current docs, as a clean checkout does (an apply that changes nothing regenerates only some of them).
        from planner.knowledge import docsgen

        docsgen.write(project, docsgen.generate(project, project / "inventory"))
    return project


def kb_as_documented(text: str) -> str:
    """A knowledge base without what the tool wrote into it (occurrences, issues it opened): what a `make demo`
    learnt in the checkout would otherwise count as sightings in a test's project."""
    import yaml

    from planner.yamlio.edit import delete_text

    issues = (yaml.safe_load(text) or {}).get("issues") or []
    for i in reversed(range(len(issues))):
        if issues[i].get("added_by") == "homelab":
            text = delete_text(text, ("issues", i))
        elif "occurrences" in issues[i]:
            text = delete_text(text, ("issues", i, "occurrences"))
    return text
