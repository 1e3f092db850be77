"""The options every module that calls Uptime Kuma shares: where, whose login, its tag, how long to wait."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: homelab.ops.uptime_kuma``."""

    DOCUMENTATION = r"""
options:
  url:
    description: Uptime Kuma's base URL, as the controller reaches it.
    type: str
    required: true
  username_env:
    description: The name of the controller's environment variable holding the admin's username.
    type: str
    default: UPTIME_KUMA_USERNAME
  password_env:
    description: The name of the controller's environment variable holding the admin's password.
    type: str
    default: UPTIME_KUMA_PASSWORD
  managed_tag:
    description: The tag that marks the tool's monitors; its value is the monitor's key.
    type: str
    default: homelab
  timeout:
    description: Seconds to wait for Uptime Kuma's answers.
    type: int
    default: 10
"""
