"""The catalog: the vetted playbooks a plan may use, read from their sidecars.

A playbook is pickable when ``playbooks/<id>.yml`` has ``playbooks/<id>.meta.yml``.
The sidecar is ansible-core's play argument spec file (enforced at run time by
``validate_argspec``) plus the keys the planner needs: a description written
for a model, example intents, tags, the risk (``read`` | ``change``) and, for
deployments, the tier. Variables are declared once, as argument spec options;
schemas, validation and docs are built from them.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationInfo, field_validator
from pydantic import ValidationError as PydanticValidationError

from planner import yamlio
from planner.errors import CatalogError, did_you_mean

META_SUFFIX = ".meta.yml"

# The option types Ansible's argument spec validator accepts
# (ansible.module_utils.common.parameters.DEFAULT_TYPE_VALIDATORS). Listed here
# rather than imported so loading the catalog does not import ansible; a unit
# test keeps the two in step.
ANSIBLE_OPTION_TYPES = ("str", "list", "dict", "bool", "int", "float", "path", "raw", "jsonarg", "json", "bytes",
                        "bits")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


def _check_type(value: str | None) -> str | None:
    if value is not None and value not in ANSIBLE_OPTION_TYPES:
        hint = did_you_mean(value, ANSIBLE_OPTION_TYPES, cutoff=0.5) or f" (one of {', '.join(ANSIBLE_OPTION_TYPES)})"
        raise ValueError(f"{value!r} is not an Ansible option type{hint}")
    return value


class OptionSpec(BaseModel):
    """One variable of a playbook, in Ansible's argument spec format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Text | list[Text]
    type: str = "str"
    required: bool = False
    default: Any = None
    choices: list[Any] | None = None
    elements: str | None = None
    options: dict[str, OptionSpec] | None = None
    no_log: bool = False
    version_added: str | None = None
    # The rest of what Ansible's argument spec validator accepts, so a valid spec is never refused here.
    aliases: list[str] = []
    deprecated_aliases: list[dict[str, Any]] = []
    removed_in_version: str | None = None
    removed_at_date: str | None = None
    removed_from_collection: str | None = None
    apply_defaults: bool = False
    mutually_exclusive: list[list[str]] = []
    required_together: list[list[str]] = []
    required_one_of: list[list[str]] = []
    required_if: list[list[Any]] = []
    required_by: dict[str, str | list[str]] = {}

    _type = field_validator("type", "elements")(_check_type)


class ArgumentSpec(BaseModel):
    """A named argument spec (one per play that validates its arguments)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    short_description: Text
    description: Text | list[Text] | None = None
    author: str | list[str] | None = None
    options: dict[str, OptionSpec] = {}
    version_added: str | None = None
    notes: list[Text] = []
    seealso: list[dict[str, Any]] = []
    requirements: list[Text] = []
    mutually_exclusive: list[list[str]] = []
    required_together: list[list[str]] = []
    required_one_of: list[list[str]] = []
    required_if: list[list[Any]] = []
    required_by: dict[str, str | list[str]] = {}


class OfflineVariable(BaseModel):
    """How the offline planner fills one variable: an extractor of planner/planning/extractors.py."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extractor: str
    near: list[Text] = []  # the value counts only a few words from one of these, in the same sentence
    not_near: list[Text] = []  # the value these words would pick is another variable's, never this one
    merge_with_default: bool = False  # a map read from the request updates the default map instead of replacing it
    #: The setting of .homelab/config.yml the ``config`` extractor reads. Such a variable is *fixed*: no request
    #: and no model chooses it, and every planner's draft gets the configured value (planner.planning.fixed).
    key: str | None = Field(None, validate_default=True)
    #: The field of the named service's record (its recorded trial, else its recipe) a variable takes: with
    #: ``service_record`` always; with any other extractor only when the request's words give no value.
    field: str | None = None

    @field_validator("extractor")
    @classmethod
    def _known(cls, value: str) -> str:
        from planner.planning.extractors import EXTRACTORS

        if value not in EXTRACTORS:
            hint = did_you_mean(value, EXTRACTORS, cutoff=0.5) or f" (one of {', '.join(EXTRACTORS)})"
            raise ValueError(f"unknown extractor {value!r}{hint}")
        return value

    @field_validator("key")
    @classmethod
    def _setting(cls, value: str | None, info: ValidationInfo) -> str | None:
        from planner.config import SETTINGS

        if (value is None) != (info.data.get("extractor") != "config"):
            raise ValueError("key goes with the config extractor, and the config extractor needs one")
        if value is not None and value not in SETTINGS:
            raise ValueError(f"{value!r} is no setting{did_you_mean(value, SETTINGS)} (one of {', '.join(SETTINGS)})")
        return value


