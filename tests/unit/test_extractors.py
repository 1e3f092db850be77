"""The typed extractors a meta file names: each with values it must read and text it must leave alone."""

from __future__ import annotations

import pytest

from planner.catalog.entries import ANSIBLE_OPTION_TYPES
from planner.planning import extractors as ex
from planner.planning.extractors import EXTRACTORS, Named, Wanted, extract, fits


def values(reader, text: str) -> list:
    return [f.value for f in reader(text)]


@pytest.mark.parametrize(("text", "mbps"), [
    ("2.5GbE", [2500]), ("2.5 gig", [2500]), ("2.5G", [2500]), ("10 gigabit", [10000]), ("1000 Mbps", [1000]),
    ("10GbE", [10000]), ("a 2.5 Gbps link", [2500]), ("2.5-gig", [2500]),
    ("at least 8 GB free", []), ("cap at 500M", []), ("k3s nodes", []),
])
def test_speed_mbps(text, mbps):
    assert values(ex.speed_mbps, text) == mbps


@pytest.mark.parametrize(("text", "as_string", "mib"), [
    ("cap the journal at 500M", ["500M"], [500]), ("500 MB", ["500M"], [500]), ("1.5 GiB", ["1.5G"], [1536]),
    ("8 gigabytes", ["8G"], [8192]), ("2T", ["2T"], [2097152]), ("64K", ["64K"], []),
    ("a 2.5GbE link", [], []), ("10%", [], []), ("k3s-vm-still-fawn", [], []), ("2 weeks", [], []),
])
def test_size_and_size_mib(text, as_string, mib):
    assert values(ex.size, text) == as_string
    assert values(ex.size_mib, text) == mib


@pytest.mark.parametrize(("text", "counts"), [
    ("deploy jellyfin to k3s with 3 replicas", [3]), ("two replicas please", [2]), ("replicas: 4", [4]),
    ("8 GB", []), ("at 22:00", []), ("version 1.2", []), ("3 days", []), ("2.5GbE", []), ("k3s", []),
    ("90%", []),
])
def test_count(text, counts):
    assert values(ex.count, text) == counts


@pytest.mark.parametrize(("text", "serial"), [
    ("one at a time", [1]), ("one by one", [1]), ("serially", [1]), ("two at a time", [2]),
    ("3 hosts at a time", [3]), ("in batches of 2", [2]), ("all at once", []), ("at a time like this", []),
])
def test_serial(text, serial):
    assert values(ex.serial, text) == serial


@pytest.mark.parametrize(("text", "span"), [
    ("keep the journal for 2 weeks", ["2weeks"]), ("1 month", ["1month"]), ("1 week", ["1week"]),
    ("90 minutes", ["90min"]), ("12h", ["12h"]), ("30 days", ["30days"]), ("three hours", ["3h"]),
    ("a week", []), ("2.5GbE", []), ("500M", []), ("k3s", []),
])
def test_duration(text, span):
    assert values(ex.duration, text) == span


@pytest.mark.parametrize(("text", "when"), [
    ("on Friday at 10pm", ["fri 22:00"]), ("fri 22:00", ["fri 22:00"]), ("next weekend", ["next weekend"]),
    ("delay until next weekend", ["next weekend"]), ("tonight", ["tonight"]), ("tomorrow at 6:30", ["tomorrow 06:30"]),
    ("2025-06-01 14:00", ["2025-06-01 14:00"]), ("at 3am", ["03:00"]), ("over the weekend", ["the weekend"]),
    ("Wednesday at 9am", ["wed 09:00"]), ("thursday", ["thu"]),
    ("at least 8 GB", []), ("at 25:00", []), ("monitoring", []), ("fridge", []), ("the k3s nodes", []),
])
def test_when(text, when):
    assert values(ex.when, text) == when


@pytest.mark.parametrize(("text", "zones"), [
    ("set the time zone to Europe/Berlin", ["Europe/Berlin"]), ("America/Argentina/Buenos_Aires", [
        "America/Argentina/Buenos_Aires"]), ("UTC everywhere", ["Etc/UTC"]),
    ("Berlin time", []), ("utc", []), ("europe/berlin", []),
])
def test_timezone(text, zones):
    assert values(ex.timezone, text) == zones


@pytest.mark.parametrize(("text", "pairs"), [
    ("set vm.swappiness to 1", [{"vm.swappiness": 1}]),
    ("vm.swappiness=1 and fs.inotify.max_user_watches=1000",
     [{"vm.swappiness": 1, "fs.inotify.max_user_watches": 1000}]),
    ("mode=strict", [{"mode": "strict"}]), ("net.ipv4.ip_forward: 0", [{"net.ipv4.ip_forward": 0}]),
    ("set the limit to 5", []), ("note: this is prose", []), ("set the time zone to Europe/Berlin", []),
])
def test_key_value(text, pairs):
    assert values(ex.key_value, text) == pairs


def test_named_extractors_read_what_the_request_names():
    named = Named(limit="k3s,!k3s-vm-chief-horse", single_host=None, services=("jellyfin", "prometheus"))
    assert extract(Wanted("host_pattern"), "anything", named) == "k3s,!k3s-vm-chief-horse"
    assert extract(Wanted("service_name"), "deploy jellyfin", named) == "jellyfin"
    assert extract(Wanted("host"), "anything", named) is None
    assert extract(Wanted("host"), "on maas", Named(single_host="maas")) == "maas"
    # Without a documented service, only a unit written as such is a service name.
    assert extract(Wanted("service_name"), "restart nginx.service on maas", Named()) == "nginx"
    assert extract(Wanted("service_name"), "restart the web server", Named()) is None


def test_choice_reads_only_the_variables_own_choices():
    spec = {"type": "str", "choices": ["dry_run", "full"]}
    assert extract(Wanted("choice"), "do a full pass", spec=spec) == "full"
    assert extract(Wanted("choice"), "just a dry run", spec=spec) == "dry_run"
    assert extract(Wanted("choice"), "fully done", spec=spec) is None


def test_near_picks_the_value_by_its_context_word():
    text = "cap the journal at 500M and give the GPU 8 GB free"
    assert extract(Wanted("size", ("journal",)), text) == "500M"
    assert extract(Wanted("size_mib", ("free",)), text) == 8192
    assert extract(Wanted("size_mib", ("free", "available")), "8 GB of RAM in total") is None
    # A sentence boundary cuts the context: the size belongs to another sentence.
    assert extract(Wanted("size", ("journal",)), "check the journal. Then give it 500M") is None
    # Too far away is no context either.
    far = "journal " + "word " * 12 + "500M"
    assert extract(Wanted("size", ("journal",)), far) is None
    assert extract(Wanted("size"), far) == "500M"


def test_every_extractor_fits_some_type_and_fits_is_honest():
    for name, extractor in EXTRACTORS.items():
        assert extractor.summary and any(fits(name, t) for t in ANSIBLE_OPTION_TYPES), name
    assert fits("speed_mbps", "int") and not fits("speed_mbps", "str")
    assert fits("size", "str") and not fits("size", "dict")
    assert fits("key_value", "dict") and not fits("key_value", "int")
