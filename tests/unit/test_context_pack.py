"""The context pack's size: at most 6k cl100k tokens for the reference homelab and for 200 hosts, with every
catalog playbook and every variable a model may set still in it, and the pack's own estimate never below
the real count."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from planner.planning import context
from planner.planning.fixed import fixed_of
from tests.conftest import copy_project, documented_only

GOAL_TOKENS = 6000
INTENT = "apply the baseline settings to every host"


def _tokens(text: str) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # the bundled tokenizer; nothing fetched
    from litellm import token_counter

    return int(token_counter(model="gpt-4", text=text))


@pytest.fixture(scope="module")
def packs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, context.ContextPack]:
    """One pack for the reference homelab and one for it grown to 200 hosts, as `make bench` grows it."""
    from planner.inventory.hosts import load_inventory
    from planner.lab import scale

    project = documented_only(copy_project(tmp_path_factory.mktemp("pack") / "project"))
    source = project / "inventory"
    big = project / "inventory-200"
    big.mkdir()
    for entry in source.iterdir():
        if entry.name != "host_vars":
            (big / entry.name).symlink_to(entry)
    scale.write_files(big, source, scale.generated_hosts(load_inventory(source), 200))
    return {"9": context.build(project, source, INTENT), "200": context.build(project, big, INTENT)}


@pytest.mark.parametrize("size", ["9", "200"])
def test_the_pack_fits_6k_tokens_and_its_estimate_does_not_undercount(
        packs: dict[str, context.ContextPack], size: str) -> None:
    pack = packs[size]
    real = _tokens(pack.render_data() + "\n" + pack.intent)
    assert real <= GOAL_TOKENS, f"{size} hosts: {real} tokens"
    assert pack.tokens_estimate >= real, (pack.tokens_estimate, real)


def test_the_200_hosts_are_all_named_and_cost_little_more_than_the_reference(
        packs: dict[str, context.ContextPack]) -> None:
    small, big = (_tokens(packs[s].render_data()) for s in ("9", "200"))
    assert len(packs["200"].hosts) == 200 and big - small < 400, (small, big)
    block = _block(packs["200"], "inventory")
    assert "k3s-vm-gen-[001:" in json.dumps(block["groups"]["k3s"])


def _block(pack: context.ContextPack, name: str) -> Any:
    text = pack.render_data()
    start = text.index(f"<<<DATA {name}")
    body = text[start:text.index(f"<<<END DATA {name}>>>")].split("\n", 1)[1]
    return json.loads(body)


def test_every_playbook_and_every_variable_a_model_may_set_is_in_the_pack(
        packs: dict[str, context.ContextPack]) -> None:
    pack = packs["9"]
    sent = {e["id"]: e for e in _block(pack, "catalog")}
    assert sorted(sent) == sorted(e["id"] for e in pack.catalog) and len(sent) >= 17
    for entry in pack.catalog:
        fixed = set(fixed_of(entry))
        shown = sent[entry["id"]]
        assert set(shown.get("variables", {})) == set(entry["variables"]) - fixed, entry["id"]
        assert shown["risk"] == entry["risk"] and shown["purpose"], entry["id"]
        for name, line in shown.get("variables", {}).items():
            spec = entry["variables"][name]
            assert line.startswith(spec.get("type") or "str"), (name, line)
            assert ("required" in line) == bool(spec.get("required")), (name, line)
            assert all(str(c) in line for c in spec.get("choices") or []), (name, line)
        # The fields the prompt's rules name go to the model whenever they say something.
        assert shown.get("whole_inventory", False) == entry["whole_inventory"], entry["id"]
        assert shown.get("companions", []) == entry["companions"], entry["id"]


@pytest.mark.parametrize(("names", "folded"), [
    (["gen-001", "gen-002", "gen-003", "x", "gen-004"], ["gen-[001:003]", "x", "gen-004"]),
    (["a1", "a2"], ["a1", "a2"]),
    (["n-9", "n-10", "n-11"], ["n-9", "n-10", "n-11"]),  # widths differ: not one range as Ansible writes it
    (["v07b", "v08b", "v09b", "v10c"], ["v[07:09]b", "v10c"]),
    (["h[1]", "h[2]", "h[3]"], ["h[1]", "h[2]", "h[3]"]),
    (["vm-3", "vm-1", "vm-2"], ["vm-3", "vm-1", "vm-2"]),
])
def test_name_ranges_fold_only_consecutive_numbered_runs(names: list[str], folded: list[str]) -> None:
    assert context.name_ranges(names) == folded


def test_a_copy_is_said_as_like_its_model_with_what_differs() -> None:
    vm: dict[str, Any] = {"description": "a worker", "groups": ["k3s"], "documented": {"cores": 4}}
    entries: list[dict[str, Any]] = [{"name": "w1", "lan_ip": "10.0.0.1", **vm}, {"names": ["w-[01:20]"], **vm},
               {"name": "other", "description": "a worker", "groups": ["gpu"]}]
    assert context.like_earlier(entries) == [
        entries[0], {"names": ["w-[01:20]"], "like": "w1", "lan_ip": None},
        {"name": "other", "like": "w1", "documented": None, "groups": ["gpu"], "lan_ip": None}]
