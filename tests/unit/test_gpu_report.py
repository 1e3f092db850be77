"""check_gpus' judging (module_utils/gpu_report.py) on the captured H100 outputs, idle and busy, the ranking
of where a workload fits, the lab's planted GPU states, and the gpu_report module run by ansible here."""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from planner.errors import InventoryError
from planner.lab.hardware import DRIVER_FAILURE, GpuProfile, HardwareProfile, profile_from_hostvars
from planner.lab.scenario import host_scenario, load_planted
from tests.unit.test_host_facts import CAPTURES, COLLECTIONS, run_ansible_module, tool_wrapper
from tests.unit.test_lab_hardware import Host

sys.path.insert(0, str(COLLECTIONS))

from ansible_collections.homelab.ops.plugins.module_utils import gpu_report, host_facts  # noqa: E402

MEMINFO = "MemTotal:       65431142 kB\nMemFree:        52344913 kB\nMemAvailable:   58888027 kB\n"


def captured_host(name: str) -> dict:
    """host_facts' GPU findings from one captured H100 (``h100-80gb`` idle, ``h100-80gb-busy``)."""
    folder = CAPTURES / name
    raw = {"nvidia_smi": {"status": "ok", "query": (folder / "nvidia-smi-query-gpu.csv").read_text(),
                          "xml": (folder / "nvidia-smi-q.xml").read_text(),
                          "apps": (folder / "nvidia-smi-apps.csv").read_text()}}
    return host_facts.build_facts(raw)


def failing_host() -> dict:
    status = host_facts.nvidia_smi_status(9, DRIVER_FAILURE, "")
    return host_facts.build_facts({"nvidia_smi": {"status": status, "query": DRIVER_FAILURE}})


@pytest.fixture(scope="module")
def hosts() -> dict[str, dict]:
    """An idle H100 with 56 GiB of RAM free, a busy one with 12 GiB, no nvidia-smi, a driver that fails."""
    return {
        "idle": gpu_report.host_state(captured_host("h100-80gb"), 57507),
        "busy": gpu_report.host_state(captured_host("h100-80gb-busy"), 12288),
        "plain": gpu_report.host_state(host_facts.build_facts({"nvidia_smi": {"status": "absent"}}), 3481),
        "broken": gpu_report.host_state(failing_host(), 30000),
    }


def test_meminfo_available() -> None:
    assert gpu_report.meminfo_available_mib(MEMINFO) == 58888027 // 1024
    assert gpu_report.meminfo_available_mib("MemTotal: 1 kB\n") is None
    assert gpu_report.meminfo_available_mib(None) is None


def test_idle_capture(hosts: dict[str, dict]) -> None:
    idle = hosts["idle"]
    assert idle["status"] == gpu_report.OK and idle["nvidia_smi"] == "ok"
    (gpu,) = idle["gpus"]
    assert (gpu["model"], gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["memory_free_mib"]) == \
        ("NVIDIA H100 80GB HBM3", 81559, 0, 81079)
    assert (gpu["utilization_pct"], gpu["temperature_c"], gpu["processes"]) == (0, 36, [])
    assert idle["message"] == "GPU 0 NVIDIA H100 80GB HBM3: 79.2 GiB free of 79.6 GiB (0 MiB used), 0 % busy, 36 °C; " \
                              "no processes"


def test_busy_capture_names_the_process(hosts: dict[str, dict]) -> None:
    (gpu,) = hosts["busy"]["gpus"]
    assert (gpu["memory_used_mib"], gpu["memory_free_mib"], gpu["utilization_pct"], gpu["temperature_c"]) == \
        (20213, 60867, 100, 59)
    assert gpu["processes"] == [{"pid": 415, "name": "python3", "used_memory_mib": 20204}]
    assert hosts["busy"]["message"].endswith("100 % busy, 59 °C; python3 (pid 415) 19.7 GiB")


