"""The trial_service role's templates as they render (the container path no lab can run), its recipes, and
how the offline planner names the service.

The templates are rendered with Jinja2 and the two filters Ansible adds that they use, from the role's own
files: what a podman or docker host would get is checked here, since no registry is reachable from the lab.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "trial_service"
RECIPES = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["trial_service_recipes"]
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())


def render(name: str, **context: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROLE / "templates"), undefined=jinja2.StrictUndefined,
                             trim_blocks=True, keep_trailing_newline=True)  # Ansible's template defaults
    env.filters["to_json"] = json.dumps
    return env.get_template(name).render(**context)


def settings(service: str, found: list[str], stand_in: dict | None = None, **overrides: Any) -> dict:
    """What "Decide how the trial runs" sets, for a host that has the runtimes in ``found``."""
    context = {**DEFAULTS, "trial_service_name": service, **overrides, "_recipe": RECIPES.get(service, {}),
               "_found": found, "_stand_in": stand_in or {}, "lan_domain": "maas",
               "_trial_service_config_dir": f"/etc/homelab/trials/{service}",
               "_trial_service_data_dir": f"/var/lib/homelab/trials/{service}"}
    return json.loads(render("settings.json.j2", **context))


def unit(run: dict, address: str = "192.168.4.11") -> str:
    template = "container.service.j2" if run["runtime"] in ("podman", "docker") else "package.service.j2"
    return render(template, _trial_service_run=run, _trial_service_address=address,
                  _trial_service_unit=f"homelab-trial-{run['name']}.service",
                  _trial_service_data_dir=f"/var/lib/homelab/trials/{run['name']}")


def exec_start(text: str) -> str:
    """ExecStart= with systemd's line continuations joined."""
    joined = text.replace("\\\n", " ")
    return " ".join(next(line for line in joined.splitlines() if line.startswith("ExecStart=")).split())


def test_ollama_on_a_podman_host_is_a_gpu_container_bound_to_the_host_address() -> None:
    run = settings("ollama", ["podman", "docker"])
    assert run["problem"] == "" and run["runtime"] == "podman" and run["gpu"] and run["gpu_mib"] == 6144
    line = exec_start(unit(run))
    assert line.startswith("ExecStart=/usr/bin/podman run --rm --name homelab-trial-ollama ")
    assert "--publish 192.168.4.11:11434:11434" in line and "--device nvidia.com/gpu=all" in line
    assert "--memory 8192m" in line and "--env \"OLLAMA_HOST=0.0.0.0:11434\"" in line
    assert "--volume /var/lib/homelab/trials/ollama/root-.ollama:/root/.ollama:Z" in line
    assert line.endswith(" docker.io/ollama/ollama:0.5.7")
    assert "Environment=PODMAN_SYSTEMD_UNIT=%n" in unit(run)


def test_docker_gets_its_own_gpu_flag_and_a_port_the_plan_set() -> None:
    run = settings("ollama", ["docker"], trial_service_port=11500, trial_service_memory_mib=4096)
    line = exec_start(unit(run))
    assert run["runtime"] == "docker" and "--gpus all" in line and "nvidia.com/gpu" not in line
    assert "--publish 192.168.4.11:11500:11434" in line and "--memory 4096m" in line and ":Z" not in line


def test_a_service_without_a_gpu_gets_none() -> None:
    line = exec_start(unit(settings("jellyfin", ["podman"])))
    assert "nvidia" not in line and "--gpus" not in line
    assert "--volume /var/lib/homelab/trials/jellyfin/config:/config:Z" in line
    assert "--publish 192.168.4.11:8096:8096" in line


def test_a_forced_runtime_the_host_lacks_is_refused_clearly() -> None:
    run = settings("ollama", [], trial_service_runtime="podman")
    assert "has no /usr/bin/podman" in run["problem"] and "trial_service_runtime=auto" in run["problem"]


def test_no_runtime_and_no_package_is_refused_with_what_to_give() -> None:
    run = settings("ollama", [])
    assert run["runtime"] == "package"
    assert "trial_service_package and trial_service_command" in run["problem"]
    assert "no podman or docker" in run["problem"]


