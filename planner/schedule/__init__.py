"""Scheduled applies: WHEN resolved, the record kept, the job left to a systemd timer or at."""
