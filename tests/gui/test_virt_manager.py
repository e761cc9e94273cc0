"""GUI: virt-manager's console window shows a running guest through virtswarm-proxyd,
unmodified.

virt-manager runs on a private Xvfb display on qemu:///system, found where libvirt's
client looks for it (the bridge_at_libvirt_paths fixture), so the connection is local.
It first checks the domain against the host's capabilities (every machine type QEMU has,
as libvirt lists them), then asks for a pre-connected socket to the display
(virDomainOpenGraphicsFD), as it always does on local connections. The guest's lines of
text, read over a socket of our own, must appear in a screenshot of the display.
Screenshots go to <build>/test-artifacts/gui/.
"""

import os
import shutil
import subprocess

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h
from conftest import artifacts_dir
from xscreen import wait_until_shown

pytestmark = [
    pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus"),
    pytest.mark.skipif(not shutil.which("virt-manager") or not shutil.which("Xvfb"),
                       reason="needs virt-manager and Xvfb"),
]


def test_virt_manager_console_shows_the_guest(xvfb, bridge_at_libvirt_paths):
    name = vc.unique("manager")
    path = vc.define(vc.domain_xml(name, extra_devices="<graphics type='vnc' autoport='yes'/>"))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    out = artifacts_dir()
    home = bc.virsh_home(bridge_at_libvirt_paths.root)
    # No session bus or dconf here: GSettings in memory, no accessibility bus.
    env = dict(os.environ, DISPLAY=xvfb, HOME=home, XDG_CONFIG_HOME=home, XDG_CACHE_HOME=home,
               GSETTINGS_BACKEND="memory", NO_AT_BRIDGE="1", GDK_BACKEND="x11")
    log = open(os.path.join(out, "virt-manager.log"), "w")
    manager = subprocess.Popen(["virt-manager", "--no-fork", "-c", "qemu:///system",
                                "--show-domain-console", name],
                               env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_until_shown(xvfb, path, manager, os.path.join(out, "virt-manager-console.png"))
        # A local connection: the display came as a socket from the bridge, not a port.
        assert "virDomainOpenGraphicsFD" in bridge_at_libvirt_paths.output()
    finally:
        h.end_process(manager, 30)
        log.close()
        vc.cleanup_all()
