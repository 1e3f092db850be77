"""The surgical YAML writer: hand-kept inventory files keep every byte but the ones that changed."""

from __future__ import annotations

import difflib
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from planner.yamlio import YamlSyntaxError
from planner.yamlio.edit import Tagged, YamlEditError, delete_text, edit_text
from planner.yamlio.files import set_in_file
from planner.yamlio.reading import load_fast
from tests.conftest import FIXTURES

CORPUS = sorted(p for p in (FIXTURES / "inventories-public").rglob("*") if p.suffix in (".yml", ".yaml"))
FACTS = {"gathered_at": "2026-11-26T00:00:00Z", "os": "Debian 12"}


def read(path: Path) -> str:
    with path.open(encoding="utf-8", newline="") as fh:
        return fh.read()


def ansible(text: str) -> Any:
    """What ansible-core's own loader makes of the text, down to plain types (vaults stay encrypted)."""
    import yaml
    from ansible.parsing.yaml.loader import AnsibleLoader

    return _plain(yaml.load(text, Loader=AnsibleLoader))


def _plain(value: Any) -> Any:
    if hasattr(value, "_ciphertext"):
        return ("vault", value._ciphertext)
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return (datetime if isinstance(value, datetime) else date).fromisoformat(value.isoformat())
    assert value is None, type(value)
    return value


def assert_same(before: Any, after: Any, where: str = "") -> None:
    """Equal, and every value of the same type (``True`` is not ``1``)."""
    assert type(before) is type(after), f"{where}: {before!r} became {after!r}"
    if isinstance(before, dict):
        assert list(before) == list(after), where
        for key in before:
            assert_same(before[key], after[key], f"{where}.{key}")
    elif isinstance(before, list):
        assert len(before) == len(after), where
        for i, (a, b) in enumerate(zip(before, after, strict=True)):
            assert_same(a, b, f"{where}[{i}]")
    else:
        assert before == after, where


def only_additions(old: str, new: str) -> list[str]:
    """The lines ``new`` adds to ``old``; fails when any old line changed or went."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    added = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "insert":
            added += b[j1:j2]
        elif op != "equal":
            # a file without a final newline: its last line gains one when lines are added after it
            assert op == "replace" and i2 == len(a) and a[-1] == b[j1].rstrip("\r\n"), (op, a[i1:i2], b[j1:j2])
            added += b[j1 + 1:j2]
    return added


def first_hosts_entry(doc: Any, path: tuple = ()) -> tuple | None:
    """The key path of the first host under some ``hosts:`` mapping, in file order."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            if key == "hosts" and isinstance(value, dict) and value:
                return (*path, key, next(iter(value)))
            found = first_hosts_entry(value, (*path, key))
            if found:
                return found
    return None


