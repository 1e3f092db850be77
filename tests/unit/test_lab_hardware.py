"""Hardware profiles of the sandbox lab: rendered files, and the replay scripts run for real."""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from planner.errors import InventoryError
from planner.lab import hardware
from planner.lab.hardware import (
    GpuProfile,
    HardwareProfile,
    NicProfile,
    gpu_uuid,
    profile_from_hostvars,
    render_files,
    render_sys_class_net,
)

REPLAY = Path(hardware.__file__).parent / "replay"
CAPTURE = "h100-80gb-idle.nvidia-smi"
CAPTURED_UUID = "GPU-8ddc5723-e9d6-5338-9a89-90e28f156bb2"
# The captured output the packaged replay data was copied from (tests/fixtures/nvidia-smi/README.md).
CAPTURES = Path(__file__).resolve().parents[1] / "fixtures"
ALL_FIELDS = (
    "index,name,uuid,pci.bus_id,driver_version,memory.total,memory.used,memory.free,"
    "utilization.gpu,temperature.gpu,power.draw,power.limit,compute_cap"
)

H100 = GpuProfile(model="NVIDIA H100 80GB HBM3", memory_mib=81559)
STILL_FAWN = {
    "hardware": {
        "cpu": "AMD Ryzen 7 5800X", "cores": 8, "threads": 16, "memory_gib": 64,
        "gpus": [{"model": "NVIDIA GeForce RTX 3070", "memory_gib": 8}],
        "nics": [{"name": "enp5s0", "model": "Realtek RTL8111", "driver": "r8169",
                  "supported_mbps": 1000, "speed_mbps": 1000, "switch": "sw-core"}],
    }
}
PIGGLET_NICS = [
    {"name": "enp4s0", "model": "Intel I225-V", "driver": "igc", "supported_mbps": 2500, "speed_mbps": 1000},
    {"name": "ens18", "model": "virtio-net", "driver": "virtio_net", "supported_mbps": 10000},
]


def captured(suffix: str) -> str:
    return (REPLAY / f"{CAPTURE}{suffix}").read_text()


class Host:
    """A profile's files written under a temporary root, with its replays runnable."""

    def __init__(self, profile: HardwareProfile, root: Path):
        self.files = render_files(profile)
        self.root = root
        for path, (content, mode) in self.files.items():
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            target.chmod(mode)

    def run(self, tool: str, *args: str) -> subprocess.CompletedProcess[str]:
        script = self.root / tool.lstrip("/")
        # Run through the shebang when the bookworm-like /usr/bin/python3 is here, as the lab does.
        command = [str(script)] if os.access("/usr/bin/python3", os.X_OK) else [sys.executable, str(script)]
        env = dict(os.environ, HOMELAB_LAB_REPLAY_DIR=str(self.root / "usr/share/homelab-lab"))
        return subprocess.run([*command, *args], capture_output=True, text=True, env=env, timeout=10)

    def smi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("/usr/bin/nvidia-smi", *args)

    def ethtool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("/usr/sbin/ethtool", *args)


@pytest.fixture
def h100(tmp_path: Path) -> Host:
    return Host(HardwareProfile("gpu-box", (H100,), ()), tmp_path)


@pytest.fixture(scope="module")
def still_fawn(tmp_path_factory: pytest.TempPathFactory) -> Host:
    return Host(profile_from_hostvars("still-fawn", STILL_FAWN), tmp_path_factory.mktemp("still-fawn"))


@pytest.fixture(scope="module")
def piglet(tmp_path_factory: pytest.TempPathFactory) -> Host:
    profile = profile_from_hostvars("pumped-piglet", {"hardware": {"nics": PIGGLET_NICS}})
    return Host(profile, tmp_path_factory.mktemp("piglet"))


# --- the packaged captures -------------------------------------------------------------------


@pytest.mark.parametrize(("capture", "name"), [
    *(("h100-80gb", name) for name in ("nvidia-smi.txt", "nvidia-smi-L.txt", "nvidia-smi-q.xml",
                                       "nvidia-smi-query-gpu.csv", "nvidia-smi-apps.csv")),
    # The busy capture replays a GPU planted busy.
    *(("h100-80gb-busy", name) for name in ("nvidia-smi.txt", "nvidia-smi-q.xml", "nvidia-smi-query-gpu.csv",
                                            "nvidia-smi-apps.csv")),
])
def test_packaged_captures_are_the_captured_output_verbatim(capture: str, name: str) -> None:
    packaged = REPLAY / f"{'h100-80gb-idle' if capture == 'h100-80gb' else capture}.{name}"
    assert packaged.read_bytes() == (CAPTURES / "nvidia-smi" / capture / name).read_bytes()


