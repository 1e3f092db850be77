"""Known services a trial can run: the recipes the trial_service role keeps, read by the planner too.

The role's ``vars/main.yml`` holds ``trial_service_recipes``: per service, what to run (an image,
or a package and a command), its port and health check, and what it needs (GPU, GPU memory, host
memory, cores), with the ``source`` the estimate comes from. The playbook uses it to fill the
variables a plan leaves empty; the planner uses it to place a GPU workload and to say what it needs.
One file serves both, so the estimate a plan shows is the one the role deploys with.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints
from pydantic import ValidationError as PydanticValidationError

from planner import yamlio
from planner.errors import CatalogError

RECIPES_FILE = "roles/trial_service/vars/main.yml"
RECIPES_KEY = "trial_service_recipes"

#: A service name is a DNS label: it becomes ``<name>-trial.<lan_domain>`` and a unit name.
ServiceName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
MiB = Annotated[StrictInt, Field(ge=0)]


class Recipe(BaseModel):
    """One known service: what runs, where it answers, and what it needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
    image: str = ""
    port: Annotated[StrictInt, Field(ge=1, le=65535)]
    health_path: str = "/"
    gpu: StrictBool = False
    gpu_mib: MiB = 0
    memory_mib: MiB = 0
    cpu_cores: Annotated[StrictInt | float, Field(ge=0)] = 0
    package: str = ""
    command: str = ""
    volumes: list[str] = []
    env: dict[str, str | int | float | bool] = {}
    #: Where the estimate comes from (the project's documentation, a measurement): the plan quotes it.
    source: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


@dataclass(frozen=True)
class Recipes:
    """The recipes of a project, by service name."""

    by_name: dict[str, Recipe]
    path: str  # project-relative, for the messages and rationales that cite it

    def get(self, name: str) -> Recipe:
        """The recipe of ``name``, or a CatalogError naming the closest known services."""
        if name in self.by_name:
            return self.by_name[name]
        close = difflib.get_close_matches(name, list(self.by_name), n=3, cutoff=0.5)
        hint = (f"did you mean {', '.join(close)}?" if close
                else f"known services: {', '.join(sorted(self.by_name)) or 'none'}; or give the image or package")
        raise CatalogError(f"no recipe for {name!r} in {self.path}", hint)


def load_recipes(root: Path) -> Recipes:
    """Read ``roles/trial_service/vars/main.yml``; a missing file means no recipes, a malformed one raises."""
    path = root / RECIPES_FILE
    if not path.is_file():
        return Recipes({}, RECIPES_FILE)
    try:
        doc = yamlio.load(path, RECIPES_FILE)
    except yamlio.YamlSyntaxError as err:
        raise CatalogError(f"{err.location}: {err.problem}", "fix the YAML of the recipes file") from None
    data = yamlio.plain(doc) if doc is not None else {}
    if not isinstance(data, dict) or not isinstance(data.get(RECIPES_KEY), dict):
        raise CatalogError(f"{RECIPES_FILE}: {RECIPES_KEY} is missing or is not a mapping of service names",
                           f"write {RECIPES_KEY}: {{ollama: {{description: …, port: 11434, source: …}}}}")
    out: dict[str, Recipe] = {}
    problems: list[str] = []
    for name, body in data[RECIPES_KEY].items():
        where = yamlio.locate(doc, (RECIPES_KEY, name), RECIPES_FILE, at_key=True)
        if not _is_label(name):
            problems.append(f"{where}: {RECIPES_KEY}.{name}: a service name must be a DNS label "
                            "(lowercase letters, digits and '-')")
            continue
        try:
            out[name] = Recipe.model_validate(body if body is not None else {})
        except PydanticValidationError as exc:
            problems += _problems(exc, doc, name)
    if problems:
        raise CatalogError(f"{RECIPES_FILE} has {len(problems)} problem{'s' if len(problems) > 1 else ''}",
                           "fix the recipes named above", details=problems)
    return Recipes(out, RECIPES_FILE)


def _is_label(name: Any) -> bool:
    from pydantic import TypeAdapter

    try:
        TypeAdapter(ServiceName).validate_python(name)
    except PydanticValidationError:
        return False
    return True


def _problems(exc: PydanticValidationError, doc: Any, name: str) -> list[str]:
    from planner.errors import did_you_mean
    from planner.problems import dotted, field_problems

    out = []
    for fp in field_problems(exc, None):
        loc = (RECIPES_KEY, name, *fp.loc)
        where = yamlio.locate(doc, loc, RECIPES_FILE, at_key=fp.kind == "extra_forbidden")
        msg = fp.msg
        if fp.kind == "extra_forbidden":
            msg = "unknown key" + did_you_mean(str(fp.loc[-1]), Recipe.model_fields)
        elif fp.kind == "missing":
            msg = "required key is missing"
        out.append(f"{where}: {dotted(loc)}: {msg}")
    return out