def dig(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def without(doc: dict, path: tuple) -> dict:
    """``doc`` with the key at ``path`` taken out again (a host that had no vars gets None back)."""
    parent = dig(doc, path[:-1])
    del parent[path[-1]]
    if not parent and len(path) > 1:
        dig(doc, path[:-2])[path[-2]] = None
    return doc


# --- the public corpus: real files from public repositories -----------------


def test_corpus_is_complete() -> None:
    assert len(CORPUS) == 27
    assert (FIXTURES / "inventories-public" / "SOURCES.md").is_file()


@pytest.mark.parametrize("path", CORPUS, ids=[p.relative_to(FIXTURES / "inventories-public").parts[0] for p in CORPUS])
def test_corpus_noop_writes_are_byte_identical(path: Path) -> None:
    text = read(path)
    doc = load_fast(path)
    assert edit_text(text, (), doc if doc is not None else {}) == text
    for key, value in (doc or {}).items():
        assert edit_text(text, (key,), value) == text, key


@pytest.mark.parametrize("path", CORPUS, ids=[p.relative_to(FIXTURES / "inventories-public").parts[0] for p in CORPUS])
def test_corpus_adding_facts_only_adds_lines(path: Path) -> None:
    text = read(path)
    before = ansible(text) or {}
    assert isinstance(before, dict)
    where = (first_hosts_entry(before) or ()) + ("discovered",)
    new = edit_text(text, where, FACTS, unsafe=True)
    added = only_additions(text, new)
    assert added and added[0].strip() == "discovered:" or "discovered: {" in "".join(added), added
    after = ansible(new)
    assert dig(after, where) == FACTS and all(type(v) is str for v in dig(after, where).values())
    assert_same(before, without(after, where))
    assert edit_text(new, where, FACTS, unsafe=True) == new


# --- what the corpus lacks ---------------------------------------------------

MERGE = """\
defaults: &defaults
  ansible_user: admin
  ntp: yes
hosts:
  h1:
    <<: *defaults
    ansible_host: 10.0.0.1
"""


def test_merge_keys_survive_and_merged_keys_become_explicit() -> None:
    new = edit_text(MERGE, ("hosts", "h1", "discovered"), FACTS)
    assert only_additions(MERGE, new) and "    <<: *defaults\n" in new
    assert ansible(new)["hosts"]["h1"]["ntp"] is True
    assert edit_text(MERGE, ("hosts", "h1", "ntp"), True) == MERGE  # what the merge gives already
    off = edit_text(MERGE, ("hosts", "h1", "ntp"), False)
    assert only_additions(MERGE, off) == ["    ntp: false\n"]
    assert ansible(off)["defaults"]["ntp"] is True and ansible(off)["hosts"]["h1"]["ntp"] is False
    with pytest.raises(YamlEditError, match="anchor &defaults"):
        edit_text(MERGE, ("defaults", "ntp"), False)
    with pytest.raises(YamlEditError, match="merge"):
        delete_text(MERGE, ("hosts", "h1", "ntp"))


def test_crlf_file_stays_crlf(tmp_path: Path) -> None:
    text = "# lab\r\nall:\r\n  hosts:\r\n    h1:\r\n      ansible_host: 10.0.0.1\r\n"
    new = edit_text(text, ("all", "hosts", "h1", "discovered"), {"disks": ["sda"], **FACTS})
    assert new.count("\n") == new.count("\r\n") and new.startswith(text)
    file = tmp_path / "hosts.yml"
    file.write_bytes(text.encode())
    assert set_in_file(file, ("all", "hosts", "h1", "discovered"), FACTS)
    raw = file.read_bytes()
    assert raw.startswith(text.encode()) and raw.count(b"\n") == raw.count(b"\r\n")


def test_tabs_in_comments_and_plain_yes_no_on_off() -> None:
    text = "a: on  #\tswitch\n#\tnote\nb: no\nc: Yes\nd: off\nmode: 0755\nn: n\n"
    for key, value in {"a": True, "b": False, "c": True, "d": False, "mode": 0o755, "n": "n"}.items():
        assert edit_text(text, (key,), value) == text, key
    new = edit_text(text, ("a",), "on")
    assert new.startswith("a: 'on'  #\tswitch\n#\tnote\n") and ansible(new)["a"] == "on"
    assert edit_text(text, ("mode",), "0755").splitlines()[5] == "mode: '0755'"


def test_comment_above_document_start_is_kept() -> None:
    text = "# SPDX-License-Identifier: MIT\n# (c) someone\n---\nvpn: yes\n"
    new = edit_text(text, ("discovered",), FACTS)
    assert new.startswith(text) and only_additions(text, new)


def test_comment_before_a_host_stays_with_that_host() -> None:
    # ruamel hangs "# the NAS" on h1's last value; assigning to h1 would move it
    text = ("all:\n  hosts:\n    h1:\n      ansible_host: 10.0.0.1  # router\n\n"
            "    # the NAS, keep it last\n    h2:\n      ansible_host: 10.0.0.2\n")
    new = edit_text(text, ("all", "hosts", "h1", "discovered"), FACTS)
    lines = new.splitlines()
    assert lines[lines.index("    h2:") - 1] == "    # the NAS, keep it last"
    assert lines[3:6] == ["      ansible_host: 10.0.0.1  # router", "      discovered:",
                          "        gathered_at: '2026-11-26T00:00:00Z'"]


def test_anchor_and_alias() -> None:
    text = "common: &tags [lab, gpu]\nh1:\n  tags: *tags\nh2:\n  tags: *tags\n"
    assert edit_text(text, ("h1", "tags"), ["lab", "gpu"]) == text
    new = edit_text(text, ("h1", "tags"), ["lab"])  # only this reference is replaced
    assert new == "common: &tags [lab, gpu]\nh1:\n  tags:\n    - 'lab'\nh2:\n  tags: *tags\n"
    with pytest.raises(YamlEditError) as info:
        edit_text(text, ("common",), ["x"])
    assert info.value.location.line == 1 and "line 3" in str(info.value)
    with pytest.raises(YamlEditError, match="alias"):
        edit_text("base: &b\n  x: 1\nh: *b\n", ("h", "y"), 2)


def test_no_final_newline_stays_missing() -> None:
    text = "---\nall:\n  hosts:\n    server:"
    new = edit_text(text, ("all", "hosts", "server", "discovered"), FACTS)
    assert new == text + "\n      discovered:\n        gathered_at: '2026-11-26T00:00:00Z'\n        os: 'Debian 12'"
    assert delete_text(new, ("all", "hosts", "server", "discovered")) == text.replace("server:", "server: {}")


VAULT = """\
---
db_password: !vault |
  $ANSIBLE_VAULT;1.1;AES256
  62313365396662343061393464336163383764373764613633653634306231386433626436623361
  6134333665353966363534333632666535333761666131620a663537646436643839616531643561

user: admin
"""


def test_vault_block_is_never_touched_unless_replaced() -> None:
    new = edit_text(VAULT, ("discovered",), FACTS)
    assert new.startswith(VAULT)
    marker = load_fast_text(VAULT)["db_password"]
    assert isinstance(marker, Tagged) and marker.tag == "!vault" and marker != str(marker)
    assert edit_text(VAULT, ("db_password",), marker) == VAULT
    assert edit_text(VAULT, ("user",), "root") == VAULT.replace("user: admin", "user: 'root'")
    replaced = edit_text(VAULT, ("db_password",), "plain")
    assert replaced.startswith("---\ndb_password: 'plain'\n\nuser: admin")
    assert delete_text(VAULT, ("db_password",)) == "---\n\nuser: admin\n"
    # a whole-mapping write never overwrites a vault by the way (e.g. with a masked "!vault <tagged>")
    with pytest.raises(YamlEditError, match="!vault value at line 2"):
        edit_text(VAULT, (), {"db_password": "!vault <tagged>", "user": "admin"})
    with pytest.raises(YamlEditError, match="!vault"):
        edit_text(VAULT, (), {"user": "admin"})
    assert edit_text(VAULT, (), {"db_password": marker, "user": "root"}).endswith("user: 'root'\n")


def load_fast_text(text: str) -> Any:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "f.yml"
        path.write_text(text)
        return load_fast(path)


@pytest.mark.parametrize("text", ["", "# nothing here yet\n# really\n", "---\n", "# no newline"])
def test_empty_and_comment_only_files_are_empty_mappings(text: str) -> None:
    assert edit_text(text, (), {}) == text
    new = edit_text(text, ("discovered",), FACTS)
    assert new.startswith(text) and ansible(new) == {"discovered": FACTS}


def test_values_are_written_explicitly_typed() -> None:
    value = {"yes": "no", "n": 1, "ratio": 1e-05, "big": 1e20, "none": None, "on": True, "empty": [], "map": {},
             "text": "it's", "multi": "a\nb\tc", "ctrl": "\x07", "1.2.3.4": "x", "list": [[1, 2], {"a": 1}]}
    new = edit_text("", ("v",), value)
    assert "  'yes': 'no'\n" in new and "  ratio: 1.0e-05\n" in new and "  big: 1.0e+20\n" in new
    assert "  text: 'it''s'\n" in new and '  multi: "a\\nb\\tc"\n' in new and "  '1.2.3.4': 'x'\n" in new
    assert "  list:\n    - - 1\n      - 2\n    - a: 1\n" in new
    assert ansible(new) == {"v": value}
    unsafe = edit_text("", ("v",), {"cmd": "echo {{ x }}"}, unsafe=True)
    assert unsafe == "v:\n  cmd: !unsafe 'echo {{ x }}'\n" and ansible(unsafe) == {"v": {"cmd": "echo {{ x }}"}}
    # an !unsafe value reads as its string, and a templatable plain string is not the same as an !unsafe one
    assert edit_text(unsafe, ("v", "cmd"), "echo {{ x }}") == unsafe
    plain = "cmd: 'echo {{ x }}'\n"
    assert edit_text(plain, ("cmd",), "echo {{ x }}", unsafe=True) == "cmd: !unsafe 'echo {{ x }}'\n"


def test_indentation_follows_the_file() -> None:
    text = "all:\n    hosts:\n        h1:\n            ports:\n            - 22\n"
    new = edit_text(text, ("all", "hosts", "h1", "discovered"), {"disks": ["sda"]})
    assert new.endswith("            discovered:\n                disks:\n                - 'sda'\n")


def test_flow_mappings_grow_in_their_own_style() -> None:
    text = "h1: {\n  ansible_host: 10.0.0.1,\n  disk: sda,\n}\nh2: {ansible_host: 10.0.0.2}\n"
    new = edit_text(text, ("h1", "discovered"), {"os": "Debian"})
    assert only_additions(text, new) == ["  discovered: {os: 'Debian'},\n"]
    new = edit_text(text, ("h2", "discovered"), {"os": "Debian"})
    assert new.endswith("h2: {ansible_host: 10.0.0.2, discovered: {os: 'Debian'}}\n")


def test_delete_removes_only_that_key() -> None:
    text = "a: 1  # one\n# about b\nb:\n  c: 2\n  d: 3\ne: 4\n"
    assert delete_text(text, ("b", "c")) == "a: 1  # one\n# about b\nb:\n  d: 3\ne: 4\n"
    assert delete_text(text, ("b",)) == "a: 1  # one\n# about b\ne: 4\n"
    assert delete_text(text, ("zzz",)) == text


# --- a hand-kept hosts file written back into, again and again ----------------

LONG = "ssh-ed25519 " + "A" * 230 + " admin@lab"
HOSTS = (
    "# Lab inventory: edit by hand, the tool only writes 'discovered:'.\r\n"
    "---\r\n"
    "all:\r\n"
    "  vars:\r\n"
    "    ansible_user: admin\r\n"
    "    defaults: &defaults\r\n"
    "      ntp: yes\r\n"
    "      firewall: off\r\n"
    f"    admin_key: {LONG}\r\n"
    "  hosts:\r\n"
    "    # the router\r\n"
    "    router:\r\n"
    "      ansible_host: 10.0.0.1  #\tstatic lease\r\n"
    "      opts: *defaults\r\n"
    "      mode: 0644\r\n"
    "\r\n"
    "    # the NAS: disks spin down at night\r\n"
    "    nas:\r\n"
    "      ansible_host: '10.0.0.2'\r\n"
    "      backup: no\r\n"
    f"      motd: \"{'x' * 210}\"\r\n"
    "    gpu-box:\r\n"
    "      ansible_host: 10.0.0.3"
)


def facts(host: str, run: int) -> dict:
    return {"run": run, "kernel": f"6.1.0-{run}", "disks": [f"sd{c}" for c in "abcd"[: run % 4 + 1]],
            "gpu": host == "gpu-box" and run % 2 == 0, "load": run / 8, "note": "{{ not a template }}"}


def test_one_hundred_write_backs(tmp_path: Path) -> None:
    file = tmp_path / "hosts.yml"
    file.write_bytes(HOSTS.encode())
    os.chmod(file, 0o640)
    before = ansible(HOSTS)
    hosts = ["router", "nas", "gpu-box"]
    for run in range(100):
        for host in hosts:
            assert set_in_file(file, ("all", "hosts", host, "discovered"), facts(host, run), unsafe=True)
            stat = file.stat()
            raw = file.read_bytes()
            assert not set_in_file(file, ("all", "hosts", host, "discovered"), facts(host, run), unsafe=True)
            after = file.stat()
            assert file.read_bytes() == raw and (after.st_mtime_ns, after.st_ino) == (stat.st_mtime_ns, stat.st_ino)
    final = read(file)
    assert (file.stat().st_mode & 0o777) == 0o640
    assert final.count("\n") == final.count("\r\n") and not final.endswith("\n")
    assert f"    admin_key: {LONG}\r\n" in final
    # the same as writing the last values once: the history left nothing behind
    once = HOSTS
    for host in hosts:
        once = edit_text(once, ("all", "hosts", host, "discovered"), facts(host, 99), unsafe=True)
    assert final == once
    added = only_additions(HOSTS, final)
    assert sum(line.strip() == "discovered:" for line in added) == 3
    assert all(line.startswith(" " * 8) or line.strip() == "discovered:" for line in added)
    loaded = ansible(final)
    for host in hosts:
        got = loaded["all"]["hosts"][host].pop("discovered")
        assert_same(facts(host, 99), got, host)
    assert_same(before, loaded)
    # host-supplied text is never templated; the person's own strings still are
    import yaml
    from ansible.parsing.yaml.loader import AnsibleLoader
    from ansible.template import is_trusted_as_template, trust_as_template

    trusted = yaml.load(trust_as_template(final), Loader=AnsibleLoader)["all"]
    assert "    note: !unsafe '{{ not a template }}'\r\n" in final
    for host in hosts:
        found = trusted["hosts"][host]["discovered"]
        assert not any(is_trusted_as_template(v) for v in (found["note"], found["kernel"], *found["disks"]))
    assert is_trusted_as_template(trusted["vars"]["admin_key"])


# --- refusals ---------------------------------------------------------------


def test_refusals_name_the_problem() -> None:
    with pytest.raises(YamlEditError, match="2 YAML documents") as info:
        edit_text("a: 1\n---\nb: 2\n", ("a",), 2)
    assert info.value.location.line == 3
    with pytest.raises(YamlEditError, match="vault"):
        edit_text("$ANSIBLE_VAULT;1.1;AES256\n6231\n", ("a",), 1)
    with pytest.raises(YamlEditError, match="not a mapping"):
        edit_text("- a\n- b\n", ("a",), 1)
    with pytest.raises(YamlEditError, match="not a mapping"):
        edit_text("a: text\n", ("a", "b"), 1)
    with pytest.raises(YamlEditError, match="more than once"):
        edit_text("a: 1\na: 2\n", ("a",), 3)
    with pytest.raises(YamlEditError, match="cannot write"):
        edit_text("a: 1\n", ("a",), object())


def test_set_in_file_touches_nothing_when_nothing_changes_or_on_error(tmp_path: Path) -> None:
    file = tmp_path / "h.yml"
    file.write_bytes(b"# kept\r\nhost: yes\r\n")
    stat = file.stat()
    assert not set_in_file(file, ("host",), True)
    for bad in (("host", "x"), ("host",)):
        with pytest.raises(YamlEditError):
            set_in_file(file, bad, object() if len(bad) == 1 else 1)
    after = file.stat()
    assert file.read_bytes() == b"# kept\r\nhost: yes\r\n"
    assert (after.st_mtime_ns, after.st_ino) == (stat.st_mtime_ns, stat.st_ino)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.yml"]
    vault = tmp_path / "secret.yml"
    vault.write_text("$ANSIBLE_VAULT;1.1;AES256\n6231\n")
    with pytest.raises(YamlEditError):
        set_in_file(vault, ("a",), 1)
    with pytest.raises(YamlSyntaxError):
        load_fast(vault)


def test_set_in_file_creates_a_missing_file(tmp_path: Path) -> None:
    file = tmp_path / "host_vars" / "new.yml"
    file.parent.mkdir()
    assert set_in_file(file, ("discovered",), FACTS, header="Written by homelab.")
    assert file.read_text() == ("# Written by homelab.\n---\ndiscovered:\n"
                                "  gathered_at: '2026-11-26T00:00:00Z'\n  os: 'Debian 12'\n")


def test_load_fast_reads_as_ansible_does(tmp_path: Path) -> None:
    file = tmp_path / "v.yml"
    file.write_text("a: yes\nb: n\nc: 0755\nd: !unsafe '{{ x }}'\ne: !vault |\n  abc\nf: 1e3\n"
                    "g: &g {q: 1}\nh: {<<: *g, z: 2}\n")
    assert load_fast(file) == {"a": True, "b": "n", "c": 493, "d": "{{ x }}", "e": Tagged("!vault", "abc\n"),
                               "f": "1e3", "g": {"q": 1}, "h": {"q": 1, "z": 2}}


def test_a_lone_surrogate_is_refused_not_written_for_ansible_to_choke_on() -> None:
    with pytest.raises(YamlEditError, match="lone surrogate"):
        edit_text("a: 1\n", ("name",), "eth\udcff0", unsafe=True)
