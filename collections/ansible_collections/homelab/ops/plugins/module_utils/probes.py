# Copyright: homelab-planner maintainers
# Apache License 2.0 (see the collection's galaxy.yml)
"""How the collection's modules run tools and read files on a managed host.

Shared by homelab.ops.host_facts and homelab.ops.gpu_report, so both ask
nvidia-smi the same questions, stop a wedged tool after the same timeout and
record a failing probe the same way. Runs on the managed host under its own
Python (3.9 syntax, standard library only); ``module`` is the calling
AnsibleModule, passed in, never imported here.
"""

from __future__ import annotations

import contextlib
import glob
import os
import threading

from ansible_collections.homelab.ops.plugins.module_utils.host_facts import (
    APPS_QUERY_FIELDS,
    GPU_QUERY_FIELDS,
    MAX_ITEMS,
    nvidia_smi_status,
    probe_error,
)

MAX_FILE_BYTES = 64 * 1024
# Tools print in the C locale so the parsers see the wording they expect.
_LOCALE = {"LC_ALL": "C", "LANG": "C", "SYSTEMD_COLORS": "0", "SYSTEMD_PAGER": ""}


def read_text(path, limit=MAX_FILE_BYTES, tail=False):
    """At most ``limit`` bytes of a file as text: the start, or the end with ``tail``."""
    with open(path, "rb") as f:
        if tail:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                f.seek(size - limit)
        data = f.read(limit)
    return data.decode("utf-8", "replace")


class Probes:
    """Runs commands and reads files for one discovery, collecting the probe errors met."""

    def __init__(self, module, timeout):
        self.module = module
        self.timeout = timeout
        self.errors = []

    def which(self, name, extra_dirs=None):
        # get_bin_path also looks in the sbin directories, where ethtool and ip live.
        return self.module.get_bin_path(name, required=False, opt_dirs=extra_dirs or [])

    def run_raw(self, argv):
        """(rc, stdout, stderr); rc is None when the command was stopped or could not start.

        A timer kills the process after ``timeout`` seconds: run_command has no timeout of
        its own, and a tool wedged on a driver must not hold the play.
        """
        stopped = []
        timers = []

        def arm(proc):
            def stop():
                stopped.append(True)
                with contextlib.suppress(OSError):
                    proc.kill()
            timer = threading.Timer(self.timeout, stop)
            timer.daemon = True
            timers.append(timer)
            timer.start()

        try:
            rc, out, err = self.module.run_command(
                argv, before_communicate_callback=arm, environ_update=_LOCALE,
                expand_user_and_vars=False, handle_exceptions=False, errors="surrogate_then_replace")
        except OSError as exc:
            return None, "", "could not run: %s" % exc
        finally:
            for timer in timers:
                timer.cancel()
        if stopped:
            return None, out, "timed out after %d s" % self.timeout
        return rc, out, err

    def run(self, probe, argv):
        """stdout of a command that succeeded, else None with a probe error recorded."""
        rc, out, err = self.run_raw(argv)
        if rc == 0:
            return out
        said = err if (err or "").strip() else out
        first = next((line.strip() for line in (said or "").splitlines() if line.strip()), "")
        message = first if rc is None else "exit %d: %s" % (rc, first or "no message")
        self.errors.append(probe_error(probe, message))
        return None

    def missing(self, tool, what):
        self.errors.append(probe_error(tool, "%s is not installed, so %s unknown" % (tool, what)))

    def files(self, probe, patterns, tail=False, with_mtime=False):
        """{path: text} (or {path: (text, mtime)}) of the regular files the glob patterns match."""
        paths = []
        for pattern in patterns:
            paths.extend(p for p in sorted(glob.glob(pattern)) if os.path.isfile(p))
        found = {}
        for path in paths[:MAX_ITEMS]:
            try:
                text = read_text(path, tail=tail)
                found[path] = (text, os.stat(path).st_mtime) if with_mtime else text
            except OSError as exc:
                self.errors.append(probe_error(probe, "%s: %s" % (path, exc.strerror or exc)))
        return found


def gather_gpus(probes, raw):
    smi = probes.which("nvidia-smi")
    if not smi:
        raw["nvidia_smi"] = {"status": "absent"}
        return
    rc, out, err = probes.run_raw([smi, "--query-gpu=" + ",".join(GPU_QUERY_FIELDS), "--format=csv,noheader,nounits"])
    status = nvidia_smi_status(rc, out, err)
    raw["nvidia_smi"] = {"status": status, "query": out}
    if status == "ok":
        raw["nvidia_smi"]["xml"] = probes.run("nvidia-smi -q -x", [smi, "-q", "-x"])
        raw["nvidia_smi"]["apps"] = probes.run(
            "nvidia-smi compute apps",
            [smi, "--query-compute-apps=" + ",".join(APPS_QUERY_FIELDS), "--format=csv,noheader,nounits"])
