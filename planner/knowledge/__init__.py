"""What the tool learns and keeps: facts written back, drift, the knowledge base, session logs and the docs."""
