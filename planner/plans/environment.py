"""The environment a run gets: only what the tool sets, never the caller's ``ANSIBLE_*``.

Ansible reads far more than the files a plan names: ``ANSIBLE_*`` variables
(``ANSIBLE_CONFIG``, ``ANSIBLE_ROLES_PATH``, ``ANSIBLE_LIBRARY``, …),
``~/.ansible.cfg``, ``~/.ansible/{plugins,collections,roles}`` and the
system-wide ``/usr/share/ansible``. A run therefore gets a private ``HOME``
inside its run directory, ``ANSIBLE_CONFIG`` and every search path pointing
into the snapshot it runs from, and of the caller's environment only what a
connection needs (``PATH``, locale, ``TERM``, user name, ``SSH_AUTH_SOCK``).

The caller's ``ANSIBLE_*`` variables are recorded in the plan at review
(secret-looking values as a digest) and compared at apply, so an apply in
another environment is refused rather than silently different. The one
variable passed through is ``ANSIBLE_VAULT_PASSWORD_FILE``: a path to a
secret the inventory may need, recorded by path, never read here.

Credentials an API needs reach a run the same way the inventory names them:
a key ``<something>_env`` in a group_vars or host_vars file whose value is an
environment variable's name (``homelab_monitoring.uptime_kuma.password_env:
UPTIME_KUMA_PASSWORD``, ``homelab_dhcp.api_key_env: MAAS_API_KEY``) passes
that one variable through, so the module that reads it finds it; nothing else
of the caller's environment does, and the value is never recorded.
"""

from __future__ import annotations

import functools
import hashlib
import os
import pwd
import re
import stat
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from planner.plans.digests import differences

SECRET_NAME = re.compile(r"(PASS|SECRET|TOKEN|_KEY$|^KEY|API_?KEY|CREDENTIAL|AUTH)", re.I)
#: Passed through to the run (and recorded by path): the vault password is a file the run must read.
PASSED_THROUGH = frozenset({"ANSIBLE_VAULT_PASSWORD_FILE"})
#: Credentials a controller-side module reads by variable name (homelab_monitoring.uptime_kuma's defaults): passed
#: to the run so the modules can log in, never recorded in a plan (only ANSIBLE_* variables are) nor digested.
CREDENTIALS = frozenset({"UPTIME_KUMA_USERNAME", "UPTIME_KUMA_PASSWORD"})
#: Of the caller's environment, what a run keeps: the command search path, locale, terminal, who, ssh-agent.
_KEPT = ("PATH", "LANG", "TERM", "USER", "LOGNAME", "SSH_AUTH_SOCK")
#: Plugin search paths (ansible-core's base.yml) pointed into the snapshot, so neither ~/.ansible/plugins
#: nor /usr/share/ansible/plugins is read. ANSIBLE_CALLBACK_PLUGINS is left to ansible-runner, which
#: puts its own event callback there.
_PLUGIN_PATHS = {
    "ANSIBLE_LIBRARY": "modules", "ANSIBLE_MODULE_UTILS": "module_utils",
    "ANSIBLE_ACTION_PLUGINS": "action", "ANSIBLE_BECOME_PLUGINS": "become", "ANSIBLE_CACHE_PLUGINS": "cache",
    "ANSIBLE_CLICONF_PLUGINS": "cliconf", "ANSIBLE_CONNECTION_PLUGINS": "connection",
    "ANSIBLE_DOC_FRAGMENT_PLUGINS": "doc_fragments", "ANSIBLE_FILTER_PLUGINS": "filter",
    "ANSIBLE_HTTPAPI_PLUGINS": "httpapi", "ANSIBLE_INVENTORY_PLUGINS": "inventory",
    "ANSIBLE_LOOKUP_PLUGINS": "lookup", "ANSIBLE_NETCONF_PLUGINS": "netconf",
    "ANSIBLE_STRATEGY_PLUGINS": "strategy", "ANSIBLE_TERMINAL_PLUGINS": "terminal",
    "ANSIBLE_TEST_PLUGINS": "test", "ANSIBLE_VARS_PLUGINS": "vars",
}


def is_secret(name: str) -> bool:
    """True for a variable whose name looks like it holds a secret (paths Ansible needs excepted)."""
    return bool(SECRET_NAME.search(name)) and name not in PASSED_THROUGH | {"SSH_AUTH_SOCK",
                                                                              "ANSIBLE_PRIVATE_KEY_FILE"}


