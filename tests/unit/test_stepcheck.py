"""Step validation: variables coerced as Ansible would, unknown keys and Jinja refused, limits resolved."""

from __future__ import annotations

import pytest

from planner.catalog.entries import load_catalog
from planner.catalog.taskscan import check_mode_violations
from planner.plans.stepcheck import (
    PlanValidationError,
    check_vars,
    parse_extra_vars,
    resolve_hosts,
)
from tests.conftest import ROOT


@pytest.fixture(scope="module")
def entry():
    return load_catalog(ROOT).get("gather_facts")


def test_types_are_coerced_the_ansible_way(entry) -> None:
    got = check_vars(entry, parse_extra_vars(["discovery_gather_timeout=5", "discovery_gather_subset=min,hardware"]))
    assert got == {"discovery_gather_timeout": 5, "discovery_gather_subset": ["min", "hardware"]}


def test_json_lists_are_accepted(entry) -> None:
    got = check_vars(entry, parse_extra_vars(['discovery_gather_subset=["min", "network"]']))
    assert got == {"discovery_gather_subset": ["min", "network"]}


@pytest.mark.parametrize(("given", "expected"), [
    ({"discovery_gather_timout": "3"}, "did you mean 'discovery_gather_timeout'?"),
    ({"discovery_gather_timeout": "abc"}, "unable to convert to int"),
    ({"discovery_gather_subset": "{{ lookup('pipe', 'id') }}"}, "Jinja is not allowed"),
    ({"discovery_gather_subset": ["min", "{% raw %}"]}, "Jinja is not allowed"),
])
def test_bad_variables_are_refused(entry, given, expected) -> None:
    with pytest.raises(PlanValidationError) as info:
        check_vars(entry, given)
    assert expected in "\n".join(info.value.details)


def test_bad_extra_var_syntax() -> None:
    with pytest.raises(PlanValidationError):
        parse_extra_vars(["novalue"])
    with pytest.raises(PlanValidationError):
        parse_extra_vars(["x=[1, 2"])


def test_limits_resolve_like_ansible() -> None:
    inv = ROOT / "inventory"
    assert resolve_hosts(inv, "~k3s-[^:]+") == ("k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse")
    assert resolve_hosts(inv, "k3s[0:1]") == ("k3s-vm-still-fawn", "k3s-vm-pumped-piglet")
    assert resolve_hosts(inv, "k3s") == ("k3s-vm-still-fawn", "k3s-vm-pumped-piglet", "k3s-vm-chief-horse")
    assert set(resolve_hosts(inv, "proxmox:!still-fawn")) == {"pumped-piglet", "chief-horse", "fun-bedbug"}
    assert resolve_hosts(inv, "k3s-vm-still-fawn") == ("k3s-vm-still-fawn",)


def test_a_limit_that_matches_nothing_names_the_closest() -> None:
    with pytest.raises(PlanValidationError) as info:
        resolve_hosts(ROOT / "inventory", "k3ss")
    assert "matches no host" in info.value.message
    assert "k3s" in (info.value.hint or "")


@pytest.mark.parametrize(("pattern", "expected"), [
    ("", "the limit is empty"),
    ("  ", "the limit is empty"),
    ("~[", "has unbalanced brackets"),       # Ansible alone would select every host
    ("all:!~(", "is not a valid regular expression"),
    ("k3s:&[", "has unbalanced brackets"),  # an IndexError inside Ansible's parser
    (" ~[", "has unbalanced brackets"),     # Ansible drops the stray bracket: '~' alone matches every host
    ("maas:~]", "has unbalanced brackets"),
    ("~", "nothing after '~'"),
    ("k3s[5]", "is not a host pattern Ansible can read: No hosts matched the subscripted pattern"),
    ("localhost", "which is this machine"),  # Ansible's implicit localhost, not an inventory host
    ("maas,127.0.0.1", "which is this machine"),
])
def test_a_limit_ansible_cannot_read_is_refused_not_widened(pattern: str, expected: str) -> None:
    with pytest.raises(PlanValidationError) as info:
        resolve_hosts(ROOT / "inventory", pattern)
    assert expected in info.value.message
    assert info.value.hint


def test_an_inventory_ansible_cannot_parse_is_a_validation_error(tmp_path) -> None:
    (tmp_path / "hosts.yml").write_text("all:\n  hosts:\n    a: [\n")
    with pytest.raises(PlanValidationError) as info:
        resolve_hosts(tmp_path, "all")
    assert "cannot read the inventory" in info.value.message
    assert "homelab inventory validate" in info.value.hint


def test_jinja_in_an_extra_var_is_named_as_jinja_not_as_broken_json(entry) -> None:
    given = parse_extra_vars(["discovery_gather_subset={% if 1 %}min{% endif %}", "empty="])
    assert given == {"discovery_gather_subset": "{% if 1 %}min{% endif %}", "empty": ""}
    with pytest.raises(PlanValidationError) as info:
        check_vars(entry, {"discovery_gather_subset": given["discovery_gather_subset"]})
    assert "Jinja is not allowed" in "\n".join(info.value.details)


def test_jinja_encoded_inside_a_json_string_is_caught_after_decoding() -> None:
    baseline = load_catalog(ROOT).get("apply_baseline")
    encoded = '{"vm.swappiness": "\\u007b\\u007b lookup(\'pipe\', \'id\') \\u007d\\u007d"}'
    assert "{{" not in encoded
    with pytest.raises(PlanValidationError) as info:
        check_vars(baseline, {"baseline_sysctls": encoded})
    assert "Jinja is not allowed" in "\n".join(info.value.details)
    assert check_vars(baseline, {"baseline_sysctls": '{"vm.swappiness": "10"}'}) == {
        "baseline_sysctls": {"vm.swappiness": "10"}}


