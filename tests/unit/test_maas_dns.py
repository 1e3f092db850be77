"""homelab.ops.maas_dns's judgement: the OAuth header, the URLs, and what to do given MAAS's answers.

The answers below have the shape MAAS's API documentation gives for GET /MAAS/api/2.0/dnsresources/
(a list of DNS resources, each with id, fqdn, address_ttl, ip_addresses, resource_records, resource_uri).
"""

from __future__ import annotations

import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "collections"))

from ansible_collections.homelab.ops.plugins.module_utils import maas_dns as md  # noqa: E402

KEY = "Xy7cWfgBa6r2tzWtJm:vLQbGqTmsZ9EWHm8Qq:KgMMLxyN6ZHW8uqLxNp6cgc9k4ZbGwDn"

RESOURCE = {
    "id": 12,
    "fqdn": "ollama-trial.maas",
    "address_ttl": None,
    "ip_addresses": [{"alloc_type": 4, "alloc_type_name": "User reserved", "ip": "192.168.4.11",
                      "subnet": {"cidr": "192.168.4.0/24", "name": "192.168.4.0/24"}}],
    "resource_records": [],
    "resource_uri": "/MAAS/api/2.0/dnsresources/12/",
}


def test_the_header_is_plaintext_oauth_with_the_token_secret_as_signature() -> None:
    header = md.oauth_header(KEY, "abc123", 1765000000)
    assert header.startswith("OAuth ")
    fields = dict(part.split("=", 1) for part in header.removeprefix("OAuth ").split(", "))
    values = {k: unquote(v.strip('"')) for k, v in fields.items()}
    assert values == {
        "oauth_version": "1.0", "oauth_signature_method": "PLAINTEXT",
        "oauth_consumer_key": "Xy7cWfgBa6r2tzWtJm", "oauth_token": "vLQbGqTmsZ9EWHm8Qq",
        "oauth_signature": "&KgMMLxyN6ZHW8uqLxNp6cgc9k4ZbGwDn", "oauth_nonce": "abc123",
        "oauth_timestamp": "1765000000"}
    assert fields["oauth_signature"] == '"%26KgMMLxyN6ZHW8uqLxNp6cgc9k4ZbGwDn"'


@pytest.mark.parametrize("key", ["", "only-one-part", "a:b", "a::c", "a:b:c:d"])
def test_a_key_that_is_not_three_parts_is_refused(key: str) -> None:
    with pytest.raises(md.MaasKeyError, match="consumer_key:token_key:token_secret"):
        md.oauth_header(key, "n", 0)


def test_urls() -> None:
    assert md.resources_url("http://maas:5240/MAAS") == "http://maas:5240/MAAS/api/2.0/dnsresources/"
    assert md.resources_url("http://maas:5240/MAAS/api/2.0/", 12) == "http://maas:5240/MAAS/api/2.0/dnsresources/12/"
    assert md.resources_url("http://maas:5240/MAAS/", fqdn="ollama-trial.maas") == (
        "http://maas:5240/MAAS/api/2.0/dnsresources/?fqdn=ollama-trial.maas")


def test_a_new_name_is_created() -> None:
    assert md.decide([], "ollama-trial.maas", "192.168.4.11", "present") == {
        "action": "create", "ids": [], "before": [], "after": ["192.168.4.11"]}


def test_a_name_already_right_is_left_alone() -> None:
    assert md.decide([RESOURCE], "ollama-trial.maas", "192.168.4.11", "present")["action"] == "none"


def test_a_name_on_another_address_is_updated() -> None:
    plan = md.decide([RESOURCE], "ollama-trial.maas", "192.168.4.12", "present")
    assert plan == {"action": "update", "ids": [12], "before": ["192.168.4.11"], "after": ["192.168.4.12"]}


def test_absent_deletes_every_resource_of_the_name_and_only_those() -> None:
    other = {**RESOURCE, "id": 13, "fqdn": "jellyfin-trial.maas"}
    twice = {**RESOURCE, "id": 14}
    assert md.decide([RESOURCE, other, twice], "ollama-trial.maas", "", "absent")["ids"] == [12, 14]
    assert md.decide([other], "ollama-trial.maas", "", "absent")["action"] == "none"
