"""A real Uptime Kuma in the sandbox lab: the npm package, run by systemd in the uptime-kuma lab host.

The package (``uptime-kuma`` 2.0.0-dev.0, the only release on npm: the full server with its built
frontend) is installed once per machine into the user cache, next to the root filesystem, keyed by its
version and the patch recipe below, and bind-mounted read-only into the uptime-kuma host together with
this machine's ``node`` (and any shared library of node's the root filesystem lacks). The host runs it as
``uptime-kuma.service``, bound to its own lab address, port 3001, with its data on its own disk.

Two packaging bugs of this release are patched after install: seven ``db/patch-*.sql`` files belong in
``db/old_migrations/`` (else the first start fails "issue patching the database"), and
``server/database.js`` asks ``this.dbConfig.client === "sqlite3"`` where the configuration says
``type: "sqlite"`` (else uptime, average ping and beat queries send MariaDB SQL to SQLite).

It never reaches the internet: its proxy variables point at a closed loopback port (no_proxy covers
loopback and the lab's names), and ``lab up`` turns its update check off through the API
(``checkUpdate: false``) right after creating the admin, whose credentials are generated per lab and kept
in ``uptime-kuma.env`` (0600) in the lab directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shlex
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from planner.errors import LabError
from planner.paths import private_file

if TYPE_CHECKING:
    from planner.lab.spec import LabConfig, LabHost

PACKAGE = "uptime-kuma"
VERSION = "2.0.0-dev.0"
#: Bump when the patches below change, so an old cache entry is not reused.
PATCH_RECIPE = 1
#: The lab host that runs it (the homelab's monitoring VM) and its unit, port and data directory there.
HOST = "uptime-kuma"
UNIT = "uptime-kuma.service"
PORT = 3001
DATA_DIR = "/var/lib/uptime-kuma"
#: Where the cached install and node appear inside the host (read-only binds).
MOUNT = "/opt/homelab-lab/uptime-kuma"
NODE = "/opt/homelab-lab/node/bin/node"
#: The names the credentials go by: the ones inventory/group_vars/all/monitoring.yml names.
USERNAME_ENV = "UPTIME_KUMA_USERNAME"
PASSWORD_ENV = "UPTIME_KUMA_PASSWORD"
ADMIN = "admin"
CREDENTIALS_FILE = "uptime-kuma.env"
#: A loopback port nothing listens on: any request that would leave through a proxy fails at once.
CLOSED_PROXY = "http://127.0.0.1:9"
INSTALL_TIMEOUT_S = 900
READY_TIMEOUT_S = 120.0
_API_TIMEOUT_S = 30

# The seven migration files this release ships in db/ instead of db/old_migrations/, where server/database.js
# looks for every file its patch list names.
_MISPLACED_PATCHES = (
    "patch-add-certificate-expiry-status-page.sql", "patch-add-gamedig-given-port.sql",
    "patch-add-invert-keyword.sql", "patch-add-timeout-monitor.sql", "patch-added-json-query.sql",
    "patch-added-kafka-producer.sql", "patch-monitor-oauth-cc.sql",
)
_SQLITE_TEST_OLD = 'this.dbConfig.client === "sqlite3"'
_SQLITE_TEST_NEW = 'this.dbConfig.type === "sqlite"'
_SQLITE_BINDING = "@louislam/sqlite3"


def cache_key() -> str:
    """A short digest of what shapes the installed package."""
    recipe = json.dumps({"package": PACKAGE, "version": VERSION, "patch": PATCH_RECIPE,
                         "misplaced": _MISPLACED_PATCHES, "sqlite": [_SQLITE_TEST_OLD, _SQLITE_TEST_NEW]},
                        sort_keys=True)
    return hashlib.sha256(recipe.encode()).hexdigest()[:12]


def package_dir(install: Path) -> Path:
    """The package's own directory inside an install (its working directory: its ./db paths are relative)."""
    return install / "node_modules" / PACKAGE


def patch(pkg: Path) -> list[str]:
    """Fix the release's two packaging bugs in ``pkg`` (idempotent); returns what it changed.

    Raises LabError when the package does not look like the release these patches were written for,
    rather than starting a server that would fail later in a less clear way.
    """
    changed = []
    old = pkg / "db" / "old_migrations"
    if not old.is_dir():
        raise LabError(f"{pkg} has no db/old_migrations/: not the {PACKAGE} {VERSION} these patches fit",
                       f"remove {pkg.parent.parent} so the next lab up installs it again")
    for name in _MISPLACED_PATCHES:
        src, dest = pkg / "db" / name, old / name
        if src.is_file() and not dest.is_file():
            src.rename(dest)
            changed.append(f"db/{name} → db/old_migrations/")
        elif not dest.is_file():
            raise LabError(f"{pkg}: db/{name} is missing", f"remove {pkg.parent.parent} and run lab up again")
    database = pkg / "server" / "database.js"
    text = database.read_text()
    if _SQLITE_TEST_OLD in text:
        database.write_text(text.replace(_SQLITE_TEST_OLD, _SQLITE_TEST_NEW))
        changed.append("server/database.js: SQLite recognised by its type")
    elif _SQLITE_TEST_NEW not in text:
        raise LabError(f"{database} has no SQLite test to patch: not the {PACKAGE} {VERSION} these patches fit",
                       f"remove {pkg.parent.parent} so the next lab up installs it again")
    return changed


