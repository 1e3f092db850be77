"""Where a GPU workload fits: the hosts ranked by the GPU memory they have free, with the sentence the plan shows.

A trial names no host when the person does not: the planner chooses one from what the inventory
knows. What discovery measured (``discovered.gpus``: free MiB and the processes holding memory) is
preferred; where a host was never read, its documented ``hardware.gpus`` stand in, and the plan says
the figure is documented, not measured. Host memory comes the same way (``discovered.memory_mib``, else
``hardware.memory_gib``). A host fits when one of its GPUs has the estimate free and its memory holds
the estimate; the fitting hosts are ranked by free GPU memory, most first. When none fits, none is
chosen and the plan asks instead: a wrong guess would only fail at apply.

Everything here reads the context pack's plain host entries, so both planners can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

MIB_PER_GIB = 1024


@dataclass(frozen=True)
class Need:
    """What a workload needs, and where the estimate comes from."""

    service: str
    gpu_mib: int
    memory_mib: int
    source: str


@dataclass(frozen=True)
class Fit:
    """One host's best GPU for the workload, and whether the host can take it."""

    host: str
    gpu: str | None  # the model of its GPU with the most memory free; None: no GPU known
    free_mib: int  # that GPU's free memory (its whole memory where only documented)
    measured: bool  # free memory read by discovery, not taken from the documentation
    memory_mib: int | None  # the host's memory, None when neither read nor documented
    processes: int  # processes already holding memory on that GPU
    fits: bool
    reason: str  # why it does not fit ("" when it does)


@dataclass(frozen=True)
class Placement:
    """The chosen host (None when none fits), every host ranked, and the sentence for the plan."""

    host: str | None
    ranked: tuple[Fit, ...]
    sentence: str


def gib(mib: int | float) -> str:
    """MiB as GiB the way people say it: 7680 -> "7.5 GiB", 6144 -> "6 GiB"."""
    return f"{mib / MIB_PER_GIB:.1f}".removesuffix(".0") + " GiB"


def _article(model: str) -> str:
    # "an NVIDIA …", "an RTX …", "a GeForce …": an acronym is read letter by letter.
    first = model.split()[0] if model.split() else model
    sounds_vowel = first[:1].upper() in "AEFHILMNORSX" if first.isupper() else first[:1].lower() in "aeiou"
    return "an" if sounds_vowel else "a"


def _gpus(host: dict[str, Any]) -> tuple[list[tuple[str, int, int]], bool]:
    """(model, free MiB, processes) per GPU, and whether they were measured."""
    found = host.get("discovered") or {}
    measured = []
    for g in found.get("gpus") or []:
        free = g.get("memory_free_mib")
        if free is None and g.get("memory_total_mib") is not None and g.get("memory_used_mib") is not None:
            free = g["memory_total_mib"] - g["memory_used_mib"]
        if free is not None:
            measured.append((str(g.get("model") or "GPU"), int(free), int(g.get("processes") or 0)))
    if measured or found.get("gpus"):
        return measured, True
    documented = (host.get("documented") or {}).get("gpus") or []
    return [(str(g.get("model") or "GPU"), round(float(g.get("memory_gib") or 0) * MIB_PER_GIB), 0)
            for g in documented if isinstance(g, dict)], False


def _memory_mib(host: dict[str, Any]) -> int | None:
    found = (host.get("discovered") or {}).get("memory_mib")
    if isinstance(found, int):
        return found
    documented = (host.get("documented") or {}).get("memory_gib")
    return round(float(documented) * MIB_PER_GIB) if isinstance(documented, (int, float)) else None


def fit(host: dict[str, Any], need: Need) -> Fit:
    """How ``host`` (a context-pack host entry) fares for ``need``."""
    gpus, measured = _gpus(host)
    memory = _memory_mib(host)
    name = str(host.get("name"))
    if not gpus:
        return Fit(name, None, 0, measured, memory, 0, False, "no GPU known")
    model, free, processes = max(gpus, key=lambda g: g[1])
    reason = ""
    if free < need.gpu_mib:
        reason = f"its {model} has {gib(free)} {'free' if measured else '(documented)'}, under {gib(need.gpu_mib)}"
    elif memory is not None and memory < need.memory_mib:
        reason = f"{gib(memory)} RAM, under {gib(need.memory_mib)}"
    return Fit(name, model, free, measured, memory, processes, not reason, reason)


def place(need: Need, hosts: list[dict[str, Any]]) -> Placement:
    """Rank ``hosts`` for ``need`` and choose the first that fits, or none (and say why)."""
    fits = [fit(h, need) for h in hosts]
    ranked = tuple(sorted(fits, key=lambda f: (not f.fits, -f.free_mib, f.host)))
    estimate = (f"estimated need {gib(need.gpu_mib)} GPU, {gib(need.memory_mib)} RAM "
                f"({need.service} recipe: {need.source})")
    best = ranked[0] if ranked and ranked[0].fits else None
    if best is None:
        with_gpu = [f for f in ranked if f.gpu is not None]
        why = "; ".join(f"{f.host}: {f.reason}" for f in with_gpu[:4]) or "no host has a GPU the inventory knows of"
        return Placement(None, ranked, f"no host fits: {estimate}; {why}")
    assert best.gpu is not None
    free = f"{gib(best.free_mib)} free" if best.measured else f"{gib(best.free_mib)} (documented, not measured)"
    busy = f", {best.processes} process(es) already on it" if best.processes else ""
    return Placement(best.host, ranked, f"{best.host} has {_article(best.gpu)} {best.gpu} with {free}{busy}; "
                     f"{estimate}")
