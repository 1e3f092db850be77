#!/usr/bin/env bash
# The pytest half of `make test`, in two streams side by side. The labs were made to run side by side, and a
# test's time is not all CPU: a scheduled apply waits for its minute, a host boots, SSH connects. So the
# second stream runs the molecule scenarios (one lab per scenario, on $HOMELAB_MOLECULE_LAB_NET) and then the
# integration files listed in BESIDE, on a session lab of its own ($HOMELAB_TEST_LAB_NET_BESIDE, 127.0.4 by
# default; the files that start labs of their own derive theirs from it, as the first stream's do from
# $HOMELAB_TEST_LAB_NET). BESIDE is chosen so that both streams take about as long (README, "make test").
# Both outputs are shown; the exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-test.XXXXXX")
log="$work/beside.log"

BESIDE=(
    tests/integration/test_molecule.py
    tests/integration/test_schedule.py
    tests/integration/test_network_upgrade_session.py
    tests/integration/test_monitoring_session.py
    tests/integration/test_address_loss_session.py
    tests/integration/test_slow_host_session.py
    tests/integration/test_reserve_addresses.py
    tests/integration/test_ollama_session.py
    tests/integration/test_trial_service.py
    tests/integration/test_deploy_monitoring.py
)
# The checkout's bytecode, written once: the tests' project copies take it with them (tests/projects.py).
"$BIN/python" -m compileall -q -j 0 planner collections/ansible_collections/homelab/ops/plugins >/dev/null

ignored=()
for file in "${BESIDE[@]}"; do ignored+=("--ignore=$file"); done

HOMELAB_TEST_LAB_NET=${HOMELAB_TEST_LAB_NET_BESIDE:-127.0.4} \
    "$BIN/pytest" -q -p no:cacheprovider --basetemp="$work/tmp" "${BESIDE[@]}" "$@" >"$log" 2>&1 &
beside=$!
# A Ctrl-C or a CI timeout stops both streams; each stops the labs it started.
trap 'kill -INT "$beside" 2>/dev/null; wait "$beside"; exit 130' INT TERM

"$BIN/pytest" -q "${ignored[@]}" "$@"
rest=$?
wait "$beside"
second=$?
trap - INT TERM

echo "== the second stream (the molecule scenarios and $(( ${#BESIDE[@]} - 1 )) integration files, run beside the rest):"
cat "$log"
rm -rf "$work"
[ "$rest" -ne 0 ] && exit "$rest"
exit "$second"
