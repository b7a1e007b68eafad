"""
The Debian packages (debian/): dpkg-buildpackage builds libvial0,
libvial-dev and vial-server; lintian reports no error or warning; each
package holds what it should; and the packages, unpacked side by side
(dpkg-deb -x: the installed tree is relocatable, nothing touches this
system's dpkg database), start a project and serve.

A full build of the project of its own (about 2 minutes on two cores, plus
half a minute of lintian), so it runs only when asked: VIAL_TEST_DEB=1
(`make deb-check`).  The install suite (test_install.py) checks the same
installed tree on every `make test`.
"""
from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import tempfile

import pytest

from test_install import REPO, Proc, free_port, sh, user_env, wait_http

pytestmark = pytest.mark.skipif(os.environ.get("VIAL_TEST_DEB") != "1",
                                reason="a full package build: set VIAL_TEST_DEB=1 (make deb-check)")


@pytest.fixture(scope="module")
def debs():
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vial-deb-"))
    src = tmp / "vial"
    src.mkdir()
    try:
        # The working tree as it is (committed or not), without build output.
        files = subprocess.run(["git", "ls-files", "-z", "-c", "-o", "--exclude-standard"], cwd=REPO,
                               capture_output=True, check=True).stdout
        subprocess.run(["tar", "-c", "--null", "-T", "-", "-f", str(tmp / "src.tar")], cwd=REPO,
                       input=files, check=True)
        sh(["tar", "-x", "-f", str(tmp / "src.tar"), "-C", str(src)])
        sh(["dpkg-buildpackage", "-us", "-uc", "-b"], cwd=src, timeout=1200)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def deb(debs, name):
    found = sorted(debs.glob(f"{name}_*.deb"))
    assert len(found) == 1, (name, found)
    return found[0]


def test_lintian_clean(debs):
    changes = next(debs.glob("vial_*.changes"))
    r = sh(["lintian", "--pedantic", str(changes)], check=False, timeout=600)
    bad = [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:")]
    assert not bad, r.stdout


def test_contents(debs):
    def files(name):
        out = sh(["dpkg-deb", "-c", str(deb(debs, name))]).stdout
        return [l.split()[-1] if " -> " not in l else l.split()[-3] for l in out.splitlines()]
    lib = files("libvial0")
    assert any(f.endswith("/libvial.so.0") for f in lib) and any(f.endswith("/libvial.so.0.1.0") for f in lib)
    assert not any(f.endswith((".a", ".h", "/libvial.so")) for f in lib)
    dev = files("libvial-dev")
    for want in ("./usr/include/vial.h", "/libvial.a", "/libvial.so", "/pkgconfig/vial.pc",
                 "/cmake/vial/vialConfig.cmake", "./usr/bin/vial", "./usr/share/vial/skeleton/src/app.c",
                 "./usr/share/man/man7/vial.7.gz"):
        assert any(f.endswith(want) for f in dev), want
    server = files("vial-server")
    for want in ("./usr/bin/vial-server", "./usr/share/man/man1/vial-server.1.gz",
                 "./usr/share/vial/apps/dashboard/templates/base.html", "./usr/share/vial/static/css/app.css"):
        assert want in server, want
    soname = sh(["dpkg-deb", "-f", str(deb(debs, "libvial-dev")), "Depends"]).stdout
    assert "libvial0 (= 0.1.0)" in soname


def test_unpacked_packages_work(debs, tmp_path):
    root = tmp_path / "root"
    for name in ("libvial0", "libvial-dev", "vial-server"):
        sh(["dpkg-deb", "-x", str(deb(debs, name)), str(root)])
    usr = root / "usr"
    # vial-server from the package finds its data beside itself.
    port = free_port()
    p = Proc([str(usr / "bin/vial-server"), "--port", str(port), "--debug", "--workers", "1",
              "--database-url", f"sqlite:///{tmp_path}/v.db"], tmp_path, user_env(), tmp_path / "server.log")
    try:
        assert wait_http(f"http://127.0.0.1:{port}/health", p).status_code == 200
    finally:
        assert p.stop() == 0
    # A project from the packaged skeleton, against the packaged library.
    sh([str(usr / "bin/vial"), "new", "pkgd"], cwd=tmp_path, env=user_env())
    r = sh([str(usr / "bin/vial"), "test"], cwd=tmp_path / "pkgd", env=user_env())
    assert "100% tests passed" in r.stdout