def test_no_nvidia_smi_and_a_failing_driver_are_told_apart(hosts: dict[str, dict]) -> None:
    assert hosts["plain"]["status"] == gpu_report.NO_GPU
    assert hosts["plain"]["message"] == "no NVIDIA GPU (no nvidia-smi)"
    broken = hosts["broken"]
    assert broken["status"] == gpu_report.DRIVER and broken["gpus"] == []
    assert broken["message"].startswith(
        "driver not answering: nvidia-smi says \"NVIDIA-SMI has failed because it couldn't communicate")
    assert "no NVIDIA GPU" not in broken["message"]
    # nvidia-smi that answers with no GPU listed: nothing to schedule on.
    empty = gpu_report.host_state({"nvidia_smi": "ok", "gpus": []}, None)
    assert empty["status"] == gpu_report.NO_GPU and "lists none" in empty["message"]


def test_nothing_asked_nothing_ranked(hosts: dict[str, dict]) -> None:
    found = gpu_report.report(hosts)
    assert found["fits"] is None and found["does_not_fit"] is None
    assert found["headline"] == "2 GPUs on 2 of 4 hosts; 1 without an NVIDIA GPU; 1 whose driver is not answering"
    assert found["no_gpu"] == ["plain"] and found["driver_not_answering"] == ["broken"]
    assert [line.split(":")[0] for line in found["summary"]] == ["broken", "busy", "idle", "plain"]


def test_ranked_by_free_gpu_memory_with_reasons(hosts: dict[str, dict]) -> None:
    found = gpu_report.report(hosts, need_gpu_mib=40960)
    assert [(c["host"], c["memory_free_mib"]) for c in found["fits"]] == [("idle", 81079), ("busy", 60867)]
    assert found["fits"][0]["reason"] == \
        "idle: NVIDIA H100 80GB HBM3, 79.2 GiB free ≥ 40.0 GiB needed; 56.2 GiB RAM available"
    misses = {m["host"]: m["reason"] for m in found["does_not_fit"]}
    assert misses == {"broken": "broken: driver not answering: nvidia-smi says \"" + DRIVER_FAILURE.strip() + "\"",
                      "plain": "plain: no NVIDIA GPU (no nvidia-smi)"}
    assert "fits on 2: best idle:" in found["headline"]


def test_a_gpu_too_full_says_what_holds_it(hosts: dict[str, dict]) -> None:
    found = gpu_report.report(hosts, need_gpu_mib=65536)
    assert [c["host"] for c in found["fits"]] == ["idle"]
    busy = next(m["reason"] for m in found["does_not_fit"] if m["host"] == "busy")
    assert busy == ("busy: NVIDIA H100 80GB HBM3 (GPU 0), 59.4 GiB free < 64.0 GiB needed; "
                    "held by python3 (pid 415) 19.7 GiB")


def test_host_memory_counts_too(hosts: dict[str, dict]) -> None:
    found = gpu_report.report(hosts, need_gpu_mib=40960, need_memory_mib=16384)
    assert [c["host"] for c in found["fits"]] == ["idle"]
    assert found["fits"][0]["reason"].endswith("56.2 GiB RAM available ≥ 16.0 GiB needed")
    busy = next(m["reason"] for m in found["does_not_fit"] if m["host"] == "busy")
    assert busy == "busy: 12.0 GiB RAM available < 16.0 GiB needed"
    # Without a GPU need, every host with the memory fits, most RAM first.
    ram_only = gpu_report.report(hosts, need_memory_mib=16384)
    assert [c["host"] for c in ram_only["fits"]] == ["idle", "broken"]
    assert "fits nowhere" in gpu_report.report(hosts, need_gpu_mib=90000)["headline"]


def test_unreachable_hosts_are_listed_not_guessed(hosts: dict[str, dict]) -> None:
    found = gpu_report.report(hosts, need_gpu_mib=1024, unreachable=["gone"])
    assert found["unreachable"] == ["gone"]
    assert {"host": "gone", "reason": "gone: did not answer"} in found["does_not_fit"]
    assert "gone: did not answer, so its GPUs are unknown" in found["summary"]


# --- the lab's planted GPU states ---------------------------------------------------------------------------------

RTX3090 = {"hardware": {"gpus": [{"model": "NVIDIA GeForce RTX 3090", "memory_gib": 24}]}}


