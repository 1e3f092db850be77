"""A plan carries its inputs: a content-addressed snapshot of exactly the files its runs read.

Like Terraform's saved plan, which carries a snapshot of its configuration,
the check run of a plan and every apply of it run from the same snapshot,
never from the working tree. The files are those
:func:`~planner.plans.digests.input_files` names (playbooks with what Ansible
reads next to them, the roles used, the project's collections, the
inventory, ansible.cfg), laid out in a fixed shape so that the shipped
ansible.cfg's relative paths resolve inside it::

    project/ansible.cfg  playbooks/  roles/  collections/  inventory/

Each file's bytes are stored once, zlib-compressed, under
``.homelab/objects/<sha[:2]>/<sha[2:]>`` (named by the sha256 of the
uncompressed bytes, so plans share what they have in common); the snapshot
itself is a manifest (path → object, executable bit, where it came from)
held in the sealed plan, identified by its own sha256. host_vars files are
stored without the tool-owned ``discovered:`` block, so a stored object's
name is exactly the staleness digest of that file.

No private key or vault password is ever stored: they are not among the
inputs (the lab's key and known_hosts live in the lab directory, named by
path in its inventory file; a vault password file is passed by path).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import zlib
from pathlib import Path

from planner.errors import ExitCode, HomelabError
from planner.paths import private_file
from planner.plans.digests import InputFile
from planner.plans.planfile import Snapshot, SnapshotFile

#: zlib level 6: the default; level 9 saves under 1 % on this content and costs twice the time.
_LEVEL = 6


class SnapshotError(HomelabError):
    """A plan's snapshot cannot be materialized exactly: an object is missing or damaged."""

    exit_code = ExitCode.REFUSED


def objects_dir(state: Path) -> Path:
    """Where snapshot objects live, shared by every plan of the checkout."""
    return state / "objects"


def _object_path(state: Path, sha256: str) -> Path:
    return objects_dir(state) / sha256[:2] / sha256[2:]


def manifest_id(inventory: str, files: dict[str, SnapshotFile]) -> str:
    """sha256 of a manifest's canonical JSON: the snapshot's id."""
    doc = {"inventory": inventory, "files": {k: v.model_dump(mode="json") for k, v in sorted(files.items())}}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _store(state: Path, item: InputFile) -> None:
    path = _object_path(state, item.sha256)
    if path.exists():  # content-addressed: the same bytes are stored already (by this plan or another)
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with os.fdopen(private_file(tmp), "wb") as fh:  # owner-only, like all state: inputs hold the inventory
        fh.write(zlib.compress(item.data, _LEVEL))
    tmp.replace(path)  # atomic: a reader never sees half an object


def build(state: Path, files: list[InputFile], inventory: str) -> Snapshot:
    """Store every file's bytes as an object (once) and return the snapshot's manifest."""
    entries = {}
    for item in files:
        _store(state, item)
        entries[item.path] = SnapshotFile(sha256=item.sha256, executable=item.executable, source=item.display)
    return Snapshot(id=manifest_id(inventory, entries), inventory=inventory, files=entries)


def stored_size(state: Path, snapshot: Snapshot) -> int:
    """Bytes the snapshot's objects take on disk (each distinct object once)."""
    shas = {f.sha256 for f in snapshot.files.values()}
    return sum(p.stat().st_size for p in (_object_path(state, s) for s in shas) if p.exists())


def _safe_place(project: Path, name: str) -> Path:
    # The manifest is sealed with the plan; this still keeps a crafted one from writing outside the directory.
    parts = Path(name).parts
    if not parts or Path(name).is_absolute() or ".." in parts:
        raise SnapshotError(f"the plan's snapshot names a path outside its directory: {name!r}",
                            "the plan file is damaged; homelab plan again")
    return project / name


def _read_object(state: Path, name: str, item: SnapshotFile) -> bytes:
    path = _object_path(state, item.sha256)
    hint = f"objects under {objects_dir(state)} were removed or changed; homelab plan again"
    try:
        data = zlib.decompress(path.read_bytes())
    except FileNotFoundError:
        raise SnapshotError(f"the plan's snapshot is incomplete: {name} (object {item.sha256[:12]}) is missing",
                            hint) from None
    except (OSError, zlib.error) as err:
        raise SnapshotError(f"the plan's snapshot is damaged: {name} (object {item.sha256[:12]}) cannot be read"
                            f" ({err})", hint) from None
    if hashlib.sha256(data).hexdigest() != item.sha256:
        raise SnapshotError(f"the plan's snapshot is damaged: {name} (object {item.sha256[:12]}) does not match"
                            " its digest", hint)
    return data


def _check_id(snapshot: Snapshot) -> None:
    if manifest_id(snapshot.inventory, snapshot.files) != snapshot.id:
        raise SnapshotError(f"the plan's snapshot manifest does not match its id {snapshot.id[:12]}",
                            "the plan file is damaged; homelab plan again")


def verify(state: Path, snapshot: Snapshot) -> None:
    """Refuse (:class:`SnapshotError`) unless every object of the snapshot is there and intact; writes nothing."""
    _check_id(snapshot)
    for name, item in sorted(snapshot.files.items()):
        _read_object(state, name, item)


def materialize(state: Path, snapshot: Snapshot, dest: Path) -> Path:
    """Write the snapshot into ``dest`` (a new directory, 0700) and return it; every object is verified as read.

    On any error nothing is left behind and :class:`SnapshotError` says which file.
    """
    _check_id(snapshot)
    dest.mkdir(mode=0o700)
    try:
        for name, item in sorted(snapshot.files.items()):
            target = _safe_place(dest, name)
            data = _read_object(state, name, item)
            os.makedirs(target.parent, mode=0o700, exist_ok=True)
            target.write_bytes(data)
            target.chmod(0o700 if item.executable else 0o600)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    return dest
