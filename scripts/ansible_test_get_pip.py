"""ansible-test's pip bootstrap, without its download.

ansible-test fills each sanity test's virtual environment by running a ``get-pip.py`` that it fetches from
ci-files.testing.ansible.com, a host a machine limited to PyPI cannot reach. scripts/sanity.sh puts this
file where ansible-test caches that script: it installs the pip bundled with the interpreter (ensurepip),
which then installs the pip version ansible-test asked for, and everything else, from PyPI as usual.
"""

import ensurepip
import runpy
import sys

ensurepip.bootstrap()
# get-pip.py's own options; the pip it installs takes the rest as `pip install` arguments.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.argv = ["pip", "install", *args]
runpy.run_module("pip", run_name="__main__", alter_sys=True)
