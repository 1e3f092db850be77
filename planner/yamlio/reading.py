"""Reading YAML as Ansible reads it, and comparing values the way YAML keeps them apart.

YAML 1.1 like Ansible (``yes`` is a boolean, ``0755`` is octal), the last of
duplicate keys wins, ``!unsafe`` values read as their plain text would
(the tag only marks them untrusted), and ``!vault`` and other local tags
become a :class:`Tagged` holding their text: nothing is decrypted. The
composer also records where aliases and vaulted values sit, for the writer
in :mod:`planner.yamlio.edit`. ruamel.yaml is imported on first use.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

from planner.yamlio import Location, YamlSyntaxError, vault_encrypted
from planner.yamlio.text import _RESOLVERS, Tagged, YamlEditError, implicit_tag

__all__ = ["NO_QUICK_READ", "Lined", "load_fast", "load_lined", "load_text"]


@dataclass(eq=False)
class _Alias:
    """One ``*name`` in the text (the composer hands back the anchored node itself)."""

    target: Any
    name: str
    start: int
    end: int
    line: int
    column: int

    @classmethod
    def at(cls, target: Any, event: Any) -> _Alias:
        """The alias ``event`` (ruamel's or libyaml's: both mark it alike) to the node ``target``."""
        return cls(target, event.anchor, event.start_mark.index, event.end_mark.index, event.start_mark.line,
                   event.start_mark.column)


@functools.cache
def _ruamel() -> Any:
    """The ruamel pieces, built on first use so that reading commands don't pay for them."""
    from types import SimpleNamespace

    from ruamel.yaml import YAML
    from ruamel.yaml.composer import Composer
    from ruamel.yaml.constructor import SafeConstructor
    from ruamel.yaml.error import MarkedYAMLError
    from ruamel.yaml.events import AliasEvent
    from ruamel.yaml.nodes import MappingNode, ScalarNode, SequenceNode
    from ruamel.yaml.resolver import VersionedResolver

    class Resolver11(VersionedResolver):
        @property
        def processing_version(self) -> Any:
            return (1, 1)

        @property
        def versioned_resolver(self) -> Any:
            return _RESOLVERS

    class SpanComposer(Composer):
        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.parser.check_event(AliasEvent):
                event = self.parser.peek_event()
                if event.anchor in self.anchors:
                    self.parser.get_event()
                    ref = _Alias.at(self.anchors[event.anchor], event)
                    self.loader.span_aliases.append(ref)
                    return ref
            node = super().compose_node(parent, index)
            if node.tag == "!vault":
                self.loader.span_vaults.append(node)
            return node

    class PlainConstructor(SafeConstructor):
        def check_mapping_key(self, node: Any, key_node: Any, mapping: Any, key: Any, value: Any) -> bool:
            return True  # as Ansible: the last of duplicate keys wins

        def construct_tagged(self, node: Any) -> Any:
            if isinstance(node, ScalarNode):
                if node.tag == "!unsafe":
                    return _construct_unsafe(self, node)
                return Tagged(str(node.tag), str(self.construct_scalar(node)))
            if isinstance(node, SequenceNode):
                return [self.construct_object(child, deep=True) for child in node.value]
            return self.construct_mapping(node, deep=True)

    PlainConstructor.add_constructor(None, PlainConstructor.construct_tagged)
    return SimpleNamespace(YAML=YAML, Resolver=Resolver11, Composer=SpanComposer, Constructor=PlainConstructor,
                           MarkedYAMLError=MarkedYAMLError, MappingNode=MappingNode, ScalarNode=ScalarNode,
                           SequenceNode=SequenceNode)


def _construct_unsafe(constructor: Any, node: Any) -> Any:
    # Ansible marks the value untrusted but resolves its text as if it were
    # plain: `!unsafe '123'` is the int 123 and `!unsafe ''` is None.
    build = constructor.yaml_constructors.get(implicit_tag(node.value))
    return build(constructor, node) if build else str(node.value)


def _marked(err: Any, display: str) -> Location:
    mark = err.problem_mark or err.context_mark
    return Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)


def _refuse_vault_file(text: str, display: str) -> None:
    if vault_encrypted(text):
        raise YamlEditError("the whole file is encrypted with ansible-vault", Location(display, 1, 1),
                            "keep machine-written values in an unencrypted file next to it")


def _load_plain(text: str, display: str, pure: bool = False) -> Any:
    from planner.yamlio.limits import check_text

    check_text(text, display)  # refuse an alias bomb before the constructor builds what expands it
    r = _ruamel()
    yaml = r.YAML(typ="safe", pure=pure)
    yaml.Resolver = r.Resolver
    yaml.Constructor = r.Constructor
    yaml.allow_duplicate_keys = True
    try:
        return yaml.load(text)
    except r.MarkedYAMLError as err:
        problem = " ".join(str(p).strip() for p in (err.context, err.problem) if p) or "invalid YAML"
        raise YamlSyntaxError(_marked(err, display), problem.replace("\n", " ")) from None