@pytest.mark.parametrize("script", ["nvidia-smi", "ethtool"])
def test_replay_scripts_say_what_they_are(script: str) -> None:
    shebang, comment = (REPLAY / script).read_text().splitlines()[:2]
    assert shebang == "#!/usr/bin/python3"
    assert comment.startswith("# Replay of ") and "homelab sandbox lab" in comment


# --- nvidia-smi: the unadapted H100 reproduces the capture --------------------------------------


def test_h100_profile_reproduces_the_capture_but_the_uuid(h100: Host) -> None:
    uuid = gpu_uuid("gpu-box", 0)
    assert uuid != CAPTURED_UUID
    swap = lambda text: text.replace(CAPTURED_UUID, uuid)  # noqa: E731
    query = h100.smi(f"--query-gpu={ALL_FIELDS}", "--format=csv")
    assert (query.returncode, query.stdout) == (0, swap(captured("-query-gpu.csv")))
    assert h100.smi("-L").stdout == swap(captured("-L.txt"))
    assert h100.smi().stdout == captured(".txt")
    assert h100.smi("-q", "-x").stdout == swap(captured("-q.xml"))
    apps = h100.smi("--query-compute-apps=pid,process_name,used_memory", "--format=csv")
    assert (apps.returncode, apps.stdout) == (0, captured("-apps.csv"))


def test_gpu_uuid_is_stable_and_distinct() -> None:
    assert gpu_uuid("a", 0) == gpu_uuid("a", 0)
    assert len({gpu_uuid("a", 0), gpu_uuid("a", 1), gpu_uuid("b", 0)}) == 3
    assert gpu_uuid("a", 0).startswith("GPU-") and len(gpu_uuid("a", 0)) == len(CAPTURED_UUID)


# --- nvidia-smi: an adapted card -------------------------------------------------------------------


def test_rtx3070_profile_from_hostvars() -> None:
    profile = profile_from_hostvars("still-fawn", STILL_FAWN)
    assert profile.gpus == (GpuProfile("NVIDIA GeForce RTX 3070", 8192),)


def test_rtx3070_table_keeps_the_columns(still_fawn: Host) -> None:
    table = still_fawn.smi().stdout.split("\n")
    template = captured(".txt").split("\n")
    assert [len(line) for line in table] == [len(line) for line in template]
    assert "|   0  NVIDIA GeForce RTX 3070        On  |   00000000:00:06.0 Off |" in table[8]
    assert "|       0MiB /   8192MiB |" in table[9]


def test_rtx3070_in_list_and_queries(still_fawn: Host) -> None:
    uuid = gpu_uuid("still-fawn", 0)
    assert still_fawn.smi("-L").stdout == f"GPU 0: NVIDIA GeForce RTX 3070 (UUID: {uuid})\n"
    out = still_fawn.smi("--query-gpu=name,uuid,memory.total,memory.used,memory.free", "--format=csv")
    assert out.stdout.splitlines()[1] == f"NVIDIA GeForce RTX 3070, {uuid}, 8192 MiB, 0 MiB, 7712 MiB"


