#!/usr/bin/env bash
# Creates .venv with a Python >= 3.12 and installs the project into it.
# ansible-core >= 2.20 needs Python >= 3.12 on the controller, and many
# machines still ship an older python3, so look beyond PATH (pyenv, uv,
# deadsnakes-style names) before giving up with a clear message.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
MIN_MINOR=12

ok_python() {
    "$1" -c "import sys, venv; sys.exit(0 if sys.version_info >= (3, $MIN_MINOR) else 1)" 2>/dev/null
}

find_python() {
    local c
    local candidates=()
    [ -n "${HOMELAB_PYTHON:-}" ] && candidates+=("$HOMELAB_PYTHON")
    candidates+=(python3.13 python3.12 python3.14 python3)
    local roots=()
    command -v pyenv >/dev/null 2>&1 && roots+=("$(pyenv root)/versions")
    roots+=("$HOME/.pyenv/versions" "$HOME/.local/share/uv/python")
    for r in "${roots[@]}"; do
        for c in $(ls -d "$r"/*3.1[2-9]* "$r"/*3.[2-9][0-9]* 2>/dev/null | sort -rV); do
            candidates+=("$c/bin/python3")
        done
    done
    for c in "${candidates[@]}"; do
        if command -v "$c" >/dev/null 2>&1 && ok_python "$(command -v "$c")"; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

if [ ! -x "$VENV/bin/python" ] || ! ok_python "$VENV/bin/python"; then
    if ! PY=$(find_python); then
        echo "Error: no Python >= 3.$MIN_MINOR found (ansible-core >= 2.20 needs it on the controller)." >&2
        echo "Hint:  install one (apt-get install python3.12, pyenv install 3.12, or uv python install 3.12)," >&2
        echo "       or point HOMELAB_PYTHON at its interpreter, then run make again." >&2
        exit 3
    fi
    echo "Creating $VENV with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))" >&2
    rm -rf "$VENV"
    "$PY" -m venv "$VENV"
fi

# pip's own chatter goes to a log; it is shown only when the install fails.
log="$VENV/install.log"
if ! { "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip \
       && "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[dev]'; } >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -40 >&2
    echo "Error: installing the project into $VENV failed (full log: $log)." >&2
    echo "Hint:  check that PyPI is reachable, then run make again." >&2
    exit 1
fi

# ansible-test sanity (make lint) gives each of its tests a virtual environment with pinned packages: made
# now, from PyPI, so that the checks themselves run offline.
if ! VENV="$VENV" scripts/sanity.sh --prime-venvs >"$VENV/sanity-venvs.log" 2>&1; then
    tail -20 "$VENV/sanity-venvs.log" >&2
    echo "Error: preparing ansible-test's sanity environments failed (full log: $VENV/sanity-venvs.log)." >&2
    echo "Hint:  check that PyPI is reachable, then run make again." >&2
    exit 1
fi

# The sandbox lab needs debootstrap (to build its Debian root filesystem once)
# and systemd-nspawn (to boot each host); the tests need ssh. Install them when we may.
need=()
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need+=(debootstrap)
command -v systemd-nspawn >/dev/null 2>&1 || need+=(systemd-container)
# The HTML review is checked in a real browser: Debian's headless Chromium.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
# Scheduled applies (homelab apply --at) use at where no systemd manager runs (containers, CI); the tests start atd.
command -v at >/dev/null 2>&1 || need+=(at)
# The lab's Uptime Kuma is the npm package, run by this machine's node inside its lab host (Debian 12's
# node 18 fits its engines: "14 || 16 || 18 || >= 20.4.0"); npm builds its SQLite binding when it must.
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Installing ${need[*]} for the sandbox lab" >&2
        apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
    else
        echo "Note: the sandbox lab needs ${need[*]} (apt-get install ${need[*]}); the rest works without." >&2
    fi
fi
touch "$VENV/.installed"
