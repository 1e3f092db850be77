"""yamlio.load_data: libyaml's quick reading gives exactly what ruamel's round-trip load gives, or defers to it."""

from __future__ import annotations

import datetime
import math
from pathlib import Path
from typing import Any

import pytest

from planner import yamlio
from planner.yamlio.limits import YamlLimitError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
# Every YAML file of the project and of the public-inventory corpus: both readers must agree on each.
PROJECT_YAML = sorted(p for d in ("inventory", "playbooks", "roles", "collections", "tests/fixtures", "tests/evals")
                      for p in (ROOT / d).rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def canon(value: Any) -> Any:
    """Value and kind, key order kept: ruamel's subclasses (ScalarInt, CommentedMap, ...) count as their base."""
    from ruamel.yaml.comments import TaggedScalar

    if isinstance(value, dict):
        return ("map", [(canon(k), canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [canon(v) for v in value])
    if isinstance(value, TaggedScalar):
        tag = value.tag.value if hasattr(value.tag, "value") else value.tag
        return ("tagged", str(tag), str(value.value))
    if value is None:
        return ("null",)
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return ("bool", bool(value))
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else float(value))
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return (type(value).__name__, value.isoformat())
    return ("other", repr(value))


def read_with(reader: Any, path: Path) -> Any:
    """What the reader gives, or the error it raises (the fixtures hold broken files on purpose)."""
    try:
        return canon(reader(path))
    except (yamlio.YamlSyntaxError, YamlLimitError) as err:
        return ("error", str(err))


def both(path: Path) -> tuple[Any, Any]:
    return read_with(yamlio.load_data, path), read_with(yamlio.load, path)


@pytest.mark.parametrize("path", PROJECT_YAML, ids=[str(p.relative_to(ROOT)) for p in PROJECT_YAML])
def test_project_and_corpus_files_read_alike(path: Path) -> None:
    quick, reference = both(path)
    assert quick == reference


# YAML 1.2 as ruamel reads it, where PyYAML (1.1) would answer otherwise: each must come out as ruamel's answer.
CORNERS = ["yes", "no", "on", "off", "y", "n", "Yes", "TRUE", "true", "False", "tRue", "0777", "0o17", "0x1F",
           "-0x1f", "0b101", "1_000", "1__0", "1_", "_1", "0_7", "00", "-012", "+1", "-0", "0", "12", "1:30",
           "190:20:30", "1e3", "1E-3", "1.5_0", ".5", "1.", "0.", "012.5", "+.inf", "-.Inf", ".NaN", ".nan", "~",
           "null", "Null", "NULL", "", "=", "<<", "2026-01-01", "2026-01-01 10:00:00", "2026-1-1", "0o", "0x",
           "'yes'", '"0777"', "!!str 12", "!!int '12'", "!!float '1'", "!!bool 'yes'", "!unsafe '12'",
           "!vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162", "!!binary aGk=", "[yes, 0777, 1_0]", "{on: off}",
           "|\n  text\n", ">-\n  folded\n  text\n", "&a 1", "&a yes", "!!map {a: 1}", "!unsafe {a: 1}",
           "{<<: {a: 1}, b: 2}", "{? [a, b] : c}", "{1: one, '1': text, true: yes}"]


@pytest.mark.parametrize("value", CORNERS)
def test_scalar_corners_match_ruamel(tmp_path: Path, value: str) -> None:
    path = tmp_path / "v.yml"
    path.write_text(f"key: {value}\nother: 1\n")
    quick, reference = both(path)
    assert quick == reference


def test_the_quick_reading_answers_for_an_inventory_file(tmp_path: Path) -> None:
    """Not only correct but quick: a plain hand-kept file is built by libyaml, not handed to ruamel."""
    from planner.yamlio.quick import read

    path = tmp_path / "h.yml"
    path.write_text("---\n# a host\nlan_ip: 10.0.0.1\nmanage: yes\ncores: 8\nratio: 1.5\nnics: [{name: eth0}]\n"
                    "secret: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  6162\n")
    data = read(path.read_bytes(), str(path))
    assert data["manage"] == "yes" and data["cores"] == 8 and data["nics"] == [{"name": "eth0"}]
    assert type(data) is dict  # built here: ruamel's load would give a CommentedMap
    assert yamlio.plain(data)["secret"] == "!vault <tagged>"


def test_aliases_are_shared_as_ruamel_shares_them(tmp_path: Path) -> None:
    path = tmp_path / "a.yml"
    path.write_text("base: &b {x: 1}\nuse: *b\n")
    data = yamlio.load_data(path)
    assert data["use"] is data["base"] and data == {"base": {"x": 1}, "use": {"x": 1}}


@pytest.mark.parametrize(("text", "where"), [
    ("a: 1\na: 2\n", ":2:1"),           # duplicate key: refused, as load refuses it
    ("a: [1, 2\n", ":2:1"),             # syntax error: ruamel's message and position
    ("a: 1\n---\nb: 2\n", ""),          # two documents
    ("a: 1\n\tb: 2\n", ":2:"),          # a tab where indentation is
])
def test_errors_are_loads_own(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(text)
    with pytest.raises(yamlio.YamlSyntaxError) as quick:
        yamlio.load_data(path)
    with pytest.raises(yamlio.YamlSyntaxError) as reference:
        yamlio.load(path)
    assert str(quick.value) == str(reference.value) and where in str(quick.value)


def test_bounds_are_checked_before_reading(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yml"
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    bomb.write_text("\n".join(lines) + "\n")
    with pytest.raises(YamlLimitError):
        yamlio.load_data(bomb)


def test_not_utf8_is_loads_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yml"
    path.write_bytes("name: caf\xe9\n".encode("latin-1"))
    with pytest.raises(yamlio.YamlSyntaxError) as quick:
        yamlio.load_data(path)
    with pytest.raises(yamlio.YamlSyntaxError) as reference:
        yamlio.load(path)
    assert str(quick.value) == str(reference.value)


# -- one parse, two readings: a host_vars file's documentation (above) and its discovered block as Ansible reads it

def ansible_canon(value: Any) -> Any:
    """Value and exact kind, for comparing with reading.load_fast (bool is not int, Tagged keeps its tag)."""
    if isinstance(value, dict):
        return ("map", [(ansible_canon(k), ansible_canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [ansible_canon(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, repr(value))


# The value is written three times: an anchored one (`&a 1`) anchors again, which YAML allows (the latest counts).
@pytest.mark.filterwarnings("ignore:\\s*found duplicate anchor")
@pytest.mark.parametrize("value", [*CORNERS, "*a", "[*a, *a]", "!unsafe 'yes'", "!unsafe '0755'", "!unsafe ''",
                                   "! 12", "! yes", "1:20", "12:30:00", "'on'"])
def test_one_parse_gives_ansibles_reading_of_the_discovered_block(tmp_path: Path, value: str) -> None:
    """load_data_and's second answer is exactly what load_fast (Ansible's YAML 1.1) reads for the key, or UNSURE;
    its first is load_data's. YAML 1.1 and 1.2 differ on many of these, which is the point."""
    from planner.yamlio.quick import UNSURE
    from planner.yamlio.reading import load_fast

    path = tmp_path / "host.yml"
    path.write_text(f"anchor: &a 8\nkey: {value}\ndiscovered:\n  value: {value}\n  items:\n    - {value}\n"
                    "  name: !unsafe 'eth0'\n")
    try:
        doc, discovered = yamlio.load_data_and(path, "discovered")
    except yamlio.YamlSyntaxError:
        with pytest.raises(yamlio.YamlSyntaxError):
            yamlio.load_data(path)
        return
    assert canon(doc) == read_with(yamlio.load, path)
    if discovered is not UNSURE:
        assert ansible_canon(discovered) == ansible_canon(load_fast(path)["discovered"])


def test_a_written_discovered_block_is_read_in_the_same_parse(tmp_path: Path) -> None:
    """The shape `homelab facts` writes is answered by the quick reading itself, not left to a second read."""
    from planner.yamlio.quick import UNSURE
    from planner.yamlio.reading import load_fast

    path = tmp_path / "host.yml"
    path.write_text("lan_ip: 10.0.0.7\nhardware: {cpu: x, cores: 8, memory_gib: 64}\ndiscovered:\n"
                    "  gathered_at: '2026-12-07T02:55:54+00:00'\n  reachable: true\n  os:\n"
                    "    name: !unsafe 'Debian'\n    version: '12'\n  memory_mib: 63897\n  disks:\n"
                    "    - name: !unsafe 'sda'\n      size_gib: 3727.4\n      rotational: true\n"
                    "  services:\n    units:\n      - !unsafe 'ssh'\n")
    doc, discovered = yamlio.load_data_and(path, "discovered")
    assert discovered is not UNSURE
    assert ansible_canon(discovered) == ansible_canon(load_fast(path)["discovered"])
    assert discovered["os"]["name"] == "Debian" and type(discovered["os"]["name"]) is str
    assert canon(doc) == read_with(yamlio.load, path)  # the documentation still reads as ruamel reads it
