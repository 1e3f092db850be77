#!/usr/bin/env bash
# `make test` after set-up: the static checks and the pytest suite, run side by side. The labs were made to run
# side by side, and a test's time is not all CPU: a scheduled apply waits for its minute, Prometheus for its
# first scrape, a host boots, SSH connects. So four jobs start at once, each shown in full (the first live,
# the others when all have ended):
#   checks   `make lint` (ansible-lint, ruff, mypy, the RCA documents, ansible-test sanity and
#            `homelab docs --check`); a failure here stops the other jobs at once, as it stopped `make test`
#            before any test ran when the checks came first
#   first    every test file not listed below, on the session lab $HOMELAB_TEST_LAB_NET (127.0.3 by default)
#   beside   the molecule scenarios (one lab per scenario, on $HOMELAB_MOLECULE_LAB_NET), then the files in
#            BESIDE, on a session lab of their own ($HOMELAB_TEST_LAB_NET_BESIDE, 127.0.4 by default)
#   waits    the files in WAITS, whose time is mostly waiting for a clock (atd fires on the minute, Prometheus
#            scrapes every 30 s), on a session lab of their own ($HOMELAB_TEST_LAB_NET_WAITS, 127.0.5)
# The files that start labs of their own derive their nets from their job's. BESIDE is chosen so that the
# first two jobs take about as long (README, "make test"); both files that use atd are in WAITS, so that one
# job starts and stops it. The exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-test.XXXXXX")

BESIDE=(
    tests/integration/test_molecule.py
    tests/integration/test_monitoring_session.py
    tests/integration/test_address_loss_session.py
    tests/integration/test_slow_host_session.py
    tests/integration/test_reserve_addresses.py
    tests/integration/test_ollama_session.py
    tests/integration/test_trial_service.py
    tests/integration/test_deploy_monitoring.py
    tests/integration/test_sync_monitors.py
)
WAITS=(
    tests/integration/test_schedule.py
    tests/integration/test_network_upgrade_session.py
    tests/integration/test_audit_monitoring.py
)
# The checkout's bytecode, written once: the tests' project copies take it with them (tests/projects.py).
"$BIN/python" -m compileall -q -j 0 planner collections/ansible_collections/homelab/ops/plugins >/dev/null

ignored=()
for file in "${BESIDE[@]}" "${WAITS[@]}"; do ignored+=("--ignore=$file"); done

# A shell without job control starts a background job with SIGINT ignored, and Python keeps what it inherits;
# each job puts SIGINT back first, so that a Ctrl-C on the terminal (which reaches every process of the
# foreground group, each job too) or a TERM to this script (turned into the same, below) stops them all,
# and each pytest stops the labs it started.
began=$SECONDS
( trap - INT; exec make --no-print-directory lint ) >"$work/checks.log" 2>&1 &
checks=$!
( trap - INT; exec "$BIN/pytest" -q "${ignored[@]}" "$@" ) &
first=$!
# Another pytest stream: NAME on a session lab of its own at NET, with its own temporary directory and log.
stream() {
    local name=$1 net=$2
    shift 2
    ( trap - INT; export HOMELAB_TEST_LAB_NET=$net
      exec "$BIN/pytest" -q -p no:cacheprovider --basetemp="$work/$name" "$@" ) >"$work/$name.log" 2>&1 &
}
stream beside "${HOMELAB_TEST_LAB_NET_BESIDE:-127.0.4}" "${BESIDE[@]}" "$@"
beside=$!
stream waits "${HOMELAB_TEST_LAB_NET_WAITS:-127.0.5}" "${WAITS[@]}" "$@"
waits=$!
jobs_=("$checks" "$first" "$beside" "$waits")

# How the jobs are stopped. A Ctrl-C has reached every process already (a second SIGINT would cut short the
# first one's clean-up, a lab's teardown). A TERM is turned into what a Ctrl-C does: SIGINT to the whole
# process group, which this script ignores meanwhile. Failed checks stop the pytest jobs alone.
stop() {
    case $1 in
        INT) ;;
        TERM) trap '' INT; kill -INT 0 ;;
        *) kill -INT "$first" "$beside" "$waits" 2>/dev/null ;;
    esac
    wait "${jobs_[@]}"
}
shown() {
    echo "== $1:"
    cat "$2"
}
trap 'stop INT; exit 130' INT
trap 'stop TERM; exit 143' TERM

wait "$checks"
checked=$?
checks_took=$(( SECONDS - began ))
if [ "$checked" -ne 0 ]; then
    stop checks
    shown "the checks failed (make lint); the tests were stopped" "$work/checks.log"
    rm -rf "$work"
    exit "$checked"
fi
wait "$first"
rc_first=$?
wait "$beside"
rc_beside=$?
wait "$waits"
rc_waits=$?
trap - INT TERM

shown "the checks (make lint, $checks_took s beside the tests)" "$work/checks.log"
shown "the second stream (the molecule scenarios and $(( ${#BESIDE[@]} - 1 )) integration files)" "$work/beside.log"
shown "the third stream (${#WAITS[@]} integration files that mostly wait for a clock)" "$work/waits.log"
rm -rf "$work"
for rc in "$rc_first" "$rc_beside" "$rc_waits"; do
    [ "$rc" -ne 0 ] && exit "$rc"
done
exit 0