class OfflinePlacement(BaseModel):
    """Where a workload goes when the request names no host: chosen from the facts (planning/placement.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: gpu: a GPU recipe goes where enough GPU memory is free; recorded: where the service's recorded trial runs.
    #: diagnosed: the host whose written-back diagnosis found runaway processes, the newest (planning/diagnoses.py).
    kind: Literal["gpu", "recorded", "diagnosed"]
    recipe_variable: str | None = None  # the variable that names the service, whose recipe holds the estimate
    #: A read entry run first on every host, so the review shows the live report the choice stands on.
    check: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")] | None = None
    #: The check's variables, each from a field of the estimate (gpu_mib, memory_mib).
    check_variables: dict[str, Literal["gpu_mib", "memory_mib"]] = {}


class OfflineHints(BaseModel):
    """What the offline planner needs beyond the description and examples: so a new entry needs no code."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9'-]*$")]] = []
    phrases: dict[Annotated[str, StringConstraints(pattern=r"^[a-z0-9'][a-z0-9' -]*$")],
                  Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+$")]] = {}
    variables: dict[str, OfflineVariable] = {}
    #: Words (or phrases' terms) a request must share with the entry for it to be chosen at all, when the entry
    #: looks at the same things as another but only at one moment: the check after an upgrade reads NICs as a
    #: plain look at the hardware does, and is no answer to "show me the NICs" unless the request says "after".
    requires: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9'-]*$")]] = []
    placement: OfflinePlacement | None = None
    #: The entry that removes what a recorded trial left, once this one runs the service for good: the plan
    #: lists it on the person's checklist (a promotion reads the trial's record, see service_record).
    retires: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")] | None = None
    #: The hosts (a host pattern, usually a group) a change targets when the request names none, instead of
    #: asking "Which hosts?": a GitOps change is for the k3s cluster whatever words ask for it.
    default_limit: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]+$")] | None = None


