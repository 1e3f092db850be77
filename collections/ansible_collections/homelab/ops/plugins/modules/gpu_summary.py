#!/usr/bin/python
# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)

# The work is done by the action plugin of the same name, on the controller; this file carries its
# documentation (as ansible.builtin.debug's does).

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gpu_summary
short_description: Sum up every host's GPUs and rank where a workload fits
description:
  - Runs on the controller (an action plugin) and reads the fact C(homelab_gpu_host) that
    M(homelab.ops.gpu_report) left on each host of the play; run it once (C(run_once)).
  - Lists each host's GPUs (model, memory total, used and free, utilisation, temperature, processes), the hosts
    with no NVIDIA GPU, those whose driver is not answering, and the hosts that did not answer.
  - With O(min_free_mib) or O(min_memory_mib) above 0, says where a workload needing that much fits, ranked
    with the most free GPU memory first, each with its reason, and why each other host does not fit.
  - Changes nothing, anywhere; runs unchanged under C(--check).
options:
  min_free_mib:
    description: GPU memory the workload needs free on one GPU, in MiB; 0 means it needs no GPU.
    type: int
    default: 0
  min_memory_mib:
    description: Host memory (MemAvailable) the workload needs, in MiB; 0 means no requirement.
    type: int
    default: 0
extends_documentation_fragment:
  - homelab.ops.read_only
author:
  - homelab-planner maintainers (@homelab-planner)
"""

EXAMPLES = r"""
- name: Where does a workload needing 6 GiB of GPU memory and 16 GiB of RAM fit?
  homelab.ops.gpu_summary:
    min_free_mib: 6144
    min_memory_mib: 16384
  run_once: true
"""

RETURN = r"""
gpus:
  description:
    - C(headline) and C(summary) (one line per host) in words; C(hosts) maps each host to its state
      (C(status) C(ok), C(no_gpu) or C(driver_not_answering), C(message), C(gpus), C(memory_available_mib));
      C(no_gpu), C(driver_not_answering) and C(unreachable) list hosts; C(need) repeats what was asked.
    - C(fits) lists candidates (host, GPU index, model, free GPU memory, RAM available, reason), best first;
      C(does_not_fit) lists each other host with its reason. Both are null when nothing was asked.
  returned: always
  type: dict
"""