def planted_profile(planted: dict, hostvars: dict = RTX3090) -> HardwareProfile:
    profile = profile_from_hostvars("pumped-piglet", hostvars)
    return host_scenario("pumped-piglet", ("proxmox",), hostvars, profile, planted)[1]


def test_reference_lab_plants_piglet_busy_and_no_failing_driver() -> None:
    planted = load_planted()
    assert planted["pumped-piglet"]["gpu_busy"] == [0]
    assert not [h for h, p in planted.items() if p.get("gpu_driver") == "not_answering"]
    assert "gpu_busy" not in planted.get("still-fawn", {})


def test_a_busy_replay_reads_like_the_busy_capture(tmp_path: Path) -> None:
    host = Host(planted_profile({"gpu_busy": [0]}), tmp_path)
    raw = {"status": "ok", "xml": host.smi("-q", "-x").stdout,
           "query": host.smi("--query-gpu=" + ",".join(host_facts.GPU_QUERY_FIELDS), "--format=csv").stdout,
           "apps": host.smi("--query-compute-apps=pid,process_name,used_memory,gpu_uuid", "--format=csv").stdout}
    state = gpu_report.host_state(host_facts.build_facts({"nvidia_smi": raw}), None)
    (gpu,) = state["gpus"]
    assert (gpu["model"], gpu["memory_total_mib"], gpu["memory_used_mib"], gpu["memory_free_mib"]) == \
        ("NVIDIA GeForce RTX 3090", 24576, 20213, 3883)
    assert gpu["processes"] == [{"pid": 415, "name": "python3", "used_memory_mib": 20204}]
    assert (gpu["utilization_pct"], gpu["temperature_c"]) == (100, 59)
    assert "|    0   N/A  N/A             415      C   python3" in host.smi().stdout
    assert "20213MiB /  24576MiB" in host.smi().stdout


def test_a_driver_planted_not_answering_fails_like_nvidia_smi(tmp_path: Path) -> None:
    host = Host(planted_profile({"gpu_driver": "not_answering"}), tmp_path)
    for args in ([], ["-L"], ["--query-gpu=name", "--format=csv"]):
        result = host.smi(*args)
        assert (result.returncode, result.stdout) == (9, DRIVER_FAILURE)


@pytest.mark.parametrize("planted, says", [
    ({"gpu_busy": [1]}, "names GPU 1"),
    ({"gpu_busy": "yes"}, "must be a list of GPU indexes"),
    ({"gpu_driver": "broken"}, "gpu_driver is 'broken'"),
])
def test_bad_plants_are_refused(planted: dict, says: str) -> None:
    with pytest.raises(InventoryError, match=says):
        planted_profile(planted)


def test_a_busy_capture_does_not_fit_a_small_card(tmp_path: Path) -> None:
    small = HardwareProfile("tiny", (GpuProfile("NVIDIA GeForce GTX 1650", 4096, busy=True),), ())
    with pytest.raises(InventoryError, match="cannot be planted busy"):
        Host(small, tmp_path)
    assert Host(replace(small, gpus=(GpuProfile("NVIDIA GeForce GTX 1650", 4096),)), tmp_path / "idle")


# --- the module, run by ansible against this machine ---------------------------------------------------------------

def test_module_reports_a_failing_driver_and_this_machines_memory(tmp_path: Path) -> None:
    tool_wrapper(tmp_path / "nvidia-smi", f"#!/bin/sh\nprintf '%s' \"{DRIVER_FAILURE}\"\nexit 9\n")
    result = run_ansible_module("homelab.ops.gpu_report", "--check",
                                env={"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"})
    found = result["ansible_facts"]["homelab_discovered"]
    assert set(found) == {"schema", "gpus", "nvidia_smi", "probe_errors"}
    assert found["gpus"] == [] and found["nvidia_smi"].startswith("error: NVIDIA-SMI has failed")
    state = result["ansible_facts"]["homelab_gpu_host"]
    assert state == result["gpu_host"] and state["status"] == "driver_not_answering"
    expected = gpu_report.meminfo_available_mib(Path("/proc/meminfo").read_text())
    assert abs(state["memory_available_mib"] - expected) < 512  # MemAvailable moves a little between reads