class ActsOn(BaseModel):
    """The variables of which a step must set one, non-empty, or it would change nothing."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    variables: Annotated[list[str], Field(min_length=1)]
    #: Where the values come from, for the person; ``{limit}`` is the step's hosts.
    hint: Text


class CatalogMeta(BaseModel):
    """A ``<id>.meta.yml`` sidecar: what the planner knows about one playbook."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=20)]
    examples: Annotated[list[Text], Field(min_length=1)]
    tags: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$")]] = []
    risk: Literal["read", "change"]
    tier: Literal["k3s", "orchestrator"] | None = None
    argument_specs: Annotated[dict[str, ArgumentSpec], Field(min_length=1)]
    offline: OfflineHints = OfflineHints()
    #: What a read playbook's findings refresh in each host's ``discovered:`` block, written back when it
    #: runs during review: ``all`` (as gather_facts), or section names of planner.inventory.discovered.
    refreshes: Literal["all"] | list[str] = []
    #: The playbook needs every host (it reads the whole topology): planners target all hosts, and the hosts a
    #: request names fill its variables instead (which hosts wait, say).
    whole_inventory: bool = False
    #: Catalog entries a planner adds as later steps, with the same targets, whenever it picks this one.
    companions: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]] = []
    #: Manual rules (planner.planning.rules) whose work this read playbook assesses: a request the rule takes as
    #: work for a person may still get this step, and its hands-on part stays a checklist item.
    assesses: list[str] = []
    #: The findings of a diagnosis (finding ids such as cpu-runaway) that this playbook fixes.
    resolves: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")]] = []
    #: A step that leaves all of these variables empty does nothing, and the plan refuses it with the hint.
    acts_on: ActsOn | None = None
    #: Catalog entries whose steps this read playbook's report may propose (``homelab_proposals``): the planner
    #: validates each proposal like a planner's step, and only for these entries.
    proposes: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+$")]] = []

    @field_validator("proposes")
    @classmethod
    def _read_proposes(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("risk") != "read":
            raise ValueError("only a read playbook proposes steps (risk: read)")
        return value

    @field_validator("assesses")
    @classmethod
    def _manual_rules(cls, value: list[str], info: ValidationInfo) -> list[str]:
        from planner.planning.rules import MANUAL_RULES

        if value and info.data.get("risk") != "read":
            raise ValueError("only a read playbook assesses manual work (risk: read)")
        for name in value:
            if name not in MANUAL_RULES:
                raise ValueError(f"{name!r} is no manual rule{did_you_mean(name, MANUAL_RULES)} (one of "
                                 f"{', '.join(MANUAL_RULES)})")
        return value

    @field_validator("refreshes")
    @classmethod
    def _known_sections(cls, value: Literal["all"] | list[str], info: ValidationInfo) -> Literal["all"] | list[str]:
        from planner.inventory.discovered import SECTIONS

        if value and info.data.get("risk") != "read":
            raise ValueError("only a read playbook reports facts (risk: read)")
        for name in value if isinstance(value, list) else []:
            if name not in SECTIONS:
                raise ValueError(f"{name!r} is not a section of discovered:{did_you_mean(name, SECTIONS)} "
                                 f"(one of {', '.join(SECTIONS)}, or all)")
        return value

    def refreshed_sections(self) -> tuple[str, ...]:
        """The sections of ``discovered:`` this playbook's findings replace (none for most playbooks)."""
        from planner.inventory.discovered import SECTIONS

        return tuple(SECTIONS) if self.refreshes == "all" else tuple(dict.fromkeys(self.refreshes))


@dataclass(frozen=True)
class CatalogEntry:
    """A validated, pickable playbook."""

    id: str
    playbook: Path
    meta_path: Path
    meta: CatalogMeta
    spec_name: str

    @property
    def options(self) -> dict[str, OptionSpec]:
        """The playbook's variables, from its argument spec."""
        return self.meta.argument_specs[self.spec_name].options

    @property
    def fixed(self) -> dict[str, str]:
        """The variables the configuration fixes, each with its setting: no request or model chooses them."""
        return {name: how.key for name, how in self.meta.offline.variables.items() if how.key is not None}

    @property
    def summary(self) -> str:
        """The first sentence-ish line of the description."""
        return self.meta.description.strip().splitlines()[0]


# The keys each level of a sidecar may hold, for "did you mean" on an unknown one.
_KNOWN_KEYS: dict[tuple[str, ...], list[str]] = {
    (): list(CatalogMeta.model_fields), ("offline",): list(OfflineHints.model_fields),
    ("offline", "variables", "*"): list(OfflineVariable.model_fields),
    ("offline", "placement"): list(OfflinePlacement.model_fields), ("acts_on",): list(ActsOn.model_fields)}


def _problems(exc: PydanticValidationError, doc: Any, display: str) -> list[str]:
    from planner.problems import field_problems

    out = []
    for fp in field_problems(exc, doc, display):
        msg = fp.msg
        if fp.kind == "extra_forbidden":
            known = _KNOWN_KEYS.get(tuple("*" if i == 2 else p for i, p in enumerate(fp.loc[:-1])), [])
            msg = "unknown key" + did_you_mean(str(fp.loc[-1]), known)
        elif fp.kind == "missing":
            msg = "required key is missing"
        out.append(f"{fp.where}: {fp.dotted}: {msg}")
    return out


def _spec_names_used(playbook: Path, display: str) -> list[str]:
    """The argument spec names the playbook's plays validate against."""
    try:
        plays = yamlio.load_data(playbook, display)
    except yamlio.YamlSyntaxError as err:
        raise CatalogError(f"{err.location}: {err.problem}", "fix the playbook's YAML") from None
    names = []
    for play in plays or []:
        if isinstance(play, dict) and "validate_argspec" in play:
            value = play["validate_argspec"]
            names.append(str(play.get("name")) if value is True else str(value))
    return names


#: Entries already loaded in this process, by sidecar path and the bytes of the two files an entry is made
#: from. A plan or an eval loads the catalog several times (context pack, drafting, validation); parsing
#: 17 sidecars and playbooks with ruamel each time was most of the offline planner's time. Keyed by content,
#: not by modification time, so an edit between two loads is always seen. Errors are never cached.
_ENTRIES: dict[tuple[str, bytes, bytes], CatalogEntry] = {}
_ENTRIES_MAX = 512


def load_entry(meta_path: Path, root: Path) -> CatalogEntry:
    """Load and validate one sidecar and the playbook beside it (from this process's cache when unchanged)."""
    import hashlib

    playbook = meta_path.with_name(f"{meta_path.name.removesuffix(META_SUFFIX)}.yml")
    try:
        key = (f"{meta_path}\0{root}", hashlib.blake2b(meta_path.read_bytes()).digest(),
               hashlib.blake2b(playbook.read_bytes()).digest())
    except OSError:
        return _load_entry(meta_path, root)  # the uncached path names what is missing
    entry = _ENTRIES.get(key)
    if entry is None:
        entry = _load_entry(meta_path, root)
        if len(_ENTRIES) >= _ENTRIES_MAX:
            _ENTRIES.clear()
        _ENTRIES[key] = entry
    return entry


def _load_entry(meta_path: Path, root: Path) -> CatalogEntry:
    """One entry, its sidecar read by libyaml (every plan and apply reads them all); read again with ruamel's
    positions only when something is wrong in it, so that each problem names its line."""
    try:
        return _read_entry(meta_path, root, yamlio.load_data)
    except CatalogError as err:
        if not err.details:
            raise  # a problem that names no line in the sidecar
    return _read_entry(meta_path, root, yamlio.load)


def _read_entry(meta_path: Path, root: Path, load: Callable[[Path, str], Any]) -> CatalogEntry:
    display = str(meta_path.relative_to(root)) if meta_path.is_relative_to(root) else str(meta_path)
    entry_id = meta_path.name.removesuffix(META_SUFFIX)
    playbook = meta_path.with_name(f"{entry_id}.yml")
    try:
        doc = load(meta_path, display)
    except yamlio.YamlSyntaxError as err:
        raise CatalogError(f"{err.location}: {err.problem}", "fix the YAML of the catalog sidecar") from None
    try:
        meta = CatalogMeta.model_validate(yamlio.plain(doc) if doc is not None else {})
    except PydanticValidationError as exc:
        raise CatalogError(f"catalog entry {entry_id!r} is invalid", "fix the keys named above in its .meta.yml",
                           details=_problems(exc, doc, display)) from None
    secret = [name for spec in meta.argument_specs.values() for name in _no_log_options(spec.options)]
    if secret:
        # A plan variable lives in the plan file, the review and the runner's command line, and may be
        # drafted by a model: no place for a secret. Secrets come from the inventory, vaulted.
        raise CatalogError(f"catalog entry {entry_id!r} declares no_log variables: {', '.join(secret)}",
                           "read secrets from the inventory (ansible-vault) in the role, not from plan variables")
    if not playbook.is_file():
        raise CatalogError(f"{display}: no playbook {playbook.name} beside it",
                           f"add playbooks/{playbook.name} or remove the sidecar")
    shown = str(playbook.relative_to(root)) if playbook.is_relative_to(root) else str(playbook)
    used = _spec_names_used(playbook, shown)
    if not used:
        raise CatalogError(f"playbook {playbook.name} does not validate its arguments",
                           f"set `validate_argspec: {next(iter(meta.argument_specs))}` on its play")
    for name in used:
        if name not in meta.argument_specs:
            raise CatalogError(f"playbook {playbook.name} validates against spec {name!r}, which {display} lacks",
                               f"name the spec {name!r} under argument_specs, or change validate_argspec")
    entry = CatalogEntry(entry_id, playbook, meta_path, meta, used[0])
    wrong = _offline_problems(entry, doc, display)
    if wrong:
        raise CatalogError(f"catalog entry {entry_id!r} is invalid", "fix the keys named above in its .meta.yml",
                           details=wrong)
    return entry


def _offline_problems(entry: CatalogEntry, doc: Any, display: str) -> list[str]:
    """Each offline variable must be a variable of the play, and its extractor must give what the variable takes."""
    from planner.planning.extractors import EXTRACTORS, RECORD_EXTRACTORS, fits
    from planner.planning.promotion import RECORD_FIELDS

    out = []
    for name, how in entry.meta.offline.variables.items():
        loc: tuple[str, ...] = ("offline", "variables", name)
        if name not in entry.options:
            msg = f"{name!r} is not a variable of {entry.spec_name}{did_you_mean(name, entry.options)}"
            out.append(f"{yamlio.locate(doc, loc, display, at_key=True)}: {'.'.join(loc)}: {msg}")
            continue
        option = entry.options[name]
        if not fits(how.extractor, option.type):
            out.append(f"{yamlio.locate(doc, (*loc, 'extractor'), display)}: {'.'.join(loc)}.extractor: "
                       f"{how.extractor} gives {EXTRACTORS[how.extractor].gives}, which a {option.type} variable "
                       "does not take")
        elif how.field is None and how.extractor in RECORD_EXTRACTORS:
            # Another extractor may name a field too: the record gives the value the words do not.
            msg = f"{how.extractor} reads one field of a record: name it (field: one of {', '.join(RECORD_FIELDS)})"
            out.append(f"{yamlio.locate(doc, loc, display, at_key=True)}: {'.'.join(loc)}: {msg}")
        elif how.field is not None and how.field not in RECORD_FIELDS:
            out.append(f"{yamlio.locate(doc, (*loc, 'field'), display)}: {'.'.join(loc)}.field: {how.field!r} is "
                       f"no field of a service record{did_you_mean(how.field, RECORD_FIELDS)} (one of "
                       f"{', '.join(RECORD_FIELDS)})")
        elif how.merge_with_default and option.type != "dict":
            out.append(f"{yamlio.locate(doc, (*loc, 'merge_with_default'), display)}: {'.'.join(loc)}."
                       f"merge_with_default: only a dict variable merges into its default (this one is {option.type})")
    acts_on = entry.meta.acts_on
    for name in acts_on.variables if acts_on is not None else []:
        if name not in entry.options:
            out.append(f"{yamlio.locate(doc, ('acts_on', 'variables'), display)}: acts_on.variables: {name!r} is not a "
                       f"variable of {entry.spec_name}{did_you_mean(name, entry.options)}")
    placement = entry.meta.offline.placement
    recipe_variable = placement.recipe_variable if placement is not None else None
    if recipe_variable is not None and recipe_variable not in entry.options:
        loc = ("offline", "placement", "recipe_variable")
        out.append(f"{yamlio.locate(doc, loc, display)}: {'.'.join(loc)}: {recipe_variable!r} is not a "
                   f"variable of {entry.spec_name}{did_you_mean(recipe_variable, entry.options)}")
    return out


def _no_log_options(options: dict[str, OptionSpec], prefix: str = "") -> list[str]:
    out = []
    for name, opt in options.items():
        if opt.no_log:
            out.append(prefix + name)
        out += _no_log_options(opt.options or {}, f"{prefix}{name}.")
    return out


@dataclass(frozen=True)
class Catalog:
    """Every pickable playbook of a project, by id."""

    entries: dict[str, CatalogEntry]

    def get(self, entry_id: str) -> CatalogEntry:
        """The entry with this id, or a CatalogError that names the closest ones."""
        if entry_id in self.entries:
            return self.entries[entry_id]
        close = difflib.get_close_matches(entry_id, list(self.entries), n=3, cutoff=0.4)
        hint = f"did you mean {', '.join(close)}?" if close else "homelab catalog lists them"
        raise CatalogError(f"no playbook {entry_id!r} in the catalog", hint)


def load_catalog(root: Path) -> Catalog:
    """Load every ``playbooks/*.meta.yml``; a playbook without a sidecar is an error too."""
    playbooks_dir = root / "playbooks"
    metas = sorted(playbooks_dir.glob(f"*{META_SUFFIX}"))
    entries: dict[str, CatalogEntry] = {}
    problems: list[str] = []
    for meta_path in metas:
        try:
            entry = load_entry(meta_path, root)
        except CatalogError as err:
            problems.extend(err.details or [err.message])
            continue
        entries[entry.id] = entry
    for playbook in sorted(playbooks_dir.glob("*.yml")):
        if playbook.name.endswith(META_SUFFIX):
            continue
        if not playbook.with_name(playbook.stem + META_SUFFIX).is_file():
            problems.append(f"playbooks/{playbook.name}: no sidecar {playbook.stem}{META_SUFFIX}; every catalog"
                            " playbook needs one")
    problems += _companion_problems(entries, root)
    if problems:
        raise CatalogError(f"the catalog has {len(problems)} problem{'s' if len(problems) > 1 else ''}",
                           "fix the files named above", details=problems)
    return Catalog(entries)


def _companion_problems(entries: dict[str, CatalogEntry], root: Path) -> list[str]:
    """Each companion and each proposed entry (and each placement check, each entry a promotion retires) must be
    another entry of the catalog; a placement check must be a read entry that takes the variables it is given."""
    out = []
    for entry in entries.values():
        display = entry.meta_path.relative_to(root) if entry.meta_path.is_relative_to(root) else entry.meta_path
        placement, retires = entry.meta.offline.placement, entry.meta.offline.retires
        check = placement.check if placement is not None else None
        for key, name in (("offline.placement.check", check), ("offline.retires", retires)):
            if name is not None and name not in entries:
                out.append(f"{display}: {key}: {name!r} is no catalog entry{did_you_mean(name, entries)}")
        if placement is not None and check in entries:
            if entries[check].meta.risk != "read":
                out.append(f"{display}: offline.placement.check: {check!r} changes hosts; the check must be a read "
                           "entry (risk: read)")
            for name in placement.check_variables:
                if name not in entries[check].options:
                    out.append(f"{display}: offline.placement.check_variables: {name!r} is not a variable of "
                               f"{check}{did_you_mean(name, entries[check].options)}")
        for key, names in (("companions", entry.meta.companions), ("proposes", entry.meta.proposes)):
            for name in names:
                if name == entry.id:
                    out.append(f"{display}: {key}: {name!r} is this entry itself")
                elif name not in entries:
                    out.append(f"{display}: {key}: {name!r} is no catalog entry{did_you_mean(name, entries)}")
    return out
