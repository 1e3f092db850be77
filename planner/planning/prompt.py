"""``homelab plan --show-prompt``: exactly what a planner would be given, sending nothing."""

from __future__ import annotations

import json
from typing import Any


def render_prompt(planner: Any, pack: Any) -> str:
    """The messages an LLM planner would send, or the pack the offline planner reads."""
    messages = getattr(planner, "messages", None)
    if callable(messages):
        parts = []
        for m in messages(pack.intent, pack):
            content = m.get("content")
            text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False)
            parts.append(f"===== {m.get('role', '?')} =====\n{text}")
        schema = getattr(planner, "schema", None)
        if callable(schema):
            parts.append("===== response schema =====\n" + json.dumps(schema(pack), indent=2, ensure_ascii=False))
        return "\n\n".join(parts) + "\n"
    return f"===== request =====\n{pack.intent}\n\n===== context (read locally by the {planner.name} planner) =====\n" \
           + pack.render_data() + "\n"
