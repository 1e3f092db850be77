"""The sandbox lab: simulated homelab hosts on this machine, reached over real SSH.

Each host is an overlay of one shared Debian root filesystem booted with its
own systemd by ``systemd-nspawn``; it shares this machine's network namespace
and listens only on its own loopback address (127.0.1.N by default).
"""
