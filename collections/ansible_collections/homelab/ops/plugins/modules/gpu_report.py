#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_report
short_description: Read a host's NVIDIA GPUs and free memory, changing nothing
description:
  - Asks C(nvidia-smi) what discovery asks (C(--query-gpu), C(-q -x), C(--query-compute-apps)) and reads
    C(MemAvailable) from C(/proc/meminfo).
  - Returns the GPUs as the fact C(homelab_discovered) (its C(gpus), C(nvidia_smi) and C(probe_errors) entries,
    shaped as M(homelab.ops.host_facts) returns them), so a read playbook can refresh the inventory's
    discovered GPUs, and the host's state, in words too, as the fact C(homelab_gpu_host), which
    M(homelab.ops.gpu_summary) reads on the controller.
  - No C(nvidia-smi) means no NVIDIA GPU. An C(nvidia-smi) that fails (for example "couldn't communicate with
    the NVIDIA driver") means the driver is not answering, never "no GPU".
  - Read-only; runs unchanged under C(--check) and always reports C(changed=false).
options:
  probe_timeout:
    description: Seconds each C(nvidia-smi) run may take before it is stopped (a wedged driver can hang it).
    type: int
    default: 10
extends_documentation_fragment:
  - homelab.ops.read_only
attributes:
  facts:
    description: Returns C(homelab_discovered) in C(ansible_facts).
    support: full
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Read each host's GPUs and free memory
  homelab.ops.gpu_report:
  register: gpus

- name: Say what was found
  ansible.builtin.debug:
    msg: "{{ ansible_facts['homelab_gpu_host']['message'] }}"
"""

RETURN = r"""
ansible_facts:
  description:
    - C(homelab_discovered) with C(schema), C(gpus), C(nvidia_smi) and C(probe_errors) only.
    - C(homelab_gpu_host), the host's state (below).
  returned: always
  type: dict
gpu_host:
  description:
    - The host's state. C(status) is C(ok), C(no_gpu) or C(driver_not_answering); C(message) says it in words;
      C(gpus) lists model, memory total/used/free (MiB), utilisation (%), temperature (C) and processes;
      C(memory_available_mib) is MemAvailable in MiB, null where unknown.
  returned: always
  type: dict
  sample:
    status: ok
    message: "GPU 0 NVIDIA GeForce RTX 3070: 7.5 GiB free of 8.0 GiB (0 MiB used), 0 % busy, 36 °C; no processes"
    nvidia_smi: ok
    memory_available_mib: 57507
    gpus:
      - {index: 0, model: NVIDIA GeForce RTX 3070, memory_total_mib: 8192, memory_used_mib: 0,
         memory_free_mib: 7712, utilization_pct: 0, temperature_c: 36, processes: []}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.homelab.ops.plugins.module_utils.gpu_report import host_state, meminfo_available_mib
from ansible_collections.homelab.ops.plugins.module_utils.host_facts import build_facts, cap_facts, probe_error
from ansible_collections.homelab.ops.plugins.module_utils.probes import Probes, gather_gpus, read_text

#: The entries of host_facts' result this module fills; the rest belong to full discovery.
_KEYS = ("schema", "gpus", "nvidia_smi", "probe_errors")


def main():
    module = AnsibleModule(argument_spec={"probe_timeout": {"type": "int", "default": 10}}, supports_check_mode=True)
    timeout = module.params["probe_timeout"]
    if timeout < 1:
        module.fail_json(msg="probe_timeout must be at least 1 second, got %d" % timeout)
    probes = Probes(module, timeout)
    raw = {}
    gather_gpus(probes, raw)
    try:
        available = meminfo_available_mib(read_text("/proc/meminfo", 16384))
    except OSError as exc:
        probes.errors.append(probe_error("meminfo", "/proc/meminfo: %s" % (exc.strerror or exc)))
        available = None
    raw["errors"] = probes.errors
    facts = cap_facts(build_facts(raw))
    found = {key: facts[key] for key in _KEYS}
    state = host_state(found, available)
    module.exit_json(changed=False, ansible_facts={"homelab_discovered": found, "homelab_gpu_host": state},
                     gpu_host=state, msg=state["message"])


if __name__ == "__main__":
    main()
