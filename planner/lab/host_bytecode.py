"""Runs inside a lab host (Debian 12, Python 3.11), not on the controller: a bytecode cache for the code
Ansible sends with every task.

Each task runs its module from a fresh AnsiballZ zip, and Python's zipimport compiles every ``.py`` in it
(``ansible.module_utils.basic`` and some twenty more) from source on every import: about 50 ms of a stat
task's 150 ms on a lab host. A real host pays that too, on its own CPU. The lab's hosts share the
controller's cores, so in the test suite that compile is most of the machine's time; with
``HOMELAB_LAB_BYTECODE_CACHE=1`` at ``homelab lab up`` each host keeps the compiled code, keyed by a hash of
the source, and the next task unmarshals it instead (docs/LAB.md, "Speed").

What a module does is unchanged: the same source gives the same code object, and its file name is set to
the zip it came from this time, as a ``.pyc`` loaded from a moved directory is. Only zipimport's compile is
replaced; anything that goes wrong with the cache falls back to compiling.
"""

from __future__ import annotations

import _imp
import marshal
import os
import sys
import zipimport

#: Made by the lab (root, mode 1777); each user keeps a directory of its own inside, so code one user
#: cached is never run by another.
ROOT = "/var/cache/homelab-lab-bytecode"
#: The .pth line that loads this module at every interpreter start (site-packages runs "import" lines).
PTH_LINE = "import homelab_lab_bytecode; homelab_lab_bytecode.install()\n"


def _key(source: bytes) -> str:
    """The cached file's name: the interpreter's bytecode magic and optimisation level (code compiled for
    one is not valid for another) and the SipHash of the source that hash-based .pyc files use."""
    from importlib.util import MAGIC_NUMBER

    digest = _imp.source_hash(int.from_bytes(MAGIC_NUMBER[:2], "little"), source)
    return f"{MAGIC_NUMBER.hex()}-{sys.flags.optimize}-{digest.hex()}"


def _private_directory(path: str) -> bool:
    """Make ``path`` if needed; true only when it is a real directory this user owns and no one else can
    write to or read: a directory someone else made first (the root is shared) is not trusted."""
    import stat

    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        found = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(found.st_mode) and found.st_uid == os.getuid() and not found.st_mode & 0o077


def install(root: str = ROOT) -> None:
    """Put the cache in front of zipimport's compile, for this interpreter only."""
    compile_source = getattr(zipimport, "_compile_source", None)
    if compile_source is None or getattr(compile_source, "homelab_cached", False):
        return  # another Python's zipimport, or already installed
    directory = os.path.join(root, str(os.getuid()))
    usable: bool | None = None  # decided at the first compile, then kept for the process

    def cached(pathname: str, source: bytes):
        nonlocal usable
        if usable is None:
            usable = _private_directory(directory)
        if not usable:
            return compile_source(pathname, source)
        name = os.path.join(directory, _key(source))
        try:
            with open(name, "rb") as fh:
                code = marshal.loads(fh.read())
            _imp._fix_co_filename(code, pathname)  # type: ignore[attr-defined]  # what importlib uses for .pyc
            return code
        except (OSError, ValueError, EOFError, TypeError):
            pass  # not cached yet, or unreadable: compile as zipimport would
        code = compile_source(pathname, source)
        try:
            temp = f"{name}.{os.getpid()}"
            with open(temp, "wb") as fh:
                fh.write(marshal.dumps(code))
            os.replace(temp, name)  # whole or absent: a reader never sees a half-written file
        except OSError:
            pass
        return code

    cached.homelab_cached = True  # type: ignore[attr-defined]
    zipimport._compile_source = cached  # type: ignore[attr-defined]
