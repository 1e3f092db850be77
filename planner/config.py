"""The project's own settings: ``.homelab/config.yml``: the LLM planner's, and where GitOps changes go.

Every key is optional and the file itself may be absent::

    model: openai/gpt-4o-mini          # litellm's provider/model; none means the offline planner
    api_base: http://127.0.0.1:8080/v1 # an OpenAI-compatible server (llama.cpp, vLLM, Ollama...)
    api_key_env: OPENAI_API_KEY        # the NAME of the variable holding the key, never the key
    response_format: json_schema       # json_schema | json_object | tools | none
    timeout_s: 60                      # per request
    retries: 2                         # further tries after a 429, a timeout, a 5xx or an invalid answer
    max_tokens: 4096
    gitops:
      repo: /srv/homelab-gitops        # the GitOps git repository; default: this project's own repository
      dir: gitops                      # the directory inside it whose apps/<name>/ holds each k3s app
    knowledge:
      recurrence_count: 3              # a symptom seen on this many days on a host...
      recurrence_days: 30              # ...within this many days (today included) is recurring

``response_format`` defaults to ``json_schema`` (OpenAI-style structured
output) whatever the provider, so what is sent never depends on guessing the
server from its address. llama.cpp's server rejects it: use ``json_object``
(it turns the schema into a grammar) or ``tools``; ``none`` asks for plain
JSON in the text and parses it strictly.

Environment variables override the file, for one run or for CI:
``$HOMELAB_MODEL`` (read by :mod:`planner.planning.choose`), ``$HOMELAB_MODEL_API_BASE``,
``$HOMELAB_MODEL_RESPONSE_FORMAT`` and ``$HOMELAB_MODEL_TIMEOUT``.
The API key is read from the environment when a model is called; it is never
written to a file, a plan or a log.

``gitops.*`` are *fixed* values of the catalog: a variable whose meta file fills it
with the ``config`` extractor (``deploy_k3s_app``'s repository and directory) takes
them, whichever planner drafts the plan (:func:`setting`). A relative ``gitops.repo``
is read from the project's root, never from a playbook's directory: a plan runs from
a private snapshot.

``knowledge.*`` say when a problem counts as recurring (:mod:`planner.knowledge.kb`):
the same symptom (a diagnosis finding id) on the same host, seen on at least
``recurrence_count`` different days within the last ``recurrence_days`` days.
Then the plan offers the permanent fix and TROUBLESHOOTING.md shows the issue's
``when_recurring`` advice. Several plans on one day count as one sighting.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from planner.errors import ValidationError
from planner.paths import state_dir

CONFIG_NAME = "config.yml"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_OVERRIDES = {"api_base": "HOMELAB_MODEL_API_BASE", "response_format": "HOMELAB_MODEL_RESPONSE_FORMAT",
                  "timeout_s": "HOMELAB_MODEL_TIMEOUT"}


class ConfigError(ValidationError):
    """``.homelab/config.yml`` or one of its environment overrides is invalid."""


class GitopsConfig(BaseModel):
    """Where ``deploy_k3s_app`` commits its manifests."""

    model_config = ConfigDict(extra="forbid")

    repo: str | None = None  # None: the project's own repository
    dir: str = "gitops"

    @field_validator("repo")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("dir")
    @classmethod
    def _relative(cls, value: str) -> str:
        parts = value.strip().strip("/").split("/")
        if not value.strip() or value.strip().startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"{value!r} must be a directory inside the repository (for example gitops), "
                             "without '.' or '..'")
        return "/".join(parts)


class KnowledgeConfig(BaseModel):
    """When a known problem counts as recurring."""

    model_config = ConfigDict(extra="forbid")

    recurrence_count: int = Field(3, ge=2, le=100)
    recurrence_days: int = Field(30, ge=1, le=3660)


class Config(BaseModel):
    """The settings, with their defaults."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str | None = None
    api_base: str | None = None
    api_key_env: str | None = None
    response_format: Literal["json_schema", "json_object", "tools", "none"] = "json_schema"
    timeout_s: float = Field(60, gt=0, le=3600)
    retries: int = Field(2, ge=0, le=10)
    max_tokens: int | None = Field(None, gt=0)
    gitops: GitopsConfig = GitopsConfig()
    knowledge: KnowledgeConfig = KnowledgeConfig()

    @field_validator("model", "api_base", "api_key_env")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.strip() or None if isinstance(value, str) else value

    @field_validator("api_base")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"https?://[^/\s]+", value):
            raise ValueError(f"{value!r} is not an http(s) URL (for example http://127.0.0.1:8080/v1)")
        return value

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        # A value that cannot be a variable name is most likely the key itself, which must not sit in a file.
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError("must be the NAME of an environment variable (for example OPENAI_API_KEY), "
                             "not the key itself")
        return value


