"""The offline planner, split along its seams.

- :mod:`.vocabulary` (and ``vocabulary.yml``): how text becomes terms;
- :mod:`.index`: scoring the catalog, and which entries may be chosen;
- :mod:`.planner`: the planner itself, clause by clause, and the filling of an entry's variables
  with the extractors its meta file names.
"""

from __future__ import annotations

from planner.planning.offline.planner import OfflinePlanner

__all__ = ["OfflinePlanner"]
