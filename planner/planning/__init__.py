"""From plain words to a draft: the context pack, the planners (offline and LLM) and their evaluation."""