#: The settings a catalog variable may be fixed to (``{extractor: config, key: …}`` in a meta file).
SETTINGS = ("gitops.repo", "gitops.dir")


def setting(config: Config, root: Path, key: str) -> str:
    """The value of the dotted setting ``key`` (one of :data:`SETTINGS`), defaults resolved against ``root``."""
    if key == "gitops.repo":
        repo = Path(config.gitops.repo).expanduser() if config.gitops.repo else root
        return str((root / repo).resolve() if not repo.is_absolute() else repo)
    if key == "gitops.dir":
        return config.gitops.dir
    raise KeyError(key)


def settings(root: Path) -> dict[str, str]:
    """Every setting of :data:`SETTINGS` for the project at ``root``, from its config file."""
    config = load_config(root)
    return {key: setting(config, root, key) for key in SETTINGS}


def config_path(root: Path) -> Path:
    """Where the settings live."""
    return state_dir(root) / CONFIG_NAME


def _problems(err: PydanticValidationError, where: str, doc: object = None) -> list[str]:
    from planner.problems import field_problems

    out = []
    for fp in field_problems(err, doc, where):
        message = fp.msg
        if fp.kind == "extra_forbidden":
            # An unknown key inside a nested block lists that block's keys, not the top level's.
            head, _, rest = fp.dotted.partition(".")
            blocks: dict[str, type[BaseModel]] = {"gitops": GitopsConfig, "knowledge": KnowledgeConfig}
            known = (blocks.get(head, Config) if rest else Config).model_fields
            message = ("unknown key (known: " + ", ".join(known) + ")"
                       + ("; keep the key in an environment variable and name it with api_key_env"
                          if "key" in fp.dotted.lower() else ""))
        out.append(f"{fp.where or where}: {fp.dotted}: {message}")
    return out


def read_mapping(path: Path, shown: str, error: type[ValidationError], example: str) -> tuple[object, dict]:
    """A settings file a person keeps: its round-trip document (for file:line:col) and its plain mapping.

    An absent file is ``(None, {})``; one that is not YAML, cannot be read, is vault-encrypted or is
    not a mapping raises ``error`` saying so, with ``example`` (one line of the file) in the hint.
    """
    from planner import yamlio

    if not path.is_file():
        return None, {}
    try:
        doc = yamlio.load(path, shown)
    except yamlio.YamlSyntaxError as err:
        raise error(f"{shown} is not valid YAML", "fix the file, or remove it to use the defaults",
                    details=[str(err)]) from None
    except OSError as err:
        raise error(f"cannot read {shown}: {err.strerror}", "check the file's permissions") from None
    if yamlio.vault_encrypted(doc):
        # ansible-vault output reads as one long YAML string; it needs its own words, not "found str".
        raise error(f"{shown} is vault-encrypted; it must be a plain mapping of settings, not encrypted",
                    "decrypt it (ansible-vault decrypt " + shown + "): it holds no secrets (an API key is "
                    "named by api_key_env and read from the environment, never stored)")
    if doc is not None and not isinstance(doc, dict):
        # Name what was found in YAML's words (not ruamel's class names such as CommentedSeq).
        found = ("a list" if isinstance(doc, list) else "a string" if isinstance(doc, str)
                 else "a true/false value" if isinstance(doc, bool)
                 else "a number" if isinstance(doc, int | float) else "a single value")
        raise error(f"{shown} must be a mapping of settings (key: value lines)", f"for example: {example}",
                    details=[f"{shown}:1:1: found {found}, not a mapping"])
    return doc, (yamlio.plain(doc) if doc is not None else {})


def load_config(root: Path) -> Config:
    """The settings for the project at ``root``: the file (when present), then the environment overrides."""
    path = config_path(root)
    shown = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
    doc, data = read_mapping(path, shown, ConfigError, "model: openai/gpt-4o-mini")
    try:
        config = Config.model_validate(data)
    except PydanticValidationError as err:
        raise ConfigError(f"{shown} has invalid settings", "see the keys named below; the README lists them",
                          details=_problems(err, shown, doc)) from None
    overrides = {key: os.environ[var] for key, var in _ENV_OVERRIDES.items() if os.environ.get(var, "").strip()}
    if not overrides:
        return config
    try:
        return Config.model_validate({**config.model_dump(), **overrides})
    except PydanticValidationError as err:
        names = {key: var for key, var in _ENV_OVERRIDES.items()}
        details = [f"${names.get(str(p['loc'][0]), p['loc'][0])}: {p['msg'].removeprefix('Value error, ')}"
                   for p in err.errors()]
        raise ConfigError("an environment override of the model settings is invalid",
                          "fix or unset the variable named below", details=details) from None