def test_read_playbook_may_run_read_only_commands_for_real() -> None:
    assert check_mode_violations(ROOT, ROOT / "playbooks" / "gather_facts.yml", "read") == []


def test_change_playbook_may_not_run_anything_for_real_in_check_mode(tmp_path) -> None:
    (tmp_path / "roles" / "probe" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "probe" / "tasks" / "main.yml").write_text(
        "- name: Ask the host\n  ansible.builtin.command: uptime\n  changed_when: false\n  check_mode: false\n")
    (tmp_path / "playbooks").mkdir()
    playbook = tmp_path / "playbooks" / "probe.yml"
    playbook.write_text("- name: Probe\n  hosts: all\n  roles:\n    - probe\n")
    assert check_mode_violations(tmp_path, playbook, "read") == []
    problems = check_mode_violations(tmp_path, playbook, "change")
    assert problems and "check_mode: false" in problems[0] and "roles/probe/tasks/main.yml:" in problems[0]


def test_every_catalog_playbook_is_safe_in_check_mode() -> None:
    for entry in load_catalog(ROOT).entries.values():
        assert check_mode_violations(ROOT, entry.playbook, entry.meta.risk) == [], entry.id


def test_the_rest_of_ansibles_argument_spec_is_honoured() -> None:
    from planner.catalog.entries import CatalogEntry, CatalogMeta

    meta = CatalogMeta.model_validate({
        "description": "A playbook with aliases and constraints between its variables.",
        "examples": ["resize things"], "risk": "read",
        "argument_specs": {"resize": {
            "short_description": "Resize.",
            "mutually_exclusive": [["size_gib", "size_percent"]],
            "options": {
                "size_gib": {"description": "Size.", "type": "int", "aliases": ["gib"]},
                "size_percent": {"description": "Share.", "type": "int"},
            },
        }},
    })
    entry = CatalogEntry("resize", ROOT / "x.yml", ROOT / "x.meta.yml", meta, "resize")
    assert check_vars(entry, {"gib": "5"}) == {"size_gib": 5}
    with pytest.raises(PlanValidationError) as info:
        check_vars(entry, {"size_gib": 5, "size_percent": 10})
    assert "mutually exclusive" in "\n".join(info.value.details)


def test_a_path_variable_is_not_expanded_from_this_machines_environment(entry, monkeypatch) -> None:
    import dataclasses

    from planner.catalog.entries import OptionSpec

    monkeypatch.setenv("FAKE_API_KEY", "sk-canary")
    spec = entry.meta.argument_specs[entry.spec_name]
    options = {**spec.options, "report_dir": OptionSpec(type="path", description="where to write"),
               "extra_dirs": OptionSpec(type="list", elements="path", description="more places"),
               "target": OptionSpec(type="dict", description="where", options={
                   "dir": OptionSpec(type="path", description="a directory")})}
    meta = entry.meta.model_copy(update={"argument_specs": {
        entry.spec_name: spec.model_copy(update={"options": options})}})
    with_path = dataclasses.replace(entry, meta=meta)
    assert check_vars(with_path, {"report_dir": "/srv/reports"}) == {"report_dir": "/srv/reports"}
    for given in ({"report_dir": "/x/${FAKE_API_KEY}"}, {"report_dir": "$FAKE_API_KEY/x"},
                  {"report_dir": "~/reports"}, {"extra_dirs": ["/ok", "$FAKE_API_KEY"]},
                  {"target": {"dir": "/x/$FAKE_API_KEY"}}, {"target": '{"dir": "$FAKE_API_KEY"}'}):
        with pytest.raises(PlanValidationError) as info:
            check_vars(with_path, given)
        text = "\n".join(info.value.details)
        assert "would expand on this machine" in text and "sk-canary" not in text


def test_a_module_without_check_mode_is_known_from_its_documentation(tmp_path) -> None:
    """ansible-runner's skipped events carry no result; the review still says check mode skipped uri."""
    from planner.catalog.taskscan import scan_playbook
    from planner.plans.review import ReviewCollector

    (tmp_path / "roles" / "r" / "tasks").mkdir(parents=True)
    (tmp_path / "roles" / "r" / "tasks" / "other.yml").write_text(
        "- name: Ask\n  ansible.builtin.uri:\n    url: http://127.0.0.1/\n"
        "- name: Write\n  ansible.builtin.copy:\n    content: x\n    dest: /tmp/x\n"
        "- name: More\n  ansible.builtin.include_tasks: more.yml\n")
    book = tmp_path / "p.yml"
    book.write_text("- hosts: all\n  tasks:\n    - name: R\n      ansible.builtin.import_role:\n"
                    "        name: r\n        tasks_from: other\n")
    tasks = scan_playbook(tmp_path, book)
    # include_tasks' documentation says check mode "none", but what it includes runs under --check.
    assert [(t.name, t.skipped_by_check) for t in tasks] == [("R", False), ("Ask", True), ("Write", False),
                                                             ("More", False)]
    review = ReviewCollector(1, "p", True, tasks)
    for task in tasks[1:3]:
        review.handle({"event": "runner_on_skipped", "event_data": {"host": "h", "task": task.name,
                                                                    "task_path": task.path}})
    assert [(r.status, r.unknown_reason) for r in review.results] == [
        ("unknown", "skipped by check mode: ansible.builtin.uri does not support check mode (it runs at apply)"),
        ("skipped", None)]
