"""The options every module that calls MAAS's API shares: where it is, the key, how long to wait."""

from __future__ import annotations


class ModuleDocFragment:
    """``extends_documentation_fragment: homelab.ops.maas_api``."""

    DOCUMENTATION = r"""
options:
  api_url:
    description: MAAS's URL, such as C(http://maas:5240/MAAS).
    type: str
    required: true
  api_key:
    description: The API key, C(consumer_key:token_key:token_secret).
    type: str
    required: true
  timeout:
    description: Seconds to wait for each API call.
    type: int
    default: 10
"""