def test_the_package_path_runs_the_command_with_a_memory_cap() -> None:
    run = settings("uptime", ["podman"], trial_service_runtime="package", trial_service_package="iperf3",
                   trial_service_command="/usr/bin/iperf3 --server --bind 192.168.4.11", trial_service_port=5201,
                   trial_service_memory_mib=256)
    assert run["problem"] == "" and run["image"] == "" and run["volumes"] == []
    text = unit(run)
    assert exec_start(text) == "ExecStart=/usr/bin/iperf3 --server --bind 192.168.4.11"
    assert "MemoryMax=256M" in text and "ExecStartPre" not in text


def test_the_lab_stand_in_is_lighttpd_on_the_host_address_serving_the_health_path() -> None:
    run = settings("ollama", [], stand_in={"package": "lighttpd"})
    assert run["problem"] == "" and run["stand_in"] and run["package"] == "lighttpd"
    text = unit(run, "127.0.10.11")
    assert exec_start(text) == "ExecStart=/usr/sbin/lighttpd -D -f /etc/homelab/trials/ollama/lighttpd.conf"
    assert "ExecStartPre=/usr/sbin/lighttpd -tt -f /etc/homelab/trials/ollama/lighttpd.conf" in text
    conf = render("lighttpd.conf.j2", _trial_service_run=run, _trial_service_address="127.0.10.11",
                  _trial_service_data_dir="/var/lib/homelab/trials/ollama")
    assert 'server.bind = "127.0.10.11"' in conf and "server.port = 11434" in conf
    assert 'server.document-root = "/var/lib/homelab/trials/ollama/www"' in conf


def test_a_package_the_plan_names_wins_over_the_stand_in() -> None:
    run = settings("ollama", [], stand_in={"package": "lighttpd"}, trial_service_package="iperf3",
                   trial_service_command="/usr/bin/iperf3 -s")
    assert not run["stand_in"] and run["package"] == "iperf3"


def test_dns_name_defaults_and_overrides() -> None:
    assert settings("open-webui", ["podman"])["dns_name"] == "open-webui-trial.maas"
    assert settings("open-webui", ["podman"], trial_service_dns_name="chat.maas")["dns_name"] == "chat.maas"
    record = render("dnsmasq.conf.j2", trial_service_name="ollama", inventory_hostname="still-fawn",
                    _trial_service_dns_name="ollama-trial.maas", _trial_service_address="192.168.4.11")
    assert record.splitlines()[-1] == "host-record=ollama-trial.maas,192.168.4.11"


@pytest.mark.parametrize("service", ["ollama", "open-webui", "jellyfin", "home-assistant"])
def test_every_known_recipe_is_complete(service: str) -> None:
    recipe = RECIPES[service]
    assert set(recipe) == {"description", "image", "port", "health_path", "gpu", "gpu_mib", "memory_mib",
                           "cpu_cores", "package", "command", "volumes", "env", "source"}
    assert recipe["image"] and recipe["port"] > 0 and recipe["health_path"].startswith("/")
    assert recipe["memory_mib"] > 0 and recipe["cpu_cores"] > 0 and recipe["source"]
    assert recipe["gpu"] == (recipe["gpu_mib"] > 0)
    assert settings(service, ["podman"])["problem"] == ""


def test_the_offline_planner_knows_every_recipe_by_name() -> None:
    # The service names come from the recipes (and recorded trials), never from a list kept in a meta file.
    for playbook in ("deploy_trial_service", "remove_trial_service"):
        meta = yaml.safe_load((ROOT / "playbooks" / f"{playbook}.meta.yml").read_text())
        assert meta["offline"]["variables"]["trial_service_name"] == {"extractor": "known_service"}, playbook


@pytest.mark.parametrize(("text", "service"), [
    ("I want to deploy Ollama for local LLM testing", "ollama"),
    ("try open webui on still-fawn", "open-webui"),
    ("spin up a Home Assistant trial", "home-assistant"),
    ("remove the home-assistant trial", "home-assistant"),
    ("deploy a trial of grafana", None),
])
def test_the_service_is_read_from_the_request(text: str, service: str | None) -> None:
    from planner.planning.extractors import Named, Wanted, extract

    named = Named(recipes={name: {} for name in RECIPES})
    assert extract(Wanted("known_service"), text, named, spec={"type": "str"}) == service
