"""The hand-kept Ansible inventory: reading it, validating it, and the documented and discovered models."""
