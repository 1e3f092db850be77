"""The lab's pending package upgrade: a local apt repository in a host holding newer versions of its packages.

``homelab lab plant HOST pending-upgrade`` runs :data:`PLANT_SCRIPT` as root in the host. It builds
two tiny Debian packages with ``dpkg-deb`` (in the host, from Debian's own dpkg) in two versions
each, installs the older ones, serves the newer ones from a flat ``file:`` repository at
:data:`REPO` (a Packages index and a Release file written here), names it in :data:`SOURCE_LIST`
and holds :data:`HELD` (``apt-mark hold``). So apt in the host finds one real pending upgrade
(:data:`UPGRADED` 1.0-1 → 1.1-1) and one held package with a newer version it must not take.

Why built packages and not an older Debian package with its security update: the lab has no
internet and its tests send nothing off loopback, so nothing is downloaded at plant time; a
package the plant owns can be downgraded and purged again without touching anything the host's
services depend on. apt, dpkg and the repository are real: only the packages are small.

Planting again puts both packages back at 1.0-1 (so it plants again after an upgrade); ``--clear``
unholds and purges them and removes the repository and its source line.
"""

from __future__ import annotations

REPO = "/var/lib/homelab-lab/apt"
SOURCE_LIST = "/etc/apt/sources.list.d/homelab-lab.list"
UPGRADED = "homelab-lab-tool"
HELD = "homelab-lab-pinned"
OLD, NEW = "1.0-1", "1.1-1"

PLANT_SCRIPT = f'''
import hashlib, os, shutil, subprocess, sys, tempfile
REPO, LIST, OLD, NEW = {REPO!r}, {SOURCE_LIST!r}, {OLD!r}, {NEW!r}
PKGS, HELD = ({UPGRADED!r}, {HELD!r}), {HELD!r}
BUILT = os.path.join(os.path.dirname(REPO), "installed")
quiet = dict(check=True, stdout=subprocess.DEVNULL, env=dict(os.environ, LC_ALL="C", DEBIAN_FRONTEND="noninteractive"))

def unhold():  # apt-mark refuses a package apt does not know yet: nothing to unhold then
    subprocess.run(["apt-mark", "unhold", HELD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)

def clear():
    unhold()
    subprocess.run(["dpkg", "--purge", *PKGS], **quiet)
    shutil.rmtree(os.path.dirname(REPO), ignore_errors=True)
    if os.path.exists(LIST):
        os.remove(LIST)
    for name in os.listdir("/var/lib/apt/lists"):  # the repository's indexes, fetched by an apt-get update
        if "homelab-lab" in name:
            os.remove(os.path.join("/var/lib/apt/lists", name))
    print("cleared")

def build(name, version, dest):
    work = tempfile.mkdtemp()
    try:
        os.makedirs(f"{{work}}/DEBIAN")
        os.makedirs(f"{{work}}/usr/share/{{name}}")
        with open(f"{{work}}/DEBIAN/control", "w") as f:
            f.write(f"Package: {{name}}\\nVersion: {{version}}\\nArchitecture: all\\n"
                    f"Section: misc\\nPriority: optional\\n"
                    f"Maintainer: homelab-planner lab <lab@localhost>\\n"
                    f"Description: sandbox lab package for update_packages\\n A file that names its version.\\n")
        with open(f"{{work}}/usr/share/{{name}}/version", "w") as f:
            f.write(version + "\\n")
        path = os.path.join(dest, f"{{name}}_{{version}}_all.deb")
        subprocess.run(["dpkg-deb", "--build", "--root-owner-group", work, path], **quiet)
        return path
    finally:
        shutil.rmtree(work)

def entry(path):
    data = open(path, "rb").read()
    control = subprocess.run(["dpkg-deb", "--field", path], check=True, capture_output=True, text=True).stdout
    return (control.rstrip("\\n") + f"\\nFilename: ./{{os.path.basename(path)}}\\nSize: {{len(data)}}\\n"
            f"MD5sum: {{hashlib.md5(data).hexdigest()}}\\nSHA256: {{hashlib.sha256(data).hexdigest()}}\\n")

def plant():
    os.makedirs(REPO, mode=0o755, exist_ok=True)
    os.makedirs(BUILT, mode=0o755, exist_ok=True)
    index = "\\n".join(entry(build(name, NEW, REPO)) for name in PKGS)
    with open(os.path.join(REPO, "Packages"), "w") as f:
        f.write(index)
    digest, size = hashlib.sha256(index.encode()).hexdigest(), len(index.encode())
    with open(os.path.join(REPO, "Release"), "w") as f:
        f.write(f"Origin: homelab-lab\\nLabel: homelab-lab\\nSuite: lab\\nCodename: lab\\nArchitectures: all\\n"
                f"SHA256:\\n {{digest}} {{size}} Packages\\n")
    with open(LIST, "w") as f:
        f.write(f"# The sandbox lab's local repository (homelab lab plant HOST pending-upgrade).\\n"
                f"deb [trusted=yes] file:{{REPO}} ./\\n")
    unhold()
    subprocess.run(["dpkg", "-i", *(build(name, OLD, BUILT) for name in PKGS)], **quiet)
    subprocess.run(["apt-mark", "hold", HELD], **quiet)
    print(f"{{PKGS[0]}} {{OLD}} (newer {{NEW}} in file:{{REPO}}); {{HELD}} {{OLD}} held (newer {{NEW}})")

clear() if sys.argv[1:] == ["clear"] else plant()
'''
