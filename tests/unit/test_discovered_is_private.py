"""The ``discovered:`` block belongs to the tool: no catalog playbook, role or plugin of the project reads it.

That is what lets a plan's digests leave it out (planner/plans/digests.py): facts written between
review and apply cannot change what a playbook does. Every Jinja expression in playbooks/, roles/
and the project's collection is parsed, and so is every Python file of the collection; any
reference to a variable named ``discovered`` fails this test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateSyntaxError

from tests.conftest import ROOT

KEY = "discovered"
SCANNED = ("playbooks", "roles", "collections")
#: Task and play keys whose value Ansible reads as a bare Jinja expression (no braces).
BARE = {"when", "changed_when", "failed_when", "until", "that", "var", "break_when"}
_ENV = Environment()


class _AnyTag(yaml.SafeLoader):
    """Ansible's own tags (!unsafe, !vault) load as what they wrap."""


_AnyTag.add_multi_constructor("!", lambda loader, suffix, node: (
    loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None))


def _reads_key(template: str) -> bool:
    try:
        tree = _ENV.parse(template)
    except TemplateSyntaxError:
        return KEY in template  # not Jinja this parser takes: be strict rather than blind
    for node in tree.find_all((nodes.Name, nodes.Getattr, nodes.Const)):
        if isinstance(node, nodes.Name) and node.name == KEY:
            return True
        if isinstance(node, nodes.Getattr) and node.attr == KEY:
            return True
        if isinstance(node, nodes.Const) and isinstance(node.value, str) and node.value.split(".")[0] == KEY:
            return True
    return False


def _strings(value: object, key: str = "") -> Iterator[tuple[str, bool]]:
    """Every string in a YAML document, with whether Ansible reads it as a bare expression."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, key)
    elif isinstance(value, str):
        yield value, key in BARE


def yaml_reads(text: str) -> list[str]:
    """The strings of a YAML file that read ``discovered``."""
    found = []
    for doc in yaml.load_all(text, Loader=_AnyTag):  # noqa: S506 - a SafeLoader subclass
        for string, bare in _strings(doc):
            if _reads_key(string) or (bare and _reads_key("{{ " + string + " }}")):
                found.append(string)
    return found


def python_reads(text: str) -> list[str]:
    """Where Python code names ``discovered`` (a key, an attribute or a variable)."""
    found = []
    for node in ast.walk(ast.parse(text)):
        named = (node.value if isinstance(node, ast.Constant) else node.attr if isinstance(node, ast.Attribute)
                 else node.id if isinstance(node, ast.Name) else None)
        if named == KEY:
            found.append(f"line {getattr(node, 'lineno', '?')}")
    return found


def reads(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yml", ".yaml"):
        return yaml_reads(text)
    if path.suffix == ".py":
        return python_reads(text)
    if path.suffix == ".j2":
        return [path.name] if _reads_key(text) else []
    return []


def scanned_files() -> list[Path]:
    return sorted(p for top in SCANNED for p in (ROOT / top).rglob("*")
                  if p.is_file() and "__pycache__" not in p.parts)


def test_no_catalog_playbook_role_or_plugin_reads_the_discovered_block() -> None:
    files = scanned_files()
    assert any(p.suffix == ".j2" for p in files) and any(p.suffix == ".py" for p in files)
    offenders = {str(p.relative_to(ROOT)): found for p in files if (found := reads(p))}
    assert offenders == {}, (f"{KEY}: is written by the tool and left out of plan digests; a playbook must not "
                             f"read it: {offenders}")


@pytest.mark.parametrize("text", [
    "- debug:\n    msg: \"{{ hostvars[inventory_hostname].discovered.gpus }}\"\n",
    "- debug:\n    msg: \"{{ hostvars[inventory_hostname]['discovered'] }}\"\n",
    "- debug:\n    msg: \"{{ discovered.gpus | length }}\"\n",
    "- debug:\n    msg: \"{{ vars['discovered'] }}\"\n",
    "- debug:\n    msg: \"{{ vars.discovered }}\"\n",
    "- debug:\n    msg: \"{{ lookup('vars', 'discovered') }}\"\n",
    "- debug:\n    msg: \"{{ lookup('vars', 'discovered.gpus') }}\"\n",
    "- debug:\n    msg: hi\n  when: discovered is defined\n",
    "- assert:\n    that:\n      - discovered.memory_mib > 0\n",
    "- set_fact:\n    x: !unsafe \"{{ 1 }}\"\n    y: \"{% for g in discovered.gpus %}{{ g }}{% endfor %}\"\n",
])
def test_the_scan_catches_each_way_of_reading_it(text: str) -> None:
    assert yaml_reads(text)


@pytest.mark.parametrize("text", [
    "description: The inventory's discovered block needs all four.\n",
    "- debug:\n    msg: \"{{ ansible_facts['homelab_discovered']['nics'] }}\"\n",
    "- debug:\n    msg: \"{{ discovered_at | default('') }}\"\n",
])
def test_prose_and_other_names_are_not_reads(text: str) -> None:
    assert yaml_reads(text) == []


def test_the_scan_reads_templates_and_plugins() -> None:
    assert _reads_key("{% for gpu in hostvars[h].discovered.gpus %}{{ gpu.model }}\n{% endfor %}")
    assert python_reads("def run(self, tmp=None, task_vars=None):\n    return task_vars.get('discovered')\n")
    assert python_reads("facts = task_vars['hostvars'][host].discovered\n")
    assert python_reads("homelab_discovered = {}\nkey = 'homelab_discovered'\n") == []
