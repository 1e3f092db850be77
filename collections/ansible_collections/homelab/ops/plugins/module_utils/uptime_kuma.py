# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""One way into Uptime Kuma: a logged-in uptime-kuma-api client, its credentials read by variable name.

Modules that talk to Uptime Kuma run on the controller (the client library is installed there, not on
the monitoring host) and take the *names* of the environment variables holding the admin's username and
password, so the secret never passes through a module argument, a plan or a log.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager, suppress

#: The options every module that calls Uptime Kuma takes (documented once in the uptime_kuma doc fragment).
#: The password option holds a variable's name, not the password, so Ansible need not hide it.
ARGUMENT_SPEC = {
    "url": {"type": "str", "required": True},
    "username_env": {"type": "str", "default": "UPTIME_KUMA_USERNAME"},
    "password_env": {"type": "str", "default": "UPTIME_KUMA_PASSWORD", "no_log": False},
    "managed_tag": {"type": "str", "default": "homelab"},
    "timeout": {"type": "int", "default": 10},
}


class KumaError(Exception):
    """Uptime Kuma could not be reached or refused the login; ``hint`` says what to do."""

    def __init__(self, message, hint):
        super().__init__(message)
        self.hint = hint


def unset_credentials(username_env, password_env, environ=None):
    """The names of the credential variables that are unset or empty in this process's environment."""
    env = os.environ if environ is None else environ
    return [name for name in (username_env, password_env) if not env.get(name)]


def credentials(username_env, password_env, environ=None):
    """The username and password from the named variables; KumaError naming what is unset."""
    env = os.environ if environ is None else environ
    missing = unset_credentials(username_env, password_env, env)
    if missing:
        raise KumaError("Uptime Kuma's credentials are not set: %s" % ", ".join(missing),
                        "export %s (the names come from homelab_monitoring.uptime_kuma)" % " and ".join(missing))
    return env[username_env], env[password_env]


#: Uptime Kuma takes 20 logins a minute from everyone together (server/rate-limiter.js) and answers the
#: 21st "Too frequently, try again later." A sync logs in once per monitor it changes, so a first sync of
#: a large inventory meets the limit: wait for the bucket to refill, for a bounded time.
RATE_LIMITED = "Too frequently"
RATE_LIMIT_WAIT_S = 120
RATE_LIMIT_PAUSE_S = 5


def _login(api, url, user, password, sleep=time.sleep, clock=time.monotonic):
    deadline = clock() + RATE_LIMIT_WAIT_S
    while True:
        try:
            api.login(user, password)
            return
        except Exception as exc:
            if RATE_LIMITED in str(exc) and clock() < deadline:
                sleep(RATE_LIMIT_PAUSE_S)
                continue
            raise KumaError("Uptime Kuma at %s refused the login: %s" % (url, exc),
                            "check the credentials in the variables the inventory names" if RATE_LIMITED
                            not in str(exc) else "wait a minute: Uptime Kuma allows 20 logins a minute") from None


@contextmanager
def session(url, username_env, password_env, timeout=10):
    """A logged-in client for ``url``, disconnected on exit."""
    user, password = credentials(username_env, password_env)
    try:
        from uptime_kuma_api import UptimeKumaApi
    except ImportError as exc:
        raise KumaError("the Python package uptime-kuma-api is not installed on the controller (%s)" % exc,
                        "pip install uptime-kuma-api==1.2.1 into the environment that runs ansible") from None
    try:
        api = UptimeKumaApi(url, timeout=timeout)
    except Exception as exc:  # socketio raises its own ConnectionError; any failure here means unreachable
        raise KumaError("Uptime Kuma at %s does not answer: %s" % (url, exc),
                        "check that it runs (systemctl status uptime-kuma on its host) and that the URL is right",
                        ) from None
    try:
        _login(api, url, user, password)
        yield api
    finally:
        with suppress(Exception):  # closing a dead socket must not hide the real error
            api.disconnect()
