"""The one place that talks to ruamel.yaml.

Files people edit by hand are read in round-trip mode so every value keeps
the line and column it came from: validation errors can then point at
``file:line:col``. The writer that puts discovered values back into such
files without disturbing anything else is :mod:`planner.yamlio.edit` (text),
with :mod:`planner.yamlio.files` (the file on disk), :mod:`planner.yamlio.reading`
(plain data as Ansible reads it) and :mod:`planner.yamlio.text` (how values are spelled).
ruamel.yaml is imported on first use to keep ``homelab --help`` fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Location:
    """A 1-based position in a file, printed as ``file:line:col``."""

    path: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.col}"


def vault_encrypted(value: Any) -> bool:
    """Whether ``value`` (a file's text, or what it loaded as) is a file encrypted whole with ansible-vault.

    Such a file reads as YAML all the same: one long string. Nothing here decrypts it.
    """
    return isinstance(value, str) and value.lstrip().startswith("$ANSIBLE_VAULT;")


class YamlSyntaxError(Exception):
    """A file is not valid YAML (or has a duplicate key); carries where."""

    def __init__(self, location: Location, problem: str):
        super().__init__(f"{location}: {problem}")
        self.location = location
        self.problem = problem


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    # Duplicate keys are a mistake in a hand-kept inventory: refuse them
    # instead of silently keeping the last one, as Ansible does.
    yaml.allow_duplicate_keys = False
    return yaml


def load(path: Path, display: str | None = None) -> Any:
    """Load one YAML file in round-trip mode; raise YamlSyntaxError with its position.

    A file over the limits of :mod:`planner.yamlio.limits` raises its YamlLimitError instead.
    """
    from ruamel.yaml.error import MarkedYAMLError, YAMLError
    from ruamel.yaml.reader import ReaderError

    from planner.yamlio.limits import check_file

    shown = display or str(path)
    check_file(path, shown)  # an alias bomb must be refused before anything walks what it loads as
    try:
        with path.open("rb") as fh:
            return _yaml().load(fh)
    except ReaderError as err:  # not text: a binary file or a wrong encoding
        raise YamlSyntaxError(Location(shown, 1, 1), f"not readable as YAML text: {err}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as err:
        raise YamlSyntaxError(Location(shown, 1, 1), f"cannot be read: {err}") from None
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = " ".join(str(p).strip() for p in (err.context, err.problem) if p)
        problem = problem.replace("\n", " ") or "invalid YAML"
        duplicate = re.search(r'found duplicate key "(.*?)"', problem)
        if duplicate:
            first = f" (in the mapping that starts at line {err.context_mark.line + 1})" if err.context_mark else ""
            problem = f"duplicate key {duplicate.group(1)!r}{first}; Ansible would silently keep only the last"
        raise YamlSyntaxError(Location(shown, line, col), problem) from None
    except YAMLError as err:
        raise YamlSyntaxError(Location(shown, 1, 1), str(err).replace("\n", " ")) from None


def load_data(path: Path, display: str | None = None) -> Any:
    """What :func:`load` gives for the file, for readers that need no line and column: libyaml reads it (twenty
    times faster) where it can promise ruamel's values, :func:`load` itself everywhere else.

    The same bounds are checked first, and every error is :func:`load`'s own, with its position.
    :func:`locate` on what this returns finds no positions (the containers are plain dicts and lists).
    """
    return load_data_and(path, None, display)[0]


def load_data_and(path: Path, key: str | None, display: str | None = None) -> tuple[Any, Any]:
    """:func:`load_data`'s document, and the value of its top-level ``key`` as
    :func:`planner.yamlio.reading.load_fast` would read the file (Ansible's YAML 1.1), from one read and one
    parse where libyaml can promise both. The second is :data:`planner.yamlio.quick.UNSURE` where it cannot
    (and without a ``key``): the caller reads the file the slow way for it.
    """
    from planner.yamlio.limits import _read_bounded, expanded_nodes
    from planner.yamlio.quick import UNSURE, _Unsure, read_both

    shown = display or str(path)
    data = _read_bounded(path, shown)  # refuses an oversized file from its size, as load does
    if data is not None:
        expanded_nodes(data, shown)  # an alias bomb is refused before anything is built
        try:
            return read_both(data, shown, key)
        except _Unsure:
            pass
    return load(path, display), UNSURE


def location_of(node: Any, key: Any, display: str, at_key: bool = False) -> Location | None:
    """Where ``node[key]`` is written (its value, else its key; the key itself with ``at_key``)."""
    lc = getattr(node, "lc", None)
    if lc is None:
        return None
    try:
        if at_key and not isinstance(key, int):
            line, col = lc.key(key)
        elif isinstance(key, int):
            line, col = lc.item(key)
        else:
            line, col = lc.value(key)
    except (KeyError, IndexError, TypeError, AttributeError):
        try:
            line, col = lc.key(key)
        except (KeyError, IndexError, TypeError, AttributeError):
            return None
    return Location(display, line + 1, col + 1)


def locate(doc: Any, path: tuple[Any, ...], display: str, at_key: bool = False) -> Location:
    """Best position for a path into a loaded document (deepest node that exists).

    With ``at_key`` the last step points at the key rather than its value
    (for "unknown key" errors).
    """
    best = Location(display, 1, 1)
    node = doc
    for i, key in enumerate(path):
        loc = location_of(node, key, display, at_key=at_key and i == len(path) - 1)
        if loc is not None:
            best = loc
        try:
            node = node[key]
        except (KeyError, IndexError, TypeError):
            break
    return best


def plain(value: Any) -> Any:
    """Convert round-trip containers and scalars to plain Python types (for pydantic)."""
    from ruamel.yaml.comments import TaggedScalar

    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, TaggedScalar):
        tag = value.tag.value if hasattr(value.tag, "value") else value.tag
        if tag == "!unsafe":
            # Ansible reads it as the plain string (it only refuses to template it)
            return str(value.value)
        # e.g. !vault: keep the tag visible, never the decrypted value
        return f"{tag} <tagged>"
    from ruamel.yaml.scalarbool import ScalarBoolean

    if isinstance(value, ScalarBoolean):  # an anchored boolean: an int subclass that means True/False
        return bool(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


def dump_plain(data: Any) -> str:
    """Serialise plain data (dicts, lists, scalars) as block-style YAML, keys in insertion order."""
    import io

    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # ruamel initialises this to None ("sort") and so types it None; False is the value it documents.
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue()
