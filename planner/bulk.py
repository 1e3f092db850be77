"""Building many small objects at once (a 1,000-host inventory read into dicts and models) without paying for
the cyclic garbage collector while doing it.

Every few hundred allocations CPython's collector walks the young objects, and from time to time every
object alive: while thousands of host files are read, each walk finds nothing to free (the data is trees,
kept), yet a docs regeneration spent a fifth of its time there. :func:`collector_paused` holds the collector
for the length of such a step; reference counting still frees everything as usual, and a cycle made meanwhile
is collected at the next collection after it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Hold the cyclic collector for the block (nested blocks keep it held until the outermost ends)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
