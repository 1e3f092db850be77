"""homelab.ops.maas_dns through real ansible-playbook against a small MAAS API stand-in on loopback.

The stand-in answers as MAAS's API documentation describes /MAAS/api/2.0/dnsresources/ (list by fqdn,
create, update, delete) and records every request, so the test sees the OAuth header, what check mode
sends (reads only) and that a second run changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = os.environ.get("HOMELAB_TEST_LAB_NET", "127.0.3") + ".250"
KEY = "ck:tk:secret"


class FakeMaas(BaseHTTPRequestHandler):
    resources: dict[int, dict] = {}
    requests: list[tuple[str, str, str]] = []

    def _reply(self, status: int, body: object = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _form(self) -> dict[str, str]:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        return {k: v[0] for k, v in parse_qs(raw).items()}

    def _record(self) -> None:
        self.requests.append((self.command, self.path, self.headers.get("Authorization", "")))

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self._record()
        fqdn = parse_qs(urlsplit(self.path).query).get("fqdn", [""])[0]
        self._reply(200, [r for r in self.resources.values() if r["fqdn"] == fqdn])

    def do_POST(self) -> None:  # noqa: N802
        self._record()
        form = self._form()
        rid = max(self.resources, default=0) + 1
        self.resources[rid] = {"id": rid, "fqdn": form["fqdn"], "address_ttl": None, "resource_records": [],
                               "ip_addresses": [{"ip": form["ip_addresses"]}],
                               "resource_uri": f"/MAAS/api/2.0/dnsresources/{rid}/"}
        self._reply(200, self.resources[rid])

    def do_DELETE(self) -> None:  # noqa: N802
        self._record()
        self.resources.pop(int(self.path.rstrip("/").rsplit("/", 1)[-1]), None)
        self._reply(204)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(handler: type[FakeMaas]) -> Iterator[str]:
    """``handler`` (FakeMaas or a subclass) on a loopback port, with no resources and no requests yet; its URL."""
    FakeMaas.resources, FakeMaas.requests = {}, []
    server = ThreadingHTTPServer((ADDRESS, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{ADDRESS}:{server.server_address[1]}/MAAS"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def maas() -> Iterator[str]:
    with serving(FakeMaas) as url:
        yield url


def run_module(tmp_path: Path, module: str, args: str, *extra: str) -> dict:
    """``module`` with ``args`` (YAML lines at its indent) run once on localhost by ansible-playbook; its result.

    The MAAS key is in the environment, as a plan's run has it; ``ignore_errors`` lets the caller see a failure.
    """
    book = tmp_path / "maas.yml"
    book.write_text(f"""
- hosts: localhost
  gather_facts: false
  tasks:
    - {module}:
{args}
      register: result
      ignore_errors: true
    - ansible.builtin.debug:
        msg: "RESULT={{{{ result | to_json }}}}"
""")
    env = {**os.environ, "MAAS_API_KEY": KEY, "ANSIBLE_COLLECTIONS_PATH": str(ROOT / "collections"),
           "ANSIBLE_LOCALHOST_WARNING": "false", "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run([str(Path(sys.executable).with_name("ansible-playbook")), str(book), *extra],
                          env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if '"msg": "RESULT=' in x)
    return json.loads(json.loads("{" + line.strip() + "}")["msg"].removeprefix("RESULT="))


def run(tmp_path: Path, url: str, state: str, *extra: str) -> dict:
    result = run_module(tmp_path, "homelab.ops.maas_dns", f"""        api_url: {url}
        api_key: "{{{{ lookup('ansible.builtin.env', 'MAAS_API_KEY') }}}}"
        fqdn: ollama-trial.maas
        address: 192.168.4.11
        state: {state}""", *extra)
    assert not result.get("failed"), result
    return result


def test_a_name_is_created_once_then_removed(tmp_path: Path, maas: str) -> None:
    checked = run(tmp_path, maas, "present", "--check")
    assert checked["changed"] and checked["action"] == "create"
    assert [r[0] for r in FakeMaas.requests] == ["GET"], "check mode must only read"
    assert 'oauth_signature_method="PLAINTEXT"' in FakeMaas.requests[0][2]
    assert 'oauth_signature="%26secret"' in FakeMaas.requests[0][2]

    assert run(tmp_path, maas, "present")["action"] == "create"
    assert [r["ip_addresses"] for r in FakeMaas.resources.values()] == [[{"ip": "192.168.4.11"}]]
    again = run(tmp_path, maas, "present")
    assert not again["changed"] and again["action"] == "none"

    assert run(tmp_path, maas, "absent")["action"] == "delete"
    assert FakeMaas.resources == {}
    assert not run(tmp_path, maas, "absent")["changed"]