@functools.cache
def _libyaml_loader() -> Any:
    """PyYAML's libyaml loader (the one Ansible reads YAML with) taught the tags :func:`_load_plain` knows.

    Its C parser is about twenty times faster than ruamel's pure-Python one (ruamel's C extension is not
    installed); None when PyYAML was built without libyaml.
    """
    import yaml

    base = getattr(yaml, "CSafeLoader", None)
    if base is None:
        return None

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    def unsafe(loader: Any, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return _construct_unsafe(loader, node)
        if isinstance(node, yaml.SequenceNode):
            return loader.construct_sequence(node, deep=True)
        return loader.construct_mapping(node, deep=True)

    def local(loader: Any, suffix: str, node: Any) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return Tagged("!" + suffix, str(loader.construct_scalar(node)))
        return unsafe(loader, node)

    Loader.add_constructor("!unsafe", unsafe)
    Loader.add_multi_constructor("!", local)
    return Loader


class Lined(list[Any]):
    """A YAML sequence read by :func:`load_lined`, with the line (1-based) each of its items starts on."""

    lines: list[int]


@functools.cache
def _lined_loader() -> Any:
    """:func:`_libyaml_loader` whose sequences are :class:`Lined`; None without libyaml."""
    base = _libyaml_loader()
    if base is None:
        return None

    class Loader(base):  # type: ignore[misc,valid-type]
        pass

    def sequence(loader: Any, node: Any) -> Any:
        data = Lined()
        data.lines = [item.start_mark.line + 1 for item in node.value]
        yield data  # first the empty list, then its items: how PyYAML builds a sequence an alias may repeat
        data.extend(loader.construct_sequence(node))

    Loader.add_constructor("tag:yaml.org,2002:seq", sequence)
    return Loader


def load_lined(path: Path) -> Any:
    """A YAML file's data as Ansible reads it (:func:`load_fast`), each sequence a :class:`Lined`: the line
    every item starts on is the one Ansible names a task by (``task_path``), where its own PyYAML loader
    put the item's start. :data:`NO_QUICK_READ` where libyaml cannot read the text (not YAML, not UTF-8):
    the caller reads it with ruamel's round-trip loader for its data and its error."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return NO_QUICK_READ
    return _quick_plain(text, str(path), _lined_loader())


#: What the libyaml readings answer for text they leave to the round-trip reader.
NO_QUICK_READ = object()


def _quick_plain(text: str, display: str, loader: Any = None) -> Any:
    """:func:`_load_plain`'s data read by libyaml (by ``loader``, :func:`_libyaml_loader`'s by default), or
    :data:`NO_QUICK_READ` where it cannot say.

    Readers fall back to :func:`_load_plain` for text libyaml refuses, so its errors stay the ones people
    see; the writer's read-back, which has the expected data at hand, also asks it when the quick reading
    does not agree.
    """
    from planner.yamlio.limits import check_text

    loader = loader or _libyaml_loader()
    if loader is None:
        return NO_QUICK_READ
    check_text(text, display)  # as _load_plain: an alias bomb is refused before anything walks what it loads as
    import yaml

    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader with constructors added
    except (yaml.YAMLError, ValueError, TypeError):
        return NO_QUICK_READ


def load_fast(path: Path) -> Any:
    """Read a YAML file to plain data, as Ansible would, for callers that write nothing back.

    YAML 1.1 like Ansible; libyaml, the C parser Ansible reads YAML with. ``!unsafe``
    values read as Ansible reads them (the tag only marks them untrusted);
    ``!vault`` and other local tags become a :class:`Tagged` holding their text
    (nothing is decrypted). A file encrypted as a whole raises
    :class:`YamlSyntaxError`, like a file that is not YAML.
    """
    text = path.read_text(encoding="utf-8-sig")
    if vault_encrypted(text):
        raise YamlSyntaxError(Location(str(path), 1, 1), "the whole file is encrypted with ansible-vault")
    return load_text(text, str(path))


def load_text(text: str, display: str) -> Any:
    """Plain data from YAML text that is not a file of its own (a decrypted vault file), as :func:`load_fast`.

    libyaml reads it (it reads the 27 public inventories of the test corpus and every YAML file of the
    project to the same data); text it refuses goes to the reference reader, for its answer or its error
    with file:line:col.
    """
    data = _quick_plain(text, display)
    return _load_plain(text, display) if data is NO_QUICK_READ else data


def _unshare(value: Any) -> Any:
    # Aliases load as one shared object; the expected document must not change
    # the other places when one is set.
    if isinstance(value, Mapping):
        return {k: _unshare(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_unshare(v) for v in value]
    return value


def _hk(value: Any) -> Any:
    """A dict key that keeps apart what YAML keeps apart (``1``, ``true``, ``'1'``)."""
    if value is None:
        return ("null",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, Tagged):
        return ("tagged", value.tag, str(value))
    if isinstance(value, int):
        return ("int", int(value))
    if isinstance(value, str):
        return ("str", str(value))
    if isinstance(value, (float, date)):
        return (type(value).__name__, value)
    return ("other", repr(value))


# The kinds that must match exactly; typed Any so the checker does not narrow ``a`` and ``b`` to object.
_SCALAR_KINDS: tuple[Any, ...] = (int, float, str, bytes)


def _same_value(a: Any, b: Any) -> bool:
    """Equal in value *and* kind: ``True`` is not ``1``, ``'1'`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return type(a) is type(b) and a == b
    if isinstance(a, Tagged) or isinstance(b, Tagged):
        return isinstance(a, Tagged) and isinstance(b, Tagged) and a == b
    for kind in _SCALAR_KINDS:
        if isinstance(a, kind) or isinstance(b, kind):
            if not (isinstance(a, kind) and isinstance(b, kind)):
                return False
            if kind is float and math.isnan(a) and math.isnan(b):
                return True
            return kind(a) == kind(b)
    if isinstance(a, (date, datetime)):
        return type(a) is type(b) and a == b
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        bk = {_hk(k): v for k, v in b.items()}
        return len(a) == len(bk) and all(_hk(k) in bk and _same_value(v, bk[_hk(k)]) for k, v in a.items())
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same_value(x, y) for x, y in zip(a, b, strict=True))
    return False
