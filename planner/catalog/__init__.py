"""The catalog: the vetted playbooks a plan may use, and what each task does under ``--check``."""
