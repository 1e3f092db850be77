"""The writer's libyaml composition gives the very nodes ruamel's composer gives, or steps aside."""

from __future__ import annotations

import random
import warnings
from typing import Any

import pytest

from planner.yamlio.compose import Composed, compose
from planner.yamlio.edit import YamlEditError, edit_text
from planner.yamlio.reading import _Alias, _ruamel
from planner.yamlio.spans import _Document
from tests.conftest import FIXTURES, ROOT


def _yaml() -> Any:
    r = _ruamel()
    yaml = r.YAML(typ="safe", pure=True)
    yaml.Composer, yaml.Resolver = r.Composer, r.Resolver
    return yaml


def by_ruamel(text: str) -> Composed:
    yaml = _yaml()
    yaml.span_aliases, yaml.span_vaults = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a reused anchor: ruamel warns, and the later one counts in both
        docs = list(yaml.compose_all(text))
    assert len(docs) <= 1
    return Composed(docs[0] if docs else None, yaml.span_aliases, yaml.span_vaults)


def shape(node: Any, seen: set[int]) -> Any:
    """Everything the writer reads from a node: kind, tag, anchor, marks, style, value; aliases by target."""
    r = _ruamel()
    if node is None:
        return None
    if isinstance(node, _Alias):
        return ("alias", node.name, node.start, node.end, node.line, node.column, id(node.target) in seen)
    out: list[Any] = [type(node).__name__, node.tag, node.anchor, node.start_mark.index, node.start_mark.line,
                      node.start_mark.column]
    if isinstance(node, r.ScalarNode):
        return [*out, node.value, node.style, node.end_mark.index]
    seen.add(id(node))
    out += [node.flow_style, node.end_mark.index if node.flow_style or not node.value else None]
    if isinstance(node, r.MappingNode):
        return [*out, [(shape(k, seen), shape(v, seen)) for k, v in node.value]]
    return [*out, [shape(v, seen) for v in node.value]]


def same_nodes(text: str) -> bool:
    quick = compose(text, _yaml().resolver)
    assert quick is not None, "the quick composition stepped aside"
    slow = by_ruamel(text)
    return (shape(quick.root, set()) == shape(slow.root, set())
            and [shape(a, set()) for a in quick.aliases] == [shape(a, set()) for a in slow.aliases]
            and [shape(v, set()) for v in quick.vaults] == [shape(v, set()) for v in slow.vaults])


YAML_FILES = sorted({*FIXTURES.rglob("*.yml"), *FIXTURES.rglob("*.yaml"), *(ROOT / "inventory").rglob("*.yml"),
                     *(ROOT / "playbooks").rglob("*.yml"), *(ROOT / "roles").rglob("*.yml")})


def test_every_yaml_file_of_the_project_and_the_public_corpus_composes_alike() -> None:
    compared = 0
    for path in YAML_FILES:
        text = path.read_text(encoding="utf-8-sig")
        try:
            by_ruamel(text)
        except Exception:  # noqa: BLE001 - files ruamel refuses (the invalid fixtures) are not compared
            continue
        assert same_nodes(text), path
        compared += 1
    assert compared > 300


@pytest.mark.parametrize("text", [
    "a:\n  b:\n  c: 1\n",                       # an absent value: marked at the next token, as ruamel does
    "---\nall:\n  hosts:\n    server:\n    pi:",  # ... at the end of a text with no final break
    "a:\r\n  b:\r\nc:",                          # ... the same with CRLF
    "- x\n-\n- - y\n  -\n",                      # absent list items: where the dash ends, in both
    "a: &x {k: v}\nb: *x\nc: [*x, &y 1, *y]\n",  # anchors and aliases, flow style
    "a: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  3031\nb: !unsafe '{{ x }}'\n",
    "a: |+\n  kept\n\nb: >-\n  folded\n  text\nc: 'it''s'\nd: \"\\t\\u00e9\"\n",
    "# only a comment\n",
    "",
    "x: yes\ny: 0755\nz: 2026-12-08\nw: 1:30\nv: ~\nu: .inf\nt: !!str 12\ns: é\n",
])
def test_edge_cases_compose_alike(text: str) -> None:
    assert same_nodes(text)


