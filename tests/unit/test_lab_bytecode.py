"""The lab hosts' cache of compiled module code (planner/lab/host_bytecode.py), run as a lab host runs it: the
module file on its own, loaded at interpreter start, importing from a fresh zip each time as AnsiballZ does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from planner.lab import host_bytecode

PROBE = """
import json, sys, traceback, zipimport
sys.path[:0] = [sys.argv[3], sys.argv[1]]
import homelab_lab_bytecode
homelab_lab_bytecode.install(sys.argv[2])
import tasklib
try:
    tasklib.fail()
except RuntimeError:
    where = traceback.extract_tb(sys.exc_info()[2])[-1].filename
print(json.dumps({"answer": tasklib.ANSWER, "file": tasklib.fail.__code__.co_filename, "traceback": where,
                  "cached": getattr(zipimport._compile_source, "homelab_cached", False)}))
"""


def _task_zip(path: Path, answer: int) -> Path:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("tasklib.py", f"ANSWER = {answer}\n\ndef fail():\n    raise RuntimeError('x')\n")
    return path


def _run(tmp_path: Path, zip_path: Path, cache: Path) -> dict:
    hook = tmp_path / "site"
    hook.mkdir(exist_ok=True)
    (hook / "homelab_lab_bytecode.py").write_bytes(Path(host_bytecode.__file__).read_bytes())
    proc = subprocess.run([sys.executable, "-I", "-c", PROBE, str(hook), str(cache), str(zip_path)],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_code_from_a_new_zip_is_loaded_from_the_cache_under_the_new_zips_name(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = _run(tmp_path, _task_zip(tmp_path / "run1.zip", 42), cache)
    mine = cache / str(os.getuid())
    entries = sorted(mine.iterdir())
    assert first["cached"] and first["answer"] == 42 and len(entries) == 1
    assert oct(mine.stat().st_mode & 0o777) == "0o700", "one user's cached code is not another's to run"

    # Same source in another zip: no second entry, and the code names the zip it came from this time.
    second = _run(tmp_path, _task_zip(tmp_path / "run2.zip", 42), cache)
    assert sorted(mine.iterdir()) == entries
    assert second["file"].startswith(str(tmp_path / "run2.zip")), second
    assert second["traceback"] == second["file"]


def test_changed_source_is_compiled_again_and_a_damaged_entry_is_only_a_miss(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _run(tmp_path, _task_zip(tmp_path / "a.zip", 1), cache)
    changed = _run(tmp_path, _task_zip(tmp_path / "b.zip", 2), cache)
    assert changed["answer"] == 2, "a cache keyed on anything but the source would hand back the old code"
    mine = cache / str(os.getuid())
    assert len(list(mine.iterdir())) == 2
    for entry in mine.iterdir():
        entry.write_bytes(b"\x00not marshal data")
    assert _run(tmp_path, _task_zip(tmp_path / "c.zip", 2), cache)["answer"] == 2
    assert _run(tmp_path, _task_zip(tmp_path / "d.zip", 1), cache)["answer"] == 1


def test_an_unwritable_cache_still_runs_the_code(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("")
    assert _run(tmp_path, _task_zip(tmp_path / "e.zip", 7), blocked)["answer"] == 7


def test_a_directory_another_user_could_write_is_not_used(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    mine = cache / str(os.getuid())
    mine.mkdir(parents=True)
    mine.chmod(0o777)  # as if someone else had made it first, open to all
    planted = _run(tmp_path, _task_zip(tmp_path / "f.zip", 3), cache)
    assert planted["answer"] == 3 and list(mine.iterdir()) == [], "code must not be cached where others can write"


def test_lab_up_puts_the_cache_in_or_takes_it_out_as_the_variable_says(tmp_path: Path) -> None:
    from planner.lab import hostsetup

    merged = tmp_path / "merged"
    hostsetup._bytecode_cache(merged, True)
    site = merged / "usr" / "lib" / "python3" / "dist-packages"
    assert (site / "homelab_lab_bytecode.py").read_bytes() == Path(host_bytecode.__file__).read_bytes()
    assert (site / "homelab-lab-bytecode.pth").read_text() == host_bytecode.PTH_LINE
    cache = merged / host_bytecode.ROOT.lstrip("/")
    assert oct(cache.stat().st_mode & 0o7777) == "0o1777", "every user makes its own directory inside"
    (cache / "0").mkdir()

    hostsetup._bytecode_cache(merged, False)
    assert not (site / "homelab_lab_bytecode.py").exists() and not (site / "homelab-lab-bytecode.pth").exists()
    assert not cache.exists(), "a host without the cache keeps no code compiled by an earlier up"
