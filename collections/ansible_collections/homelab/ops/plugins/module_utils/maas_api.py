# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""One signed call to MAAS's API from a module: the OAuth header, a form body, the JSON answer."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import urlencode

from ansible.module_utils.urls import open_url
from ansible_collections.homelab.ops.plugins.module_utils.maas_dns import oauth_header


def call(module, method: str, url: str, data: dict | None = None):
    """``method url`` with the module's api_key and timeout; fails the module naming the call on any error."""
    headers = {
        "Authorization": oauth_header(module.params["api_key"], uuid.uuid4().hex, int(time.time())),
        "Accept": "application/json",
    }
    body = None
    if data is not None:
        body = urlencode(data)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    try:
        resp = open_url(url, method=method, data=body, headers=headers, timeout=module.params["timeout"])
        text = resp.read()
    except Exception as err:  # urllib's errors and socket errors alike: say which call failed
        module.fail_json(msg=f"MAAS API {method} {url} failed: {err}")
    return json.loads(text) if text else None