@pytest.mark.parametrize("text", [
    "a: 1\n---\nb: 2\n",          # several documents: ruamel names the second
    "a: *nowhere\n",              # an undefined alias: ruamel names it
    "a: [1\n",                    # not YAML
    "? a\n: b\n",                 # an explicit key
    "a: {b: , c: 1}\n",           # an absent value in a flow mapping is marked differently
    "a: 'one\u2028two'\n",        # YAML 1.1's extra line breaks
    "a: 1\rb:",                   # an absent value at the end, after a lone CR
    "a: " + "[" * 300 + "]" * 300 + "\n",  # deeper than MAX_DEPTH
])
def test_what_may_read_differently_is_left_to_ruamel(text: str) -> None:
    assert compose(text, _yaml().resolver) is None


def test_errors_are_ruamels_own() -> None:
    with pytest.raises(YamlEditError, match="found undefined alias") as err:
        _Document("a: 1\nb: *nowhere\n", "hosts.yml")
    assert err.value.location is not None and err.value.location.line == 2
    with pytest.raises(YamlEditError, match="2 YAML documents"):
        _Document("a: 1\n---\nb: 2\n", "hosts.yml")


ATOMS = ["1", "''", '""', "yes", "~", "", "a b", "'q'", '"d\\n"', "[]", "{}", "[1, x]", "&A v", "*A", "!unsafe x",
         "!vault |\n  abc", "|\n  t\n", ">+\n  t\n\n", "|-\n  t", "2026-01-01", "0o17", "1_000", "-.inf", "é",
         "'a\n  b'", "!!binary aGk="]


def random_document(rng: random.Random) -> str:
    """Nested block mappings and lists, absent values, comments and every kind of scalar the writer meets."""
    lines: list[str] = []

    def fill(depth: int, indent: int) -> None:
        as_list = rng.random() < 0.4
        for _ in range(rng.randint(1, 3)):
            lead = " " * indent + ("-" if as_list else rng.choice(["a", "b", "'k'", "1", "z"]) + ":")
            if depth < 3 and rng.random() < 0.4:
                lines.append(lead + rng.choice(["", "  # c"]))
                fill(depth + 1, indent + rng.choice([2, 4]))
            else:
                atom = rng.choice(ATOMS)
                lines.append(lead + (" " + atom if atom else ""))
            if rng.random() < 0.1:
                lines.append(" " * rng.randint(0, 6) + "# note")

    fill(0, 0)
    return "\n".join(lines) + rng.choice(["\n", "", "\n\n"])


def test_random_inventory_shaped_documents_compose_alike() -> None:
    """Each random document ruamel reads (an alias before its anchor, a bad indent are not) composes alike."""
    rng = random.Random(20261208)
    compared = 0
    for _ in range(400):
        text = random_document(rng)
        try:
            by_ruamel(text)
        except Exception:  # noqa: BLE001 - not YAML: nothing to compare
            continue
        assert same_nodes(text), text
        compared += 1
    assert compared > 150


def test_one_edit_in_a_hosts_file_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    hosts = "all:\n  children:\n" + "".join(
        f"    rack{r}:  # rack {r}\n      hosts:\n" + "".join(
            f"        h{r}-{n}:\n          ansible_host: 10.0.{r}.{n}\n          gpu: {'yes' if n % 3 else 'no'}\n"
            for n in range(20)) for r in range(5))
    path = ("all", "children", "rack2", "hosts", "h2-7", "discovered")
    quick = edit_text(hosts, path, {"os": "Debian 12", "cpus": 8}, unsafe=True)
    import planner.yamlio.spans as spans
    monkeypatch.setattr(spans, "compose", lambda text, resolver: None)
    assert edit_text(hosts, path, {"os": "Debian 12", "cpus": 8}, unsafe=True) == quick != hosts