def test_rtx3070_in_xml(still_fawn: Host) -> None:
    result = still_fawn.smi("-q", "-x")
    assert result.returncode == 0
    log = ET.fromstring(result.stdout.split("\n", 2)[2])  # after the XML and DOCTYPE lines
    assert log.findtext("attached_gpus") == "1"
    (gpu,) = log.findall("gpu")
    assert gpu.findtext("product_name") == "NVIDIA GeForce RTX 3070"
    assert gpu.findtext("uuid") == gpu_uuid("still-fawn", 0)
    assert gpu.findtext("fb_memory_usage/total") == "8192 MiB"
    assert gpu.findtext("fb_memory_usage/free") == "7712 MiB"
    assert gpu.findtext("bar1_memory_usage/total") == "131072 MiB"  # the rest stays as captured
    assert gpu.findtext("product_architecture") == "Hopper"


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("csv", "name, memory.total [MiB], utilization.gpu [%]\nNVIDIA GeForce RTX 3070, 8192 MiB, 0 %\n"),
        ("csv,noheader", "NVIDIA GeForce RTX 3070, 8192 MiB, 0 %\n"),
        ("csv,nounits", "name, memory.total [MiB], utilization.gpu [%]\nNVIDIA GeForce RTX 3070, 8192, 0\n"),
        ("csv,noheader,nounits", "NVIDIA GeForce RTX 3070, 8192, 0\n"),
        ("nounits,noheader,csv", "NVIDIA GeForce RTX 3070, 8192, 0\n"),
    ],
)
def test_query_format_options(still_fawn: Host, fmt: str, expected: str) -> None:
    result = still_fawn.smi("--query-gpu=name,memory.total,utilization.gpu", f"--format={fmt}")
    assert (result.returncode, result.stdout) == (0, expected)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ("memory.total,index", "memory.total [MiB], index\n8192 MiB, 0\n"),
        ("power.draw,temperature.gpu", "power.draw [W], temperature.gpu\n114.80 W, 36\n"),
        ("compute_cap,driver_version,pci.bus_id",
         "compute_cap, driver_version, pci.bus_id\n9.0, 580.159.04, 00000000:00:06.0\n"),
        ("gpu_name,name", "name, name\nNVIDIA GeForce RTX 3070, NVIDIA GeForce RTX 3070\n"),
    ],
)
def test_query_field_subsets_and_order(still_fawn: Host, fields: str, expected: str) -> None:
    result = still_fawn.smi(f"--query-gpu={fields}", "--format=csv")
    assert (result.returncode, result.stdout) == (0, expected)


@pytest.mark.parametrize("option", ["--query-gpu=name,xyz", "--query-compute-apps=pid,xyz"])
def test_unknown_field_is_refused_like_nvidia_smi(still_fawn: Host, option: str) -> None:
    result = still_fawn.smi(option, "--format=csv")
    assert result.returncode == 2
    assert result.stdout == 'Field "xyz" is not a valid field to query.\n\n'


def test_compute_apps_when_idle_is_a_header(still_fawn: Host) -> None:
    result = still_fawn.smi("--query-compute-apps=pid,process_name,used_memory,gpu_uuid", "--format=csv")
    assert result.stdout == "pid, process_name, used_gpu_memory [MiB], gpu_uuid\n"
    assert still_fawn.smi("--query-compute-apps=pid", "--format=csv,noheader").stdout == ""


@pytest.mark.parametrize("args", [["-q"], ["--version"], ["-L", "-q"], ["--query-gpu=name"]])
def test_what_was_not_captured_says_so(still_fawn: Host, args: list[str]) -> None:
    result = still_fawn.smi(*args)
    assert result.returncode == 2
    assert result.stdout == "" and "not captured in this replay" in result.stderr


def test_two_gpus(tmp_path: Path) -> None:
    gpus = (GpuProfile("NVIDIA GeForce RTX 3090", 24576), GpuProfile("NVIDIA RTX 6000 Ada Generation", 49152))
    host = Host(HardwareProfile("duo", gpus, ()), tmp_path)
    rows = host.smi("--query-gpu=index,name,pci.bus_id,memory.total", "--format=csv,noheader,nounits").stdout
    assert rows == ("0, NVIDIA GeForce RTX 3090, 00000000:00:06.0, 24576\n"
                    "1, NVIDIA RTX 6000 Ada Generation, 00000000:00:07.0, 49152\n")
    assert host.smi("-L").stdout.splitlines()[1].startswith("GPU 1: NVIDIA RTX 6000 Ada Generation (UUID: GPU-")
    log = ET.fromstring(host.smi("-q", "-x").stdout.split("\n", 2)[2])
    assert log.findtext("attached_gpus") == "2"
    assert [g.findtext("minor_number") for g in log.findall("gpu")] == ["0", "1"]
    assert [g.get("id") for g in log.findall("gpu")] == ["00000000:00:06.0", "00000000:00:07.0"]
    table = host.smi().stdout
    assert "|   1  NVIDIA RTX 6000 Ada Gene...    On  |   00000000:00:07.0 Off |" in table  # cut as nvidia-smi does
    assert table.count("+-----------------------------------------+------------------------+") == 3


def test_no_gpu_means_no_nvidia_smi() -> None:
    files = render_files(profile_from_hostvars("maas", {"hardware": {"gpus": [], "nics": PIGGLET_NICS[1:]}}))
    assert not [path for path in files if "nvidia" in path]
    assert render_files(profile_from_hostvars("bare", {})) == {}


# --- ethtool ---------------------------------------------------------------------------------------


