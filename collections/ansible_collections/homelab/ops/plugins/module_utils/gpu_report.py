# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""What check_gpus finds and judges: each host's GPUs, and where a workload fits.

Plain functions over plain data (the GPUs homelab.ops.host_facts' parsers
return, MemAvailable from /proc/meminfo), so the unit tests call them
directly. ``host_state`` runs on each managed host (homelab.ops.gpu_report,
Python 3.9 syntax, standard library only); ``report`` runs once on the
controller (the gpu_summary action plugin) over every host's state.

A host is in one of three states, never confused: it has no nvidia-smi (no
NVIDIA GPU), nvidia-smi answers (its GPUs), or nvidia-smi is there but fails
(the driver is not answering: a GPU may well be there, so it is never
reported as "no GPU").
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional

OK = "ok"
NO_GPU = "no_gpu"
DRIVER = "driver_not_answering"
_MEMINFO_LINE = re.compile(r"^MemAvailable:\s+(\d+)\s*kB\s*$", re.M)


def meminfo_available_mib(text: Optional[str]) -> Optional[int]:
    """MemAvailable from /proc/meminfo in MiB (the kernel's estimate of what a new workload can use), or None."""
    m = _MEMINFO_LINE.search(text or "")
    return int(m.group(1)) // 1024 if m else None


def gib(mib: Optional[int]) -> str:
    """MiB as people read them: "7.5 GiB"; "unknown" for None."""
    return "unknown" if mib is None else "%.1f GiB" % (mib / 1024.0)


def _gpu(gpu: Dict[str, Any]) -> Dict[str, Any]:
    keys = ("index", "model", "uuid", "memory_total_mib", "memory_used_mib", "memory_free_mib", "utilization_pct",
            "temperature_c", "mig_mode")
    out = {key: gpu.get(key) for key in keys}
    out["processes"] = [{"pid": p.get("pid"), "name": p.get("name"), "used_memory_mib": p.get("used_memory_mib")}
                        for p in gpu.get("processes") or []]
    return out


def host_state(found: Dict[str, Any], memory_available_mib: Optional[int]) -> Dict[str, Any]:
    """One host's finding from its ``homelab_discovered`` GPUs (``nvidia_smi``, ``gpus``) and its free RAM.

    ``status`` is OK, NO_GPU or DRIVER; ``message`` says it in words. nvidia-smi that answers but
    lists no GPU counts as no NVIDIA GPU, since nothing can be scheduled on it.
    """
    smi = found.get("nvidia_smi") or "absent"
    gpus = [_gpu(g) for g in found.get("gpus") or []]
    state = {"status": OK, "nvidia_smi": smi, "gpus": gpus, "memory_available_mib": memory_available_mib}
    if smi == "absent":
        state.update(status=NO_GPU, message="no NVIDIA GPU (no nvidia-smi)")
    elif smi != "ok":
        said = smi[len("error: "):] if smi.startswith("error: ") else smi
        state.update(status=DRIVER, message="driver not answering: nvidia-smi says \"%s\"" % said)
    elif not gpus:
        state.update(status=NO_GPU, message="no NVIDIA GPU (nvidia-smi lists none)")
    else:
        state["message"] = "; ".join(gpu_line(g) for g in gpus)
    return state


def _processes(gpu: Dict[str, Any]) -> str:
    procs = gpu.get("processes") or []
    if not procs:
        return "no processes"
    return ", ".join("%s (pid %s) %s" % (p.get("name") or "?", p.get("pid"), gib(p.get("used_memory_mib")))
                     for p in procs)


def gpu_line(gpu: Dict[str, Any]) -> str:
    """One GPU in words.

    "GPU 0 NVIDIA GeForce RTX 3070: 7.5 GiB free of 8.0 GiB (0 MiB used), 0 % busy, 36 °C; no processes".
    """
    util = gpu.get("utilization_pct")
    temp = gpu.get("temperature_c")
    return "GPU %s %s: %s free of %s (%s MiB used), %s busy, %s; %s" % (
        gpu.get("index"), gpu.get("model"), gib(gpu.get("memory_free_mib")), gib(gpu.get("memory_total_mib")),
        "?" if gpu.get("memory_used_mib") is None else gpu["memory_used_mib"],
        "?" if util is None else "%d %%" % util, "? °C" if temp is None else "%d °C" % temp, _processes(gpu))


def _ram_clause(available: Optional[int], need: int) -> str:
    if need <= 0:
        return "%s RAM available" % gib(available)
    sign = "≥" if available is not None and available >= need else "<"
    return "%s RAM available %s %s needed" % (gib(available), sign, gib(need))


