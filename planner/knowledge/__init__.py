"""What the tool learns and keeps: facts written back, drift, the knowledge base, session logs and the docs,
and the loop (:mod:`planner.knowledge.loop`) that keeps the docs current with every write."""