def test_ethtool_2500_nic_linked_at_1000(piglet: Host) -> None:
    result = piglet.ethtool("enp4s0")
    assert result.returncode == 0
    out = result.stdout
    assert out.startswith("Settings for enp4s0:\n\tSupported ports: [ TP ]\n")
    assert (
        "\tSupported link modes:   10baseT/Half 10baseT/Full\n"
        "\t                        100baseT/Half 100baseT/Full\n"
        "\t                        1000baseT/Full\n"
        "\t                        2500baseT/Full\n"
    ) in out
    assert "\tAdvertised link modes:  10baseT/Half 10baseT/Full\n" in out
    assert "\tLink partner advertised link modes:  10baseT/Half 10baseT/Full\n" in out
    for line in ("Speed: 1000Mb/s", "Duplex: Full", "Port: Twisted Pair", "Auto-negotiation: on"):
        assert f"\t{line}\n" in out
    assert out.endswith("\tLink detected: yes\n")


def test_ethtool_10g_modes_follow_kernel_bit_order(tmp_path: Path) -> None:
    nic = {"name": "enp1s0", "model": "AQC107", "driver": "atlantic", "supported_mbps": 10000, "speed_mbps": 10000}
    host = Host(profile_from_hostvars("fast", {"hardware": {"nics": [nic]}}), tmp_path)
    assert "1000baseT/Full\n\t" + " " * 24 + "10000baseT/Full\n\t" + " " * 24 + "2500baseT/Full\n" in host.ethtool(
        "enp1s0").stdout


def test_ethtool_unknown_speed(piglet: Host) -> None:
    out = piglet.ethtool("ens18").stdout
    assert "\tSpeed: Unknown!\n\tDuplex: Unknown! (255)\n" in out
    assert "\tSupported link modes:   Not reported\n" in out  # virtio reports no modes
    assert out.endswith("\tLink detected: yes\n")


def test_ethtool_link_down(tmp_path: Path) -> None:
    nic = NicProfile("enp2s0", "Intel I226-V", "igc", "02:00:00:00:00:01", (10, 100, 1000, 2500), 2500, "full", False)
    out = Host(HardwareProfile("down", (), (nic,)), tmp_path).ethtool("enp2s0").stdout
    assert "\tSpeed: Unknown!\n" in out and "Link partner" not in out
    assert out.endswith("\tLink detected: no\n")


@pytest.mark.parametrize(("iface", "driver", "bus"), [("enp4s0", "igc", "0000:04:00.0"),
                                                       ("ens18", "virtio_net", "0000:00:12.0")])
def test_ethtool_driver_info(piglet: Host, iface: str, driver: str, bus: str) -> None:
    for option in ("-i", "--driver"):
        result = piglet.ethtool(option, iface)
        assert result.returncode == 0
        assert result.stdout.startswith(f"driver: {driver}\nversion: ")
        assert f"\nbus-info: {bus}\n" in result.stdout


def test_ethtool_unknown_interface(piglet: Host) -> None:
    result = piglet.ethtool("eth7")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == "netlink error: no device matches name (offset 24)\nnetlink error: No such device\n"
    driver = piglet.ethtool("-i", "eth7")
    assert (driver.returncode, driver.stderr) == (71, "Cannot get driver information: No such device\n")


def test_ethtool_lo_and_unreplayed_options(piglet: Host) -> None:
    assert piglet.ethtool("lo").stdout == "Settings for lo:\n\tLink detected: yes\n"
    assert piglet.ethtool("--version").stdout == "ethtool version 6.1\n"
    result = piglet.ethtool("-k", "enp4s0")
    assert result.returncode == 2 and "not captured in this replay" in result.stderr


def test_ethtool_statistics_are_the_profiles_counters(piglet: Host) -> None:
    for option in ("-S", "--statistics"):
        result = piglet.ethtool(option, "enp4s0")
        assert result.returncode == 0
        assert result.stdout.startswith("NIC statistics:\n     rx_packets: 0\n")
        assert "     rx_errors: 0\n" in result.stdout and "     tx_dropped: 0\n" in result.stdout
    lo = piglet.ethtool("-S", "lo")
    assert (lo.returncode, lo.stderr) == (94, "no stats available\n")
    assert piglet.ethtool("-S", "eth7").returncode == 71


def test_no_nic_means_no_ethtool() -> None:
    assert not [p for p in render_files(HardwareProfile("x", (H100,), ())) if "ethtool" in p]


