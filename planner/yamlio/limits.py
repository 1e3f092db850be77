"""Bounds on the YAML the tool reads: no alias bombs, no oversized documents.

A "billion laughs" document is small on disk: nine anchors, each a list of
nine aliases to the one before, expand to 9⁹ (387 million) nodes. Parsing it
is cheap — aliases load as shared objects — but anything that walks the
loaded data as a tree expands it: converting round-trip containers to plain
data for validation, pydantic, ``copy.deepcopy``, ``json.dumps``, and
Ansible's own variable merging when it reads the inventory for a run. So
every YAML file a person hands the tool is measured first, from the parser's
event stream (nothing is composed or expanded), and refused when its expanded
size or its file size passes the limits below. Both limits are far above any
real inventory (the biggest host_vars file in a homelab is a few hundred
nodes), and the check costs one linear pass over the events.
"""

from __future__ import annotations

from pathlib import Path

from planner.errors import ExitCode, HomelabError

#: The largest YAML file read (bytes). A hand-kept inventory file is kilobytes.
MAX_BYTES = 10 * 1024 * 1024
#: The most nodes a document may have once every alias is expanded.
MAX_EXPANDED_NODES = 100_000


class YamlLimitError(HomelabError):
    """A YAML file is too large, or expands to too much through its aliases."""

    exit_code = ExitCode.USAGE


def _too_big(display: str, what: str) -> YamlLimitError:
    return YamlLimitError(f"{display}: {what}; homelab refuses to read it",
                          "a YAML alias bomb or a file that is not an inventory: remove the repeated aliases "
                          "(or split the data), or take the file out of the inventory/catalog")


def expanded_nodes(text: str | bytes, display: str, limit: int = MAX_EXPANDED_NODES) -> int:
    """Nodes the document(s) in ``text`` hold with every alias expanded, counted without expanding.

    Each anchored node's expanded size is recorded when it ends; an alias adds that size. Raises
    :class:`YamlLimitError` as soon as the count passes ``limit``. Text without anchors returns 0 at
    once. Text that is not YAML counts what parsed before the error (the caller's own load reports
    the syntax error with its position).
    """
    # PyYAML's libyaml parser, the one Ansible reads inventories with, is 20 times faster than ruamel's pure
    # Python one (ruamel's C extension is not installed): a 10 MB file is counted in seconds, not minutes.
    import yaml
    from yaml import YAMLError
    from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, DocumentStartEvent, ScalarEvent

    if (b"&" not in text) if isinstance(text, bytes) else ("&" not in text):
        return 0  # no anchor, no alias to expand: the document is as big as its text, which is bounded
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    sizes: dict[str, int] = {}
    # One frame per open collection: [anchor, nodes so far]; the bottom frame is the stream.
    stack: list[list] = [[None, 0]]
    total = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, DocumentStartEvent):
                sizes.clear()  # anchors are per document
            elif isinstance(event, (ScalarEvent, AliasEvent)):
                size = sizes.get(event.anchor, 1) if isinstance(event, AliasEvent) else 1
                if isinstance(event, ScalarEvent) and event.anchor:
                    sizes[event.anchor] = 1
                stack[-1][1] += size
                total += size
            elif isinstance(event, CollectionStartEvent):
                stack.append([event.anchor, 1])
                total += 1
            elif isinstance(event, CollectionEndEvent) and len(stack) > 1:
                anchor, size = stack.pop()
                if anchor:
                    sizes[anchor] = size
                stack[-1][1] += size
            if total > limit:
                raise _too_big(display, f"its aliases expand to more than {limit:,} nodes")
    except YAMLError:
        pass
    return total


def check_text(text: str | bytes, display: str) -> None:
    """Refuse ``text`` (a YAML file's content) when it is over :data:`MAX_BYTES` or expands too far."""
    if len(text) > MAX_BYTES:
        raise _too_big(display, f"it is {len(text):,} bytes, more than the {MAX_BYTES:,} a YAML file may be")
    expanded_nodes(text, display)


def check_file(path: Path, display: str | None = None) -> None:
    """:func:`check_text` for a file, its size taken from the file system before anything is read."""
    shown = display or str(path)
    data = _read_bounded(path, shown)
    if data is not None:
        expanded_nodes(data, shown)


def _read_bounded(path: Path, shown: str) -> bytes | None:
    """The file's bytes, refused from its size before anything is read; None when it cannot be read (the
    caller's own read reports what is wrong with it)."""
    try:
        size = path.stat().st_size
    except OSError:
        return None
    if size > MAX_BYTES:
        raise _too_big(shown, f"it is {size:,} bytes, more than the {MAX_BYTES:,} a YAML file may be")
    try:
        return path.read_bytes()
    except OSError:
        return None


def check_tree(directory: Path, suffixes: tuple[str, ...] = (".yml", ".yaml", ".json", "")) -> None:
    """:func:`check_file` for every YAML file below ``directory`` (an inventory, as Ansible will read it).

    Files without a suffix count too: Ansible reads ``group_vars/all`` and friends whatever they are named.
    Vault-encrypted files are one scalar to the parser, so they pass; their plaintext is checked when decrypted.
    """
    if directory.is_file():
        check_file(directory)
        return
    if not directory.is_dir():
        return
    from planner.paths import files_below

    for path in files_below(directory):
        if path.suffix in suffixes:
            data = _read_bounded(path, str(path))  # read once for both checks
            if data is not None:
                expanded_nodes(data, str(path))
                _check_text(data, path)


def _check_text(data: bytes, path: Path) -> None:
    """Refuse a file Ansible would skip or choke on only when a run reads it: a NUL byte or bytes that are not
    UTF-8. Ansible reads host_vars and group_vars lazily, so a plan that resolves its hosts would otherwise be
    saved from an inventory whose variables no run can load."""
    where = data.find(b"\0")
    if where < 0:
        try:
            data.decode("utf-8")
            return
        except UnicodeDecodeError as err:
            where, what = err.start, f"byte 0x{data[err.start]:02x} is not UTF-8"
    else:
        what = "a NUL byte"
    line = data.count(b"\n", 0, where) + 1
    raise YamlLimitError(f"{path}:{line}: {what}; homelab refuses to read the file",
                         "save the file as UTF-8 text (an inventory is text: YAML or an INI file), or take a file "
                         "that is not one out of the inventory")
