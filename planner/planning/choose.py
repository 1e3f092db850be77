"""The planners behind ``homelab plan "…"``: offline (default) and LLM (through litellm).

``choose`` picks one from ``--model``, ``$HOMELAB_MODEL`` or the config file;
with none configured the offline planner is used. Both are imported only
when chosen, so ``homelab --help`` loads neither (litellm takes seconds).
"""

from __future__ import annotations

import os
from pathlib import Path

from planner.planning.drafting import Planner


def configured_model(root: Path, model: str | None) -> str | None:
    """``--model``, else ``$HOMELAB_MODEL``, else the config file's ``model``; None means offline."""
    if model:
        return model
    if os.environ.get("HOMELAB_MODEL"):
        return os.environ["HOMELAB_MODEL"]
    from planner.config import load_config

    return load_config(root).model


def choose(root: Path, model: str | None = None) -> Planner:
    """The planner to use: the LLM one when a model is configured, else the offline one."""
    chosen = configured_model(root, model)
    if chosen in (None, "", "offline"):
        from planner.planning.offline import OfflinePlanner

        return OfflinePlanner()
    from planner.config import load_config
    from planner.planning.llm_planner import LlmPlanner

    return LlmPlanner.from_config(load_config(root), chosen)