# --- /sys/class/net ---------------------------------------------------------------------------------


def test_sys_class_net(tmp_path: Path) -> None:
    profile = profile_from_hostvars("pumped-piglet", {"hardware": {"nics": PIGGLET_NICS}})
    render_sys_class_net(profile, tmp_path)
    read = lambda path: (tmp_path / path).read_text()  # noqa: E731
    assert sorted(p.name for p in tmp_path.iterdir()) == ["enp4s0", "ens18", "lo"]
    assert [read(f"enp4s0/{f}") for f in ("speed", "duplex", "operstate", "carrier", "mtu")] == [
        "1000\n", "full\n", "up\n", "1\n", "1500\n"]
    assert [read(f"ens18/{f}") for f in ("speed", "duplex", "operstate")] == ["-1\n", "unknown\n", "up\n"]
    assert read("enp4s0/address") == profile.nics[0].mac + "\n"
    # What Ansible's facts read: readlink(device) for the pciid, the driver link's basename.
    assert os.path.basename(os.readlink(tmp_path / "enp4s0/device")) == "0000:04:00.0"
    assert os.path.basename(os.readlink(tmp_path / "ens18/device")) == "virtio1"
    assert os.path.basename(os.readlink(tmp_path / "enp4s0/device/driver")) == "igc"
    assert os.path.basename(os.path.realpath(tmp_path / "ens18/device/driver")) == "virtio_net"
    assert sorted(os.path.basename(p) for p in glob.glob(f"{tmp_path}/enp4s0/*")) == [
        "address", "carrier", "device", "duplex", "flags", "mtu", "operstate", "speed", "statistics", "type"]
    assert {read(f"enp4s0/statistics/{c}") for c in ("rx_errors", "tx_errors", "rx_dropped", "tx_dropped")} == {"0\n"}
    assert [read(f"lo/{f}") for f in ("address", "operstate", "mtu")] == ["00:00:00:00:00:00\n", "unknown\n", "65536\n"]
    assert not (tmp_path / "lo/speed").exists()
    render_sys_class_net(profile, tmp_path)  # rendering again over the same tree works


def test_sys_class_net_link_down(tmp_path: Path) -> None:
    nic = NicProfile("enp2s0", "Intel I226-V", "igc", "02:00:00:00:00:01", (10, 100, 1000, 2500), 2500, "full", False)
    render_sys_class_net(HardwareProfile("down", (), (nic,)), tmp_path)
    assert [(tmp_path / "enp2s0" / f).read_text() for f in ("speed", "duplex", "operstate", "carrier")] == [
        "-1\n", "unknown\n", "down\n", "0\n"]


# --- reading the inventory ---------------------------------------------------------------------------


def test_nic_from_hostvars() -> None:
    (nic,) = profile_from_hostvars("still-fawn", STILL_FAWN).nics
    assert (nic.name, nic.driver, nic.supported_mbps, nic.speed_mbps, nic.duplex, nic.link) == (
        "enp5s0", "r8169", (10, 100, 1000), 1000, "full", True)
    assert nic.mac == profile_from_hostvars("still-fawn", STILL_FAWN).nics[0].mac
    first = int(nic.mac.split(":")[0], 16)
    assert first & 0b10 and not first & 0b1  # locally administered, unicast
    other = profile_from_hostvars("pumped-piglet", {"hardware": {"nics": [dict(STILL_FAWN["hardware"]["nics"][0])]}})
    assert other.nics[0].mac != nic.mac


@pytest.mark.parametrize(
    "hardware",
    [
        "a string",
        {"gpus": {"model": "x"}},
        {"gpus": [{"model": "NVIDIA GeForce RTX 3070"}]},
        {"gpus": [{"model": "", "memory_gib": 8}]},
        {"nics": [{"name": "enp5s0", "driver": "r8169", "supported_mbps": True}]},
        {"nics": [{"name": "enp5s0", "driver": "r8169", "supported_mbps": 1000, "speed_mbps": 2500}]},
        {"nics": [{"name": "enp5s0", "driver": "r8169", "supported_mbps": 5}]},
        {"nics": [{"name": "e0", "driver": "d", "supported_mbps": 1000},
                  {"name": "e0", "driver": "d", "supported_mbps": 1000}]},
    ],
)
def test_bad_hardware_is_an_inventory_error(hardware: object) -> None:
    with pytest.raises(InventoryError, match="host h:"):
        profile_from_hostvars("h", {"hardware": hardware})