def recorded(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's ``ANSIBLE_*`` variables as a plan records them: the value, or ``sha256:<digest>`` when secret."""
    environ = os.environ if environ is None else environ
    return {name: f"sha256:{hashlib.sha256(value.encode()).hexdigest()}" if is_secret(name) else value
            for name, value in sorted(environ.items()) if name.startswith("ANSIBLE_")}


def ignored(env: Mapping[str, str]) -> list[str]:
    """The recorded variables a run does not use (all but the ones passed through)."""
    return [name for name in sorted(env) if name not in PASSED_THROUGH]


def changes(at_review: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """Each ``ANSIBLE_*`` variable that differs between review and now, as a readable line."""
    words = {"new": "is set now (was unset at review)", "gone": "is unset now (was set at review)",
             "changed": "has another value now than at review"}
    return [f"{name} {words[kind]}" for name, kind in differences(at_review, now)]


_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,127}$")
#: Names no inventory can make a credential: they change how the run's programs behave (loader, interpreters,
#: shells, Ansible itself), so a variables file naming one must not pull it from the caller into a run.
_NEVER_CREDENTIAL = re.compile(r"^(ANSIBLE_|LD_|DYLD_|PYTHON|PERL|RUBY|NODE_|BASH_|GIT_|GLIBC_|OPENSSL_|SSL|CURL_)"
                               r"|^(ENV|HOME|SHELL|IFS|TMPDIR|GCONV_PATH|REQUESTS_CA_BUNDLE)$|.*PROXY$", re.I)
#: The inventory files read for ``*_env`` names, and how much of each: variables files are small.
_VARS_DIRS = ("group_vars", "host_vars")
_MAX_VARS_BYTES = 1024 * 1024


#: A ``*_env`` key that names who logs in, not a secret: its value is not masked (masking a short, common
#: username such as "admin" would blank that word out of every output line).
_USER_KEY = re.compile(r"(^|_)user(name)?_env$")


def _env_names(data: object, secret_only: bool = False) -> Iterator[str]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(key, str) and key.endswith("_env") and isinstance(value, str) and _ENV_NAME.match(value):
                if not (secret_only and _USER_KEY.search(key)):
                    yield value
            else:
                yield from _env_names(value, secret_only)
    elif isinstance(data, list):
        for item in data:
            yield from _env_names(item, secret_only)


@functools.cache
def _vars_loader() -> type:
    """PyYAML's safe loader (libyaml's where PyYAML has it), taking Ansible's ``!unsafe`` and ``!vault`` tags as
    plain strings: a file with one (the tool writes ``!unsafe`` into host_vars) still names its credentials."""
    import yaml

    class VarsLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
        pass

    def plain(loader: yaml.SafeLoader, node: yaml.Node) -> object:
        return loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None

    VarsLoader.add_constructor("!unsafe", plain)
    VarsLoader.add_constructor("!vault", plain)
    return VarsLoader


@functools.lru_cache(maxsize=1024)
def _file_credentials(path: Path, size: int, mtime_ns: int) -> tuple[frozenset[str], frozenset[str]]:
    """A variables file's named credentials, all then the secret ones. Cached by path, size and mtime: a plan
    asks twice (its masking and its run's environment), and a file written in between is read again."""
    import yaml

    try:
        data = yaml.load(path.read_text(encoding="utf-8", errors="replace"),  # noqa: S506 - a SafeLoader
                         Loader=_vars_loader())
    except (OSError, yaml.YAMLError):
        data = None  # a vaulted or broken file names nothing here; Ansible says what is wrong with it
    return frozenset(_env_names(data)), frozenset(_env_names(data, secret_only=True))


def named_credentials(inventory: Path, secret_only: bool = False) -> list[str]:
    """The environment variables the inventory's variables files name under a ``*_env`` key, sorted; with
    ``secret_only``, all but those naming a username (``*user_env``, ``*username_env``)."""
    top = inventory if inventory.is_dir() else inventory.parent
    names: set[str] = set()
    for sub in _VARS_DIRS:
        base = top / sub
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.suffix not in (".yml", ".yaml"):
                continue
            try:
                found = path.stat()
            except OSError:
                continue
            if not stat.S_ISREG(found.st_mode) or found.st_size > _MAX_VARS_BYTES:
                continue
            names.update(_file_credentials(path, found.st_size, found.st_mtime_ns)[secret_only])
    return sorted(names)


def control_dir() -> Path:
    """Where ssh keeps its ControlPersist sockets: the user's own ~/.ansible/cp, found through the passwd
    entry (as ssh finds ~/.ssh). Not the private HOME: a socket path must stay under ~100 bytes, and
    connections opened by the check run are reused by the apply."""
    return Path(pwd.getpwuid(os.getuid()).pw_dir) / ".ansible" / "cp"


def for_run(project: Path, home: Path, environ: Mapping[str, str] | None = None,
            credentials: Iterable[str] = ()) -> dict[str, str]:
    """The whole environment of a run from ``project`` (a snapshot's project directory) with ``home`` as HOME;
    of ``credentials`` (:func:`named_credentials`), those set are passed through."""
    environ = os.environ if environ is None else environ
    # The inventory's named credentials, and Uptime Kuma's default names whatever the inventory says.
    passed = {k for k in credentials if not _NEVER_CREDENTIAL.match(k)} | CREDENTIALS
    env = {k: v for k, v in environ.items() if k in _KEPT or k.startswith("LC_") or k in PASSED_THROUGH
           or k in passed}
    cfg = project / "ansible.cfg"
    env.update({
        # The ansible-playbook installed beside this interpreter (the venv's) comes first.
        "PATH": os.pathsep.join(filter(None, [str(Path(sys.executable).parent), environ.get("PATH", "")])),
        "HOME": str(home),
        "ANSIBLE_HOME": str(home / ".ansible"),
        "ANSIBLE_CONFIG": str(cfg) if cfg.is_file() else os.devnull,
        "ANSIBLE_ROLES_PATH": str(project / "roles"),
        "ANSIBLE_COLLECTIONS_PATH": str(project / "collections"),
        # Collections installed into the interpreter's site-packages are not part of the snapshot.
        "ANSIBLE_COLLECTIONS_SCAN_SYS_PATH": "False",
        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control_dir()),
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_DEPRECATION_WARNINGS": "False",
    })
    env.update({name: str(project / "plugins" / kind) for name, kind in _PLUGIN_PATHS.items()})
    return env


@contextmanager
def only(env: Mapping[str, str]) -> Iterator[None]:
    """``os.environ`` is exactly ``env`` inside the block (ansible-runner seeds a run's environment from it)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