def _judge_host(name: str, state: Dict[str, Any], need_gpu: int, need_ram: int):
    """(fitting GPU candidates, reasons it does not fit) for one host."""
    available = state.get("memory_available_mib")
    ram_ok = need_ram <= 0 or (available is not None and available >= need_ram)
    reasons = [] if ram_ok else [_ram_clause(available, need_ram)]
    if need_gpu <= 0:
        # A workload without a GPU: only the memory decides; the host is one candidate.
        if not ram_ok:
            return [], reasons
        return [{"host": name, "gpu": None, "model": None, "memory_free_mib": None,
                 "memory_available_mib": available, "reason": "%s: %s" % (name, _ram_clause(available, need_ram))}], []
    if state["status"] != OK:
        return [], [state["message"]] + reasons
    fitting, short = [], []
    for gpu in state["gpus"]:
        free = gpu.get("memory_free_mib")
        what = "%s (GPU %s)" % (gpu.get("model"), gpu.get("index"))
        if free is None:
            short.append("%s: free memory unknown" % what)
        elif free < need_gpu:
            held = "; held by %s" % _processes(gpu) if gpu.get("processes") else ""
            short.append("%s, %s free < %s needed%s" % (what, gib(free), gib(need_gpu), held))
        elif gpu.get("mig_mode") == "Enabled":
            short.append("%s: MIG is enabled, so its memory is split between instances" % what)
        else:
            fitting.append({"host": name, "gpu": gpu.get("index"), "model": gpu.get("model"), "memory_free_mib": free,
                            "memory_available_mib": available,
                            "reason": "%s: %s, %s free ≥ %s needed; %s" % (
                                name, gpu.get("model"), gib(free), gib(need_gpu), _ram_clause(available, need_ram))})
    if fitting and ram_ok:
        return fitting, []
    return [], short + reasons


def report(hosts: Dict[str, Dict[str, Any]], need_gpu_mib: int = 0, need_memory_mib: int = 0,
           unreachable: Optional[List[str]] = None) -> Dict[str, Any]:
    """The run's findings: every host's state, and with a need set, where it fits (ranked) and why not elsewhere.

    ``hosts`` maps host name to ``host_state``. Candidates are ranked by free GPU memory, most first
    (then RAM available, then name, so the order is stable); without a GPU need, by RAM available.
    ``fits`` and ``does_not_fit`` are None when nothing was asked of the hosts.
    """
    unreachable = sorted(unreachable or [])
    names = sorted(hosts)
    lines = []
    for name in names:
        state = hosts[name]
        lines.append("%s: %s" % (name, state["message"]))
    lines.extend("%s: did not answer, so its GPUs are unknown" % name for name in unreachable)
    counts = {status: [n for n in names if hosts[n]["status"] == status] for status in (OK, NO_GPU, DRIVER)}
    gpus = sum(len(hosts[n]["gpus"]) for n in counts[OK])
    headline = "%d GPU%s on %d of %d hosts; %d without an NVIDIA GPU; %d whose driver is not answering" % (
        gpus, "" if gpus == 1 else "s", len(counts[OK]), len(names) + len(unreachable), len(counts[NO_GPU]),
        len(counts[DRIVER]))
    found = {"headline": headline, "summary": lines, "hosts": {n: hosts[n] for n in names},
             "no_gpu": counts[NO_GPU], "driver_not_answering": counts[DRIVER], "unreachable": unreachable,
             "need": {"gpu_free_mib": need_gpu_mib, "memory_mib": need_memory_mib}, "fits": None,
             "does_not_fit": None}
    if need_gpu_mib <= 0 and need_memory_mib <= 0:
        return found
    fits, misses = [], []
    for name in names:
        fitting, reasons = _judge_host(name, hosts[name], need_gpu_mib, need_memory_mib)
        fits.extend(fitting)
        if reasons:
            misses.append({"host": name, "reason": "%s: %s" % (name, "; ".join(reasons))})
    misses.extend({"host": n, "reason": "%s: did not answer" % n} for n in unreachable)
    fits.sort(key=lambda c: (-(c["memory_free_mib"] or 0), -(c["memory_available_mib"] or 0), c["host"],
                             c["gpu"] if c["gpu"] is not None else -1))
    need = " and ".join(part for part in (
        "%s free GPU memory" % gib(need_gpu_mib) if need_gpu_mib > 0 else "",
        "%s RAM" % gib(need_memory_mib) if need_memory_mib > 0 else "") if part)
    if fits:
        found["headline"] += "; a workload needing %s fits on %d: best %s" % (need, len(fits), fits[0]["reason"])
    else:
        found["headline"] += "; a workload needing %s fits nowhere" % need
    found.update(fits=fits, does_not_fit=misses)
    return found
