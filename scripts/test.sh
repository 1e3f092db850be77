#!/usr/bin/env bash
# The pytest half of `make test`. The molecule scenarios (one lab per scenario, on
# $HOMELAB_MOLECULE_LAB_NET) run in a second pytest beside the rest of the suite
# (whose labs are on $HOMELAB_TEST_LAB_NET and nets derived from it): the labs were
# made to run side by side, and most of a scenario's time is spent waiting on SSH
# and on booting hosts, so two streams finish well before one would.
# Both outputs are shown; the exit status is the first failure's.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${VENV:-.venv}/bin
work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-test.XXXXXX")
log="$work/molecule.log"

"$BIN/pytest" -q -p no:cacheprovider --basetemp="$work/tmp" tests/integration/test_molecule.py "$@" >"$log" 2>&1 &
molecule=$!
# A Ctrl-C or a CI timeout stops both streams; each stops the labs it started.
trap 'kill -INT "$molecule" 2>/dev/null; wait "$molecule"; exit 130' INT TERM

"$BIN/pytest" -q --ignore=tests/integration/test_molecule.py "$@"
rest=$?
wait "$molecule"
mol=$?
trap - INT TERM

echo "== the molecule scenarios (run beside the rest):"
cat "$log"
rm -rf "$work"
[ "$rest" -ne 0 ] && exit "$rest"
exit "$mol"