def _tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        raise LabError("node and npm are needed to install the lab's Uptime Kuma (the npm package "
                       f"{PACKAGE} {VERSION}), and {'node' if not node else 'npm'} is not on PATH",
                       "apt-get install nodejs npm (make setup does this when run as root)")
    return str(Path(node).resolve()), npm


def _run(cmd: list[str], what: str, log: Path, cwd: Path, env: dict[str, str] | None = None) -> None:
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(cmd)}\n".encode())
        out.flush()
        try:
            proc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  env={**os.environ, **(env or {})}, timeout=INSTALL_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise LabError(f"{what} took longer than {INSTALL_TIMEOUT_S} s", f"see {log}") from None
    if proc.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-8:]
        raise LabError(f"{what} failed (exit {proc.returncode})",
                       f"check that the npm registry is reachable; see {log}", details=tail)


def _binding_loads(node: str, pkg: Path) -> bool:
    proc = subprocess.run([node, "-e", f"require('{_SQLITE_BINDING}')"], cwd=pkg, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False)
    return proc.returncode == 0


def ensure_install(cache: Path, progress=print) -> Path:
    """The cached, patched install (its node_modules/ inside), installing it first if needed (locked)."""
    base = cache / "uptime-kuma"
    base.mkdir(parents=True, exist_ok=True)
    final = base / f"{VERSION}-{cache_key()}"
    if (final / ".homelab-kuma").is_file():
        return final
    node, npm = _tools()
    from planner.plans.lock import waiting_lock

    with waiting_lock(base / ".lock"):
        if (final / ".homelab-kuma").is_file():
            return final
        for stale in base.glob(".build-*"):  # under the lock: left by an install that died
            shutil.rmtree(stale, ignore_errors=True)
        build = base / f".build-{os.getpid()}"
        build.mkdir()
        log = base / "install.log"
        log.write_text("")
        progress(f"Installing the lab's Uptime Kuma ({PACKAGE} {VERSION} from npm, once, 1–3 minutes) in {final}")
        try:
            (build / "package.json").write_text(json.dumps({"private": True, "description": "sandbox lab"}) + "\n")
            _run([npm, "install", "--no-audit", "--no-fund", "--no-save", f"{PACKAGE}@{VERSION}"],
                 "npm install", log, build)
            pkg = package_dir(build)
            patch(pkg)
            if not _binding_loads(node, pkg):
                # npm may skip the binding's install script; build it from the bundled SQLite source.
                progress("Building Uptime Kuma's SQLite binding from its bundled source…")
                _run([npm, "rebuild", _SQLITE_BINDING], "building the SQLite binding", log, build,
                     {"npm_config_build_from_source": "true", "npm_config_nodedir": "/usr"})
                if not _binding_loads(node, pkg):
                    raise LabError(f"Uptime Kuma's SQLite binding ({_SQLITE_BINDING}) does not load in {node}",
                                   f"it needs python3, make and g++ to build; see {log}")
            (build / ".homelab-kuma").write_text(json.dumps({"key": cache_key(), "version": VERSION}) + "\n")
            shutil.rmtree(final, ignore_errors=True)
            build.rename(final)
        finally:
            shutil.rmtree(build, ignore_errors=True)
    return final


def wanted(hosts: list[LabHost]) -> bool:
    """Whether this lab runs Uptime Kuma: its inventory has the monitoring host."""
    return any(h.name == HOST for h in hosts)


def node_binds(merged: Path) -> list[tuple[Path, str]]:
    """node, and each shared library it links that the host's root filesystem lacks (Debian's node links
    libnode and friends; NodeSource's only glibc), bound read-only at the same paths."""
    node, _ = _tools()
    binds: list[tuple[Path, str]] = [(Path(node), NODE)]
    proc = subprocess.run(["ldd", node], capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL)
    for line in proc.stdout.splitlines():
        parts = line.split("=>")
        lib = parts[1].split("(")[0].strip() if len(parts) == 2 else ""
        if lib.startswith("/") and not (merged / lib.lstrip("/")).exists():
            binds.append((Path(lib).resolve(), lib))
    return binds


