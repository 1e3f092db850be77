# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""MAAS's DNS resources, as plain functions over plain data (the unit tests call them directly).

MAAS's API (``/MAAS/api/2.0/``) authenticates with OAuth 1.0 and the
PLAINTEXT signature: an API key is ``consumer_key:token_key:token_secret``
and the signature is ``&`` + token secret (the consumer secret is empty).
A DNS resource is ``{id, fqdn, address_ttl, ip_addresses: [{ip, ...}],
resource_records, resource_uri}``; ``GET dnsresources/?fqdn=NAME`` lists
the ones with that name, ``POST dnsresources/`` (fqdn, ip_addresses)
creates one, ``PUT dnsresources/{id}/`` changes its addresses and
``DELETE dnsresources/{id}/`` removes it.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode


class MaasKeyError(ValueError):
    """An API key that is not consumer_key:token_key:token_secret."""


def parse_api_key(key: str) -> tuple[str, str, str]:
    """The key's three parts; MAAS prints keys in this form (maas apikey --username NAME)."""
    parts = key.strip().split(":")
    if len(parts) != 3 or not all(parts):
        raise MaasKeyError("a MAAS API key has three parts, consumer_key:token_key:token_secret "
                           "(maas apikey --username NAME prints one)")
    return parts[0], parts[1], parts[2]


def oauth_header(key: str, nonce: str, timestamp: int) -> str:
    """The Authorization header of one request (PLAINTEXT: no signing of the request itself)."""
    consumer, token, secret = parse_api_key(key)
    params = {
        "oauth_version": "1.0",
        "oauth_signature_method": "PLAINTEXT",
        "oauth_consumer_key": consumer,
        "oauth_token": token,
        "oauth_signature": "&" + secret,
        "oauth_nonce": nonce,
        "oauth_timestamp": str(timestamp),
    }
    return "OAuth " + ", ".join(f'{k}="{quote(v, safe="")}"' for k, v in params.items())


def resources_url(api_url: str, resource_id: int | None = None, fqdn: str | None = None) -> str:
    """The DNS resources endpoint under MAAS's URL (http://maas:5240/MAAS), one resource, or a search."""
    base = api_url.rstrip("/")
    if not base.endswith("/api/2.0"):
        base += "/api/2.0"
    url = f"{base}/dnsresources/"
    if resource_id is not None:
        url += f"{resource_id}/"
    if fqdn is not None:
        url += "?" + urlencode({"fqdn": fqdn})
    return url


def addresses(resource: dict) -> list[str]:
    """The IP addresses a DNS resource gives its name."""
    return sorted(str(a.get("ip")) for a in resource.get("ip_addresses") or [] if a.get("ip"))


def decide(found: list[dict], fqdn: str, address: str, state: str) -> dict:
    """What to do so that ``fqdn`` resolves to ``address`` (state present) or not at all (absent).

    Returns ``{action: create|update|delete|none, id, before, after}``; ``before``/``after`` are the
    addresses, for the diff. MAAS may hold several resources of one name only by mistake: the first
    is kept (present) and all are removed (absent).
    """
    mine = [r for r in found if str(r.get("fqdn", "")).rstrip(".") == fqdn.rstrip(".")]
    before = addresses(mine[0]) if mine else []
    if state == "absent":
        if not mine:
            return {"action": "none", "ids": [], "before": [], "after": []}
        return {"action": "delete", "ids": [int(r["id"]) for r in mine], "before": before, "after": []}
    if not mine:
        return {"action": "create", "ids": [], "before": [], "after": [address]}
    if before == [address]:
        return {"action": "none", "ids": [int(mine[0]["id"])], "before": before, "after": before}
    return {"action": "update", "ids": [int(mine[0]["id"])], "before": before, "after": [address]}
