"""Say clearly, before anything starts, when this machine cannot run the lab."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import subprocess

from planner.errors import LabError
from planner.lab.spec import LabConfig

#: inotify instances a machine should allow: each lab host takes about nine of them, so the
#: kernel's default of 128 holds one 9-host lab and no second one (the tests' and molecule's run beside
#: the demo's); a limit below this is raised, as a lab needs anyway.
INOTIFY_INSTANCES = 1024
_INOTIFY = "/proc/sys/fs/inotify/max_user_instances"


def check(config: LabConfig) -> None:
    """Root, the tools, overlayfs: one clear error for the first thing missing."""
    if os.geteuid() != 0:
        raise LabError("the sandbox lab needs root: it mounts overlay filesystems and boots containers",
                       "run it as root (sudo -E homelab lab up); the rest of homelab does not need root")
    for tool, package in (("systemd-nspawn", "systemd-container"), ("ssh-keygen", "openssh-client"),
                          ("mount", "mount")):
        if not shutil.which(tool):
            raise LabError(f"{tool} is not installed", f"apt-get install {package}")
    if not _has_overlay() and shutil.which("modprobe"):
        # overlay is usually a module that is simply not loaded yet: load it before giving up.
        subprocess.run(["modprobe", "overlay"], capture_output=True, check=False, timeout=30)
    if not _has_overlay():
        raise LabError("the kernel does not offer overlayfs, which the lab's hosts are built on",
                       "modprobe overlay failed or is not allowed here; run the lab on a machine (or VM) whose "
                       "kernel has it")
    _raise_inotify_limit()
    # The namespaces systemd-nspawn needs; probing costs a few milliseconds and
    # turns a cryptic failure in the middle of booting into one clear error.
    probe = subprocess.run(["unshare", "--mount", "--uts", "--ipc", "--pid", "--fork", "true"],
                           capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise LabError(f"the kernel refused new namespaces: {probe.stderr.strip() or 'unshare failed'}",
                       "run the lab where mount, uts, ipc and pid namespaces are allowed "
                       "(a VM or a privileged container)")


def check_port_free(address: str, port: int) -> None:
    """A wildcard listener on the SSH port would shadow the lab host's sshd."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Without SO_REUSEADDR, connections of a just-stopped host in TIME_WAIT look like a listener.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise LabError(f"{address}:{port} is already in use (an sshd listening on all addresses?)",
                               "set HOMELAB_LAB_SSH_PORT to a free port, e.g. 2222") from None
            raise LabError(f"cannot bind {address}:{port}: {err.strerror}",
                           "the lab needs the 127.0.0.0/8 loopback range") from None


def explain(console_tail: list[str]) -> str:
    """Turn systemd-nspawn's last words into advice."""
    text = "\n".join(console_tail)
    if "Failed to open system bus" in text:
        return "systemd-nspawn needs --register=no --keep-unit here; is an old homelab version installed?"
    if "namespace" in text.lower() or "Operation not permitted" in text:
        return ("the kernel refused the namespaces the lab needs (user, mount, pid, uts); "
                "run on a host or VM that allows them")
    if "cgroup" in text.lower():
        return "systemd-nspawn could not set up cgroups on this machine"
    return "see the console log named above; `homelab lab down` cleans up"


def _raise_inotify_limit() -> None:
    """Past the limit a host's systemd boots without its inotify watches and sshd never answers."""
    try:
        with open(_INOTIFY) as fh:
            current = int(fh.read().strip())
        if current < INOTIFY_INSTANCES:
            with open(_INOTIFY, "w") as fh:
                fh.write(str(INOTIFY_INSTANCES))
    except (OSError, ValueError) as err:
        raise LabError(f"cannot raise fs.inotify.max_user_instances to {INOTIFY_INSTANCES}: {err}",
                       f"run sysctl -w fs.inotify.max_user_instances={INOTIFY_INSTANCES} as root, "
                       "or run one lab at a time") from None


def _has_overlay() -> bool:
    with open("/proc/filesystems") as fh:
        return any(line.split()[-1] == "overlay" for line in fh if line.strip())