def unit(address: str, no_proxy: list[str]) -> str:
    """uptime-kuma.service in the host."""
    env = {
        "DATA_DIR": f"{DATA_DIR}/", "UPTIME_KUMA_HOST": address, "UPTIME_KUMA_PORT": str(PORT),
        "UPTIME_KUMA_DB_TYPE": "sqlite", "NODE_ENV": "production",
        # It checks for updates at start and would fetch favicons and the like: nothing may leave loopback.
        "https_proxy": CLOSED_PROXY, "http_proxy": CLOSED_PROXY, "HTTPS_PROXY": CLOSED_PROXY,
        "HTTP_PROXY": CLOSED_PROXY, "no_proxy": ",".join(no_proxy), "NO_PROXY": ",".join(no_proxy),
    }
    lines = "".join(f'Environment="{k}={v}"\n' for k, v in env.items())
    return ("# Sandbox lab: the real Uptime Kuma (npm package, cached on the machine running the lab,\n"
            "# bound read-only here with its node), on this host's own lab address.\n"
            f"[Unit]\nDescription=Uptime Kuma {VERSION}\nAfter=network.target\n\n"
            "[Service]\nUser=nobody\nStateDirectory=uptime-kuma\n"
            f"WorkingDirectory={MOUNT}/node_modules/{PACKAGE}\n{lines}"
            f"ExecStart={NODE} server/server.js\nRestart=on-failure\nRestartSec=2s\n\n"
            "[Install]\nWantedBy=multi-user.target\n")


def host_files(host: LabHost, hosts: list[LabHost]) -> tuple[dict[str, str], dict[str, str]]:
    """The unit file and its wants-link for the Uptime Kuma host (nothing for any other host)."""
    if host.name != HOST:
        return {}, {}
    no_proxy = ["localhost", "127.0.0.1", ".maas", *(h.address for h in hosts), *(h.name for h in hosts)]
    path = f"/etc/systemd/system/{UNIT}"
    return {path: unit(host.address, no_proxy)}, {f"/etc/systemd/system/multi-user.target.wants/{UNIT}": path}


def url(address: str) -> str:
    return f"http://{address}:{PORT}"


def credentials_path(config: LabConfig) -> Path:
    return config.lab_dir / CREDENTIALS_FILE


def credentials(config: LabConfig) -> dict[str, str]:
    """The lab's Uptime Kuma admin, as the environment variables monitoring.yml names (made once per lab)."""
    path = credentials_path(config)
    if path.is_file():
        found = {}
        for line in path.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, value = line.removeprefix("export ").split("=", 1)
                found[key] = shlex.split(value)[0] if value else ""
        if found.get(USERNAME_ENV) and found.get(PASSWORD_ENV):
            return found
    found = {USERNAME_ENV: ADMIN, PASSWORD_ENV: secrets.token_urlsafe(18)}
    with os.fdopen(private_file(path), "w") as fh:
        fh.write("# The sandbox lab's Uptime Kuma admin: `. " + CREDENTIALS_FILE + "` before a run that needs it.\n"
                 + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in found.items()))
    return found


def _answers(address: str) -> bool:
    import socket

    try:
        with socket.create_connection((address, PORT), timeout=0.5):
            return True
    except OSError:
        return False


def ensure_ready(config: LabConfig, address: str, progress=print) -> None:
    """Wait until the host's Uptime Kuma answers, then make sure its admin exists and can log in and its
    update check is off (idempotent: a second lab up only logs in)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _answers(address):
        if time.monotonic() > deadline:
            raise LabError(f"the lab's Uptime Kuma did not answer on {address}:{PORT} within "
                           f"{READY_TIMEOUT_S:.0f} s", f"homelab lab ssh {HOST} -- journalctl -u {UNIT}")
        time.sleep(0.5)
    creds = credentials(config)
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            _set_up(address, creds[USERNAME_ENV], creds[PASSWORD_ENV])
            return
        except Exception as err:  # the server may still be migrating its database: retry until the deadline
            last = err
            time.sleep(1)
    raise LabError(f"the lab's Uptime Kuma on {address}:{PORT} answers but could not be set up: {last}",
                   f"homelab lab ssh {HOST} -- journalctl -u {UNIT}")


def _set_up(address: str, username: str, password: str) -> None:
    from uptime_kuma_api import UptimeKumaApi

    with UptimeKumaApi(url(address), timeout=_API_TIMEOUT_S, wait_events=0.2) as api:
        if api.need_setup():
            api.setup(username, password)
        api.login(username, password)
        if api.get_settings().get("checkUpdate") is not False:
            api.set_settings(password, checkUpdate=False)


def client(config: LabConfig, address: str):
    """A logged-in uptime_kuma_api client for the lab's Uptime Kuma (the caller disconnects it)."""
    from uptime_kuma_api import UptimeKumaApi

    creds = credentials(config)
    api = UptimeKumaApi(url(address), timeout=_API_TIMEOUT_S, wait_events=0.2)
    api.login(creds[USERNAME_ENV], creds[PASSWORD_ENV])
    return api
