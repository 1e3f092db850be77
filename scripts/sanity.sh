#!/usr/bin/env bash
# `ansible-test sanity` for the project's collection (homelab.ops), run by `make lint`.
#
# ansible-test must run from the collection's root, which must sit at .../ansible_collections/NS/NAME (a copy
# of collections/ansible_collections/homelab/ops, below). It runs on the venv's Python, without containers.
# Each sanity test that needs packages (pylint, validate-modules, yamllint, …) gets a virtual environment of
# its own under ~/.ansible/test/venv: HOME points into the venv here, so those environments are the
# checkout's, made once by `make setup` (`scripts/sanity.sh --prime-venvs`, from PyPI) and reused offline.
# Its exceptions, each with its reason: collections/ansible_collections/homelab/ops/tests/sanity/ignore-X.Y.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
VENV=${VENV:-.venv}
case $VENV in /*) ;; *) VENV=$root/$VENV ;; esac
py=$VENV/bin/python
version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
export HOME=$VENV/ansible-test-home
# ansible-test's pip bootstrap script, cached under the name of the pip version it pins.
pip_version=$("$py" - <<'PY'
import inspect, re
from ansible_test._internal import python_requirements as r
print(re.search(r"pip='([0-9.]+)'", inspect.getsource(r.get_venv_packages)).group(1))
PY
)
cache=$HOME/.ansible/test/cache
mkdir -p "$cache"
cp "$root/scripts/ansible_test_get_pip.py" "$cache/get_pip_${pip_version//./_}.py"
# ansible-test writes its results into the collection's tests/output/, and the collection is an input of every
# plan (its digests, its snapshot): it runs on a copy, so that `make lint` never makes a saved plan stale. The
# copy is no git checkout, so ansible-test checks every file there, as in a clone without .git.
work=$(mktemp -d "${TMPDIR:-/tmp}/homelab-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/ansible_collections/homelab"
cp -a collections/ansible_collections/homelab/ops "$work/ansible_collections/homelab/ops"
rm -rf "$work/ansible_collections/homelab/ops/tests/output"
# The exceptions are kept in one file; ansible-test reads the one named for its own release, so a newer
# ansible-core (pyproject asks for >= 2.20) reads the same list.
core=$("$py" -c 'from ansible.release import __version__ as v; print(".".join(v.split(".")[:2]))')
sanity=$work/ansible_collections/homelab/ops/tests/sanity
[ -e "$sanity/ignore-$core.txt" ] || cp "$sanity/ignore-2.21.txt" "$sanity/ignore-$core.txt"
cd "$work/ansible_collections/homelab/ops"
# C.UTF-8 is what a container or CI image has; ansible-test asks for en_US.UTF-8 and falls back to it anyway.
"$VENV/bin/ansible-test" sanity --python "$version" --color no "$@"
