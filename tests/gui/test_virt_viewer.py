"""GUI: virt-viewer shows a running guest's display through virtswarm-proxyd, unmodified.

virt-viewer runs on a private Xvfb display with `--attach` (and `--shared`), so it asks
libvirt for a pre-connected socket (virDomainOpenGraphicsFD: the bridge's REPLY_WITH_FDS,
the registry's socket pair, QMP add_client) instead of a port. What the guest shows, read
over a second socket from Domain.OpenGraphics, must then appear in a screenshot of the X
display, which showed nothing of it before virt-viewer connected. virt-viewer scales the
display to its window, so the guest's lines of text are compared (spacing, indentation,
lengths) at the scale the screen shows them. The screenshots are saved as PNGs under
<build>/test-artifacts/gui/ so a failure can be seen.
"""

import os
import shutil
import subprocess

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h
from conftest import artifacts_dir
from xscreen import Screen, shows, text_lines, wait_until_shown

pytestmark = pytest.mark.skipif(not shutil.which("virt-viewer") or not shutil.which("Xvfb"),
                                reason="needs virt-viewer and Xvfb")

VNC = "<graphics type='vnc' autoport='yes' passwd='viewer-secret'/>"


def test_virt_viewer_shows_the_guest_display(xvfb):
    name = vc.unique("viewer")
    path = vc.define(vc.domain_xml(name, extra_devices=VNC))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    proxyd = bc.Bridge("bridge-viewer")
    out = artifacts_dir()
    viewer = None
    try:
        blank = Screen(xvfb)
        blank.save_png(os.path.join(out, "virt-viewer-0-before.png"))
        env = dict(os.environ, DISPLAY=xvfb, NO_AT_BRIDGE="1", GDK_BACKEND="x11",
                   HOME=bc.virsh_home(proxyd.root))
        log = open(os.path.join(out, "virt-viewer.log"), "w")
        # --shared: QEMU keeps our own reading connection beside virt-viewer's.
        viewer = subprocess.Popen(["virt-viewer", "--attach", "--shared", "-c", proxyd.rw_uri,
                                   name],
                                  env=env, stdout=log, stderr=subprocess.STDOUT)
        # The guest's frame, from our own socket; then wait until the screen shows its
        # lines of text.
        guest = wait_until_shown(xvfb, path, viewer,
                                 os.path.join(out, "virt-viewer-1-guest.png"))
        # Before virt-viewer, none of it was there.
        assert not shows(text_lines(blank), guest)
        # virt-viewer took the socket the bridge passed, not a port.
        assert "virDomainOpenGraphicsFD" in proxyd.output()
    finally:
        if viewer is not None:
            h.end_process(viewer, 30)
        proxyd.stop()
        vc.cleanup_all()
