"""What a person documents about the homelab, as strict models.

The inventory carries documented facts next to Ansible's own variables:
per host ``host_description``, ``lan_ip``, ``hypervisor`` and ``hardware``;
in ``group_vars/all`` the ``network_devices`` and ``services``. Everything else
in the inventory is Ansible's business and is left alone. Units are fixed
so later comparisons with discovered facts are exact: link speeds are
integers in Mbps, memory is GiB.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from planner.inventory.hosts import DISCOVERED_KEY

Mbps = Annotated[StrictInt, Field(gt=0, description="link speed in Mbps")]
Count = Annotated[StrictInt, Field(gt=0)]
# int or float, never a string or a boolean ("64" and yes are mistakes, not sizes).
GiB = Annotated[StrictInt | StrictFloat, Field(gt=0)]
# Written as plain strings in YAML; parsed (not type-checked) into addresses.
IPv4 = Annotated[IPv4Address, Field(strict=False)]

TIERS = ("k3s", "orchestrator", "manual")
#: What kind of machine it is, which decides which NIC fits it (the network assessment's
#: NIC_FOR_FORM_FACTOR; a unit test keeps the two in step).
FORM_FACTORS = ("desktop", "server", "sff", "mini-pc", "laptop")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class Gpu(_Strict):
    """A GPU as documented: the model string nvidia-smi reports, memory in GiB."""

    model: StrictStr
    memory_gib: GiB


class Nic(_Strict):
    """A network interface; ``speed_mbps`` omitted means unknown (a virtual NIC)."""

    name: StrictStr
    model: StrictStr
    driver: StrictStr | None = None
    supported_mbps: Mbps
    speed_mbps: Mbps | None = None
    switch: StrictStr | None = None


class Hardware(_Strict):
    """Documented hardware of one machine or VM."""

    cpu: StrictStr
    cores: Count
    threads: Count | None = None
    memory_gib: GiB
    form_factor: Literal["desktop", "server", "sff", "mini-pc", "laptop"] | None = None
    gpus: list[Gpu] = []
    nics: list[Nic] = []


class HostDoc(BaseModel):
    """The documented keys of a host; its other variables belong to Ansible."""

    model_config = ConfigDict(extra="allow", frozen=True)

    host_description: StrictStr | None = None
    lan_ip: IPv4 | None = None
    # How lan_ip is given: a static configuration on the host, or a DHCP lease
    # (reserved in MAAS). Drift and troubleshooting read it; None means not documented.
    addressing: Literal["static", "dhcp"] | None = None
    hypervisor: StrictStr | None = None
    hardware: Hardware | None = None


#: A host's keys that are not its documentation: the block ``homelab facts`` writes (planner.knowledge.facts).
#: HostDoc takes them as extra keys, whatever they hold, so readers of the documentation may leave them out.
NOT_DOCUMENTED = frozenset({DISCOVERED_KEY})


class NetworkDevice(_Strict):
    """A device that is documented but not managed over SSH (switch, router, AP)."""

    kind: Literal["switch", "router", "access_point", "firewall"]
    model: StrictStr
    lan_ip: IPv4 | None = None
    ports: Count | None = None
    port_speed_mbps: Mbps | None = None
    uplink: StrictStr | None = None
    managed_over_ssh: StrictBool = False
    notes: StrictStr | None = None


class Service(_Strict):
    """A service and the tier that runs it (see the decision framework)."""

    name: StrictStr
    tier: Literal["k3s", "orchestrator", "manual"]
    host: StrictStr = Field(description="a host or group name")
    port: Annotated[StrictInt, Field(ge=1, le=65535)] | None = None
    dns: StrictStr | None = None
    monitored: StrictBool = False
    notes: StrictStr | None = None
    # What a trial runs, as the deploy recorded it (planner/knowledge/services.py); promotion reads it back.
    health_path: StrictStr | None = None
    image: StrictStr | None = None
    package: StrictStr | None = None
    command: StrictStr | None = None
    runtime: StrictStr | None = None
    gpu_mib: Annotated[StrictInt, Field(ge=0)] | None = None
    memory_mib: Annotated[StrictInt, Field(ge=0)] | None = None
    #: Set on the items the tool wrote: the playbook that added it, the day and the plan. An item without
    #: ``added_by`` is a person's, and the tool never removes or overwrites it.
    added_by: StrictStr | None = None
    deployed: StrictStr | None = None
    plan: StrictStr | None = None


class SiteDoc(BaseModel):
    """The documented keys of ``group_vars/all``."""

    model_config = ConfigDict(extra="allow", frozen=True)

    lan_subnet: Annotated[IPv4Network, Field(strict=False)] | None = None
    lan_domain: StrictStr | None = None
    network_devices: dict[str, NetworkDevice] = {}
    services: list[Service] = []


_SPEED = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(g|gb|gbe|gbit|gbps|gig|m|mb|mbit|mbps|mbe)?\s*$", re.I)


def speed_hint(value: object) -> str | None:
    """For a speed written with a unit ('2.5GbE', '1000 Mbps'), the integer Mbps meant."""
    if not isinstance(value, str):
        return None
    match = _SPEED.match(value)
    if not match:
        return None
    number, unit = float(match.group(1)), (match.group(2) or "m").lower()
    mbps = number * 1000 if unit.startswith("g") else number
    return f"{int(mbps)}" if mbps == int(mbps) else None
