"""Typed extractors: the small library that fills a catalog variable from a request's words.

A catalog entry says, per variable, which extractor reads it (``offline.variables``
in its ``<id>.meta.yml``), so a new entry needs no code here. Each extractor
returns every value it finds in the text, with where it found it; :func:`extract`
keeps the one nearest the variable's context words (``near``) when it has any,
else the first. An extractor that finds nothing returns nothing, and the
variable keeps its default: the offline planner never guesses a value.

Each extractor states the Python type it gives and so the argument-spec types
it can fill (:func:`fits`); the catalog refuses a meta file that pairs a
variable with an extractor of the wrong type, or names one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from planner.planning import dates

_NUMBER_WORDS = {w: i for i, w in enumerate(
    ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])}
_NUM = r"(\d+|" + "|".join(_NUMBER_WORDS) + r")"
#: A context word counts when at most this many words stand between it and the value, in one sentence.
NEAR_WORDS = 8


@dataclass(frozen=True)
class Found:
    """One value an extractor read, and the span of the text it came from."""

    value: Any
    start: int
    end: int


@dataclass(frozen=True)
class Named:
    """What the request names from the inventory, for the extractors that need it."""

    limit: str | None = None  # the host pattern the request's targets make
    single_host: str | None = None  # one host, named as such (not through a group)
    services: tuple[str, ...] = ()  # documented services, in the order named
    today: date | None = None  # the day the plan is made, which "next weekend" is read against (None: today, UTC)
    config: Mapping[str, str] = field(default_factory=dict)  # the project's settings (planner.config.settings)
    #: The known services a trial can run (the pack's recipes) and the documented services, as plain data.
    recipes: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)
    records: tuple[dict[str, Any], ...] = field(default=(), compare=False, hash=False)
    #: Per host, what its written-back diagnosis found running away ({checked_at, units}; planning/diagnoses.py).
    diagnoses: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)


@dataclass(frozen=True)
class Extractor:
    """A named reader of one kind of value."""

    name: str
    gives: str  # "int", "str", "dict", "list" or "any"
    read: Callable[[str, Named, dict[str, Any]], list[Found]]
    summary: str


def _number(word: str) -> int:
    return int(word) if word.isdigit() else _NUMBER_WORDS[word.lower()]


def _all(pattern: re.Pattern[str], text: str, value: Callable[[re.Match[str]], Any]) -> list[Found]:
    out = []
    for m in pattern.finditer(text):
        v = value(m)
        if v is not None:
            out.append(Found(v, m.start(), m.end()))
    return out


_SPEED = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*-?\s*(gbe|gbit/s|gbits?|gbps|gb/s|gigabits?(?:\s+ethernet)?|gigs?"
                    r"|g|mbe|mbit/s|mbits?|mbps|mb/s|megabits?)(?![a-z])", re.I)


def speed_mbps(text: str) -> list[Found]:
    """Link speeds with their unit ("2.5GbE", "2.5 gig", "10 gigabit", "1000 Mbps"), in Mbps."""
    def value(m: re.Match[str]) -> int:
        number, unit = float(m.group(1)), m.group(2).lower()
        return round(number if unit.startswith("m") else number * 1000)
    return _all(_SPEED, text, value)


# "GB" and "GiB" are both read as powers of 1024, as people mean them for memory and disk limits.
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(k|m|g|t)(?:i?b|bytes?)?(?![a-z])", re.I)
_SIZE_WORDS = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)\s*(kilo|mega|giga|tera)bytes?\b", re.I)
_POWER = {"k": 0, "m": 1, "g": 2, "t": 3}


def _sizes(text: str) -> list[tuple[float, str, int, int]]:
    out = [(float(m.group(1)), m.group(2).lower()[0], m.start(), m.end()) for m in _SIZE.finditer(text)]
    out += [(float(m.group(1)), m.group(2).lower()[0], m.start(), m.end()) for m in _SIZE_WORDS.finditer(text)]
    # "2.5G" next to "bE" or "bps" is a speed, not a size.
    speeds = [(f.start, f.end) for f in speed_mbps(text)]
    return sorted(s for s in out if not any(a <= s[2] < b for a, b in speeds))


def size(text: str) -> list[Found]:
    """Sizes as a size string systemd and Ansible both read ("500 MB" -> "500M", "1.5GiB" -> "1.5G")."""
    return [Found(f"{n:g}{unit.upper()}", a, b) for n, unit, a, b in _sizes(text)]


def size_gib(text: str) -> list[Found]:
    """Sizes in whole GiB ("20 GB" -> 20, "1 TB" -> 1024, "512 MiB" -> 1); kilobytes are too small to count."""
    return [Found(max(1, round(n * 1024 ** (_POWER[unit] - 2))), a, b) for n, unit, a, b in _sizes(text)
            if unit != "k"]


def size_mib(text: str) -> list[Found]:
    """Sizes in MiB as an integer ("8 GB" -> 8192, "512 MiB" -> 512); kilobytes are too small to count."""
    return [Found(round(n * 1024 ** (_POWER[unit] - 1)), a, b) for n, unit, a, b in _sizes(text) if unit != "k"]


_UNIT_AFTER = (r"\s*(?:%|[kmgt]i?b\b|[kmgt]\b|gbe|[gm]bps|gigs?\b|bytes?\b|gigabit|megabit|seconds?|secs?\b|minutes?"
               r"|mins?\b|hours?|hrs?\b|days?|weeks?|months?|years?|[:./-]\d)")
_COUNT = re.compile(rf"(?<![\w.:/-]){_NUM}(?![\w.:/%-])(?!{_UNIT_AFTER})", re.I)


def count(text: str) -> list[Found]:
    """Plain counts ("3 replicas", "two workers"); numbers with a unit, times and versions are not counts."""
    return _all(_COUNT, text, lambda m: _number(m.group(1)))


_SERIAL_ONE = re.compile(r"\b(one\s+by\s+one|serially|sequentially|in\s+sequence)\b", re.I)
_SERIAL_N = re.compile(rf"\b{_NUM}\s+(?:(?:hosts?|nodes?|machines?)\s+)?at\s+a\s+time\b|\bbatch(?:es)?\s+of\s+{_NUM}\b",
                       re.I)


def serial(text: str) -> list[Found]:
    """How many hosts at once: "one at a time", "serially", "two at a time", "in batches of 3"."""
    found = _all(_SERIAL_ONE, text, lambda m: 1)
    found += _all(_SERIAL_N, text, lambda m: _number(m.group(1) or m.group(2)))
    return sorted(found, key=lambda f: f.start)


_DURATION = re.compile(rf"(?<![\w.]){_NUM}\s*(seconds?|secs?|s|minutes?|mins?|hours?|hrs?|h|days?|d|weeks?|w|months?"
                       r"|years?|y)(?![a-z])", re.I)
_SPAN_UNIT = {"s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s", "min": "min", "mins": "min",
              "minute": "min", "minutes": "min", "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
              "d": "day", "day": "day", "days": "day", "w": "week", "week": "week", "weeks": "week",
              "month": "month", "months": "month", "y": "year", "year": "year", "years": "year"}


def duration(text: str) -> list[Found]:
    """Time spans as systemd writes them ("2 weeks" -> "2weeks", "90 minutes" -> "90min", "a month" is not read)."""
    def value(m: re.Match[str]) -> str:
        n, unit = _number(m.group(1)), _SPAN_UNIT[m.group(2).lower()]
        plural = n != 1 and unit in ("day", "week", "month", "year")
        return f"{n}{unit}{'s' if plural else ''}"
    return _all(_DURATION, text, value)


# Whole day names and their usual short forms only: "monitoring" is no Monday.
_DAY = r"(mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)(?:day|nesday|sday|urday)?"
_CLOCK = r"(\d{1,2})(?::(\d{2}))?\s*(am|pm)?"
_WHEN = re.compile(
    rf"\b(?:(\d{{4}}-\d{{2}}-\d{{2}})(?:[ t]{_CLOCK})?"  # 2025-06-01 14:00
    rf"|(?:on\s+)?{_DAY}\b(?:\s+(?:at\s+)?{_CLOCK}(?=\s|$|[,.;!?]))?"  # fri 22:00, Friday at 10pm
    r"|(tonight|tomorrow|today|next\s+week(?:end)?|this\s+week(?:end)?|(?:over\s+)?the\s+weekend)"
    rf"(?:\s+at\s+{_CLOCK})?"
    rf"|at\s+{_CLOCK}(?=\s|$|[,.;!?]))", re.I)


def _clock(hour: str | None, minute: str | None, half: str | None) -> str | None:
    if hour is None:
        return None
    h, m = int(hour), int(minute or 0)
    if half:
        h = h % 12 + (12 if half.lower() == "pm" else 0)
    elif minute is None:
        return None  # a bare number after a day ("friday 3") is no time
    return f"{h:02d}:{m:02d}" if h < 24 and m < 60 else None


def when(text: str) -> list[Found]:
    """A date, time or window as the person said it, normalised: "Friday at 10pm" -> "fri 22:00",
    "next weekend", "tonight", "2025-06-01 14:00", "at 3am" -> "03:00"."""
    def value(m: re.Match[str]) -> str | None:
        g = m.groups()
        if g[0]:
            clock = _clock(g[1], g[2], g[3])
            return f"{g[0]} {clock}" if clock else g[0]
        if g[4]:
            clock = _clock(g[5], g[6], g[7])
            return f"{g[4][:3].lower()} {clock}" if clock else g[4][:3].lower()
        if g[8]:
            window = re.sub(r"\s+", " ", g[8].lower()).removeprefix("over ")
            clock = _clock(g[9], g[10], g[11])
            return f"{window} {clock}" if clock else window
        return _clock(g[12], g[13], g[14]) if (g[13] or g[14]) else None
    return _all(_WHEN, text, value)


def _window(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # As "when" reads it, with the dates it means on the day the plan is made.
    today = named.today or datetime.now(UTC).date()
    return [Found(dates.resolve(f.value, today), f.start, f.end) for f in when(text)]


_TZ = re.compile(r"\b((?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
                 r"/[A-Za-z_+\-]+(?:/[A-Za-z_]+)?)\b")
_UTC = re.compile(r"\bUTC\b")


def timezone(text: str) -> list[Found]:
    """IANA time zone names ("Europe/Berlin"); "UTC" is Etc/UTC."""
    found = _all(_TZ, text, lambda m: m.group(1)) + _all(_UTC, text, lambda m: "Etc/UTC")
    return sorted(found, key=lambda f: f.start)


_KEY_VALUE = re.compile(r"(?<![\w.-])([a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*)\s*(?:=|:|\s+to)\s*(-?\d+|[A-Za-z0-9_./-]+)"
                        r"(?![\w.-])")


def key_value(text: str) -> list[Found]:
    """``key=value`` pairs, and dotted keys set "to" a value ("vm.swappiness to 1"), as one map per run
    of pairs. Numbers become integers. A plain word before "to" is no key: only dotted or ``=`` pairs count."""
    pairs: dict[str, Any] = {}
    start = end = -1
    for m in _KEY_VALUE.finditer(text):
        key, sep, raw = m.group(1), m.group(0)[len(m.group(1)):].strip()[:1], m.group(2)
        if sep not in "=:" and "." not in key:
            continue  # "set the limit to 5": English, not a setting
        if sep == ":" and "." not in key:
            continue  # "note: something" is prose
        pairs[key] = int(raw) if re.fullmatch(r"-?\d+", raw) else raw
        start = m.start() if start < 0 else start
        end = m.end()
    return [Found(pairs, start, end)] if pairs else []


# registry/namespace/name:tag or @digest: a slash or a tag is what tells an image from a plain word.
_IMAGE = re.compile(r"(?<![\w./:@-])((?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
                    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64}))(?![\w/:@-])")


def image(text: str) -> list[Found]:
    """Container images with a tag or digest ("docker.io/ollama/ollama:0.5.7", "grafana/grafana:11.4.0");
    a time ("10:30") or a host:port is no image."""
    return _all(_IMAGE, text, lambda m: None if re.fullmatch(r"[\d.]+:\d+", m.group(1)) else m.group(1))


_PORT = re.compile(r"\bport\s*(?:number\s*)?:?\s*(\d{1,5})\b|(?<![\w.:/-]):(\d{2,5})\b(?![\w.:/-])", re.I)


def port(text: str) -> list[Found]:
    """TCP ports as said: "port 11434", "on port 8096", ":3000"; only 1-65535."""
    return _all(_PORT, text, lambda m: v if 1 <= (v := int(m.group(1) or m.group(2))) <= 65535 else None)


_CALLED = re.compile(r"\b(?:called|named|as)\s+([a-z0-9][a-z0-9-]{0,61}[a-z0-9])\b(?![.:/])", re.I)


def _app_name(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # A name given as such ("as ollama", "called webui") first, else the name of the image's repository.
    out = _all(_CALLED, text, lambda m: m.group(1).lower())
    out += [Found(re.sub(r"[^a-z0-9-]", "-", f.value.split("@")[0].rsplit(":", 1)[0].rsplit("/", 1)[-1].lower())
                  .strip("-")[:63], f.start, f.end) for f in image(text)]
    return out


def _config(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # A value the project's configuration fixes (the meta file names the key): the request has no say.
    value = named.config.get(str(spec.get("key")))
    return [Found(value, 0, 0)] if value not in (None, "") else []


def _named(value: Callable[[Named], Any]) -> Callable[[str, Named, dict[str, Any]], list[Found]]:
    def read(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
        v = value(named)
        return [Found(v, 0, 0)] if v not in (None, "") else []
    return read


_UNIT_NAME = re.compile(r"(?<![\w.-])([a-z0-9][a-z0-9@_-]*)\.service\b", re.I)


def _host_pattern(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # The whole pattern first (no place in the text), then each host or group of it where the request
    # names it, so that `near` words can pick the one they stand by ("delay the k3s nodes").
    if not named.limit:
        return []
    out = [Found(named.limit, 0, 0)]
    for term in dict.fromkeys(t.lstrip("!&") for t in re.split(r"[,:]", named.limit)):
        if term and term != "all":
            out += [Found(term, m.start(), m.end())
                    for m in re.finditer(rf"(?<![\w-]){re.escape(term)}(?![\w-])", text, re.I)]
    return out


def _service(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # A documented service first; else a unit written as such ("nginx.service").
    if named.services:
        return [Found(named.services[0], 0, 0)]
    return _all(_UNIT_NAME, text, lambda m: m.group(1))


def _choice(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # The variable's own choices, written as words in the request.
    out = []
    for choice in spec.get("choices") or []:
        # "open-webui", "open_webui" and "open webui" are one choice as people write it.
        words = r"[\s_-]?".join(re.escape(w) for w in re.split(r"[\s_-]+", str(choice)))
        m = re.search(rf"(?<![\w-]){words}(?![\w-])", text, re.I)
        if m:
            out.append(Found(choice, m.start(), m.end()))
    return sorted(out, key=lambda f: f.start)


def _known_names(named: Named) -> list[str]:
    # Services the tool has recorded (a trial to remove or promote), then the recipes it knows.
    recorded = [str(r["name"]) for r in named.records if r.get("added_by") and r.get("name")]
    return list(dict.fromkeys([*recorded, *named.recipes]))


def known_services(text: str, named: Named, spec: dict[str, Any] | None = None) -> list[Found]:
    """The services ``text`` names that the tool knows (recorded trials, recipes), in the order written:
    "Ollama", "open webui" and "open-webui" all name the open-webui recipe."""
    out = []
    for name in _known_names(named):
        words = r"[\s-]+".join(re.escape(part) for part in name.split("-"))
        out += [Found(name, m.start(), m.end()) for m in re.finditer(rf"(?<![\w-]){words}(?![\w-])", text, re.I)]
    return sorted(out, key=lambda f: f.start)


def _service_record(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # One field of what to promote: the named service's recorded trial, else its recipe (promotion.py).
    from planner.planning.promotion import record_for

    out = []
    for found in known_services(text, named, spec):
        record = record_for(found.value, list(named.records), named.recipes)
        value = record.values.get(str(spec.get(RECORD_FIELD))) if record else None
        if value is not None:
            out.append(Found(value, found.start, found.end))
    return out


_PERCENT = re.compile(r"(?<![\w.])(\d{1,4})\s*(?:%|percent\b|pct\b)", re.I)
_ASKS_LIMITS = re.compile(r"(?<![\w-])(?:limit|limits|limiting|quota|quotas|cap|capping|throttle|throttling|restrict)"
                          r"(?![\w-])", re.I)
#: The CPU quota limits get when the request gives none: half of one CPU, well below a busy loop's whole core.
DEFAULT_CPU_QUOTA_PCT = 50


def _diagnosed_limits(text: str, named: Named, spec: dict[str, Any]) -> list[Found]:
    # The units written as such ("transcode.service"), else those the host's written-back diagnosis found
    # running away (the named host, else the one diagnosed last), narrowed to the ones the request names ("the
    # transcode service"). A CPU percentage and a memory size from the words; with neither, half a CPU.
    from planner.planning.diagnoses import newest_runaway_host

    if not _ASKS_LIMITS.search(text):
        return []  # "stop the runaway processes" asks for no limits, though the same diagnosis has units
    written = list(dict.fromkeys(f"{m.group(1)}.service" for m in _UNIT_NAME.finditer(text)))
    host = named.single_host or newest_runaway_host(named.diagnoses)
    found = list((named.diagnoses.get(host) or {}).get("units") or []) if host else []
    said = [u for u in found if re.search(rf"(?<![\w-]){re.escape(u.rsplit('.', 1)[0])}(?![\w-])", text, re.I)]
    units = written or said or found
    if not units:
        return []
    percent = _all(_PERCENT, text, lambda m: int(m.group(1)))
    memory = [f.value for f in size_mib(text)
              if re.search(r"\b(memory|ram|mem)\b", text[max(f.start - 40, 0):f.end + 20], re.I)]
    cpu = percent[0].value if percent else 0 if memory else DEFAULT_CPU_QUOTA_PCT
    return [Found([{"unit": unit, "cpu_quota_pct": cpu, "memory_max_mib": memory[0] if memory else 0}
                   for unit in units], 0, 0)]


def _text_only(reader: Callable[[str], list[Found]]) -> Callable[[str, Named, dict[str, Any]], list[Found]]:
    return lambda text, named, spec: reader(text)


EXTRACTORS: dict[str, Extractor] = {e.name: e for e in (
    Extractor("speed_mbps", "int", _text_only(speed_mbps), "a link speed in Mbps: 2.5GbE, 10 gigabit, 1000 Mbps"),
    Extractor("size", "str", _text_only(size), "a size string: 500M, 1G (from 500 MB, 1 GiB)"),
    Extractor("size_mib", "int", _text_only(size_mib), "a size in MiB: 8 GB -> 8192"),
    Extractor("size_gib", "int", _text_only(size_gib), "a size in GiB: 20 GB -> 20"),
    Extractor("image", "str", _text_only(image), "a container image with its tag: docker.io/ollama/ollama:0.5.7"),
    Extractor("port", "int", _text_only(port), "a TCP port: port 11434, :3000"),
    Extractor("app_name", "str", _app_name, "an app's name: 'as ollama', else the image's name"),
    Extractor("config", "str", _config, "a setting of .homelab/config.yml the meta file names (key: gitops.repo)"),
    Extractor("count", "int", _text_only(count), "a plain count: 3 replicas, two workers"),
    Extractor("serial", "int", _text_only(serial), "hosts at once: one at a time, in batches of 3"),
    Extractor("duration", "str", _text_only(duration), "a systemd time span: 2 weeks -> 2weeks"),
    Extractor("when", "str", _text_only(when), "a date, time or window: fri 22:00, next weekend, tonight"),
    Extractor("window", "str", _window,
              "a date, time or window with its dates: next weekend (Sat 2026-12-12 – Sun 2026-12-13)"),
    Extractor("timezone", "str", _text_only(timezone), "an IANA time zone: Europe/Berlin; UTC -> Etc/UTC"),
    Extractor("key_value", "dict", _text_only(key_value), "key=value pairs, or dotted keys 'to' a value"),
    Extractor("host_pattern", "str", _host_pattern, "the hosts and groups the request names, as a limit"),
    Extractor("host", "str", _named(lambda n: n.single_host), "the one host the request names"),
    Extractor("service_name", "str", _service, "a documented service the request names, or a unit name.service"),
    Extractor("choice", "any", _choice, "one of the variable's choices, written in the request"),
    Extractor("known_service", "str", known_services,
              "a service the request names that the tool knows: a recorded trial or a recipe (ollama, jellyfin)"),
    Extractor("service_record", "any", _service_record,
              "one field of the named service's recorded trial (else its recipe): image, port, gpus, …"),
    Extractor("diagnosed_limits", "list", _diagnosed_limits,
              "resource limits for the units named (x.service), else those the host's last diagnosis found running "
              "away: [{unit, cpu_quota_pct, memory_max_mib}]"),
)}
#: Extractors that read one field of a record; the meta file names the field (``field:``).
RECORD_EXTRACTORS = ("service_record",)
#: The key under which :func:`extract` hands a record extractor the field its meta file names.
RECORD_FIELD = "__field"


#: Which argument-spec types can hold what each kind of extractor gives.
_FITS: dict[str, tuple[str, ...]] = {
    "int": ("int", "float", "raw", "json", "jsonarg", "bytes", "bits"),
    "str": ("str", "path", "raw", "bytes", "bits"),
    "dict": ("dict", "raw", "json", "jsonarg"),
    "list": ("list", "raw", "json", "jsonarg"),
    "any": ("str", "path", "raw", "int", "float", "bool", "list", "dict", "json", "jsonarg", "bytes", "bits"),
}


def fits(name: str, option_type: str) -> bool:
    """Whether extractor ``name`` gives a value a variable of ``option_type`` accepts."""
    return option_type in _FITS[EXTRACTORS[name].gives]


def _near_spans(text: str, words: Sequence[str]) -> list[tuple[int, int]]:
    if not words:
        return []
    pattern = re.compile(r"(?<![\w-])(?:" + "|".join(re.escape(w.lower()) for w in words) + r")(?:s|es)?(?![\w-])",
                         re.I)
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def _gap(text: str, a: tuple[int, int], b: tuple[int, int]) -> int | None:
    """Words between two spans; None when a sentence ends between them."""
    between = text[min(a[1], b[1]):max(a[0], b[0])] if a[1] <= b[0] or b[1] <= a[0] else ""
    if re.search(r"[.;!?](\s|$)", between):
        return None
    return len(re.findall(r"[\w./-]+", between))


@dataclass(frozen=True)
class Wanted:
    """How one variable is read: the extractor and the words it must stand near, if any."""

    extractor: str
    near: tuple[str, ...] = field(default_factory=tuple)
    not_near: tuple[str, ...] = field(default_factory=tuple)  # the candidate these words pick is not this value
    key: str | None = None  # the setting the config extractor reads
    record_field: str | None = None  # the field a record extractor reads


def extract(wanted: Wanted, text: str, named: Named | None = None, spec: dict[str, Any] | None = None) -> Any:
    """The value ``wanted`` reads from ``text``, or None: with ``near`` words, the candidate closest to one
    of them (within :data:`NEAR_WORDS` words of the same sentence); without, the first. The candidate the
    ``not_near`` words would pick (another variable's) is left out either way."""
    context = dict(spec or {})
    if wanted.key:
        context["key"] = wanted.key
    if wanted.record_field:
        context[RECORD_FIELD] = wanted.record_field
    found = EXTRACTORS[wanted.extractor].read(text, named or Named(), context)
    if wanted.not_near:
        # "upgrade on friday, delay the k3s nodes until next weekend": the weekend is the other variable's.
        taken = _closest(text, found, wanted.not_near)
        found = [f for i, f in enumerate(found) if i != taken]
    if not found:
        return None
    if not wanted.near:
        return found[0].value
    best = _closest(text, found, wanted.near)
    return found[best].value if best is not None else None


def _closest(text: str, found: list[Found], words: Sequence[str]) -> int | None:
    """The index of the candidate closest to one of ``words`` (within NEAR_WORDS, same sentence), or None.
    At the same distance, one that follows the word wins ("upgrade X, delay Y": Y is delayed). A value
    with no place in the text (an empty span) stands near nothing."""
    anchors = _near_spans(text, words)
    best: tuple[int, int, int] | None = None
    for i, f in enumerate(found):
        if f.end <= f.start:
            continue
        for a in anchors:
            gap = _gap(text, (f.start, f.end), a)
            key = (gap, 0 if f.start >= a[1] else 1, i) if gap is not None and gap <= NEAR_WORDS else None
            if key is not None and (best is None or key < best):
                best = key
    return best[2] if best is not None else None
