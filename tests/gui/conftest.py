"""Fixtures the GUI tests share: an Xvfb display, the bridge where libvirt's client looks
by default, and the directory of their screenshots."""

import os
import subprocess

import pytest

import bridgeclient as bc
import vsharness as h

SCREEN = (1280, 1024)


def artifacts_dir():
    d = os.path.join(h.env("VS_BUILD_DIR"), "test-artifacts", "gui")
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def xvfb():
    for number in range(90, 120):
        if not os.path.exists(f"/tmp/.X11-unix/X{number}") and \
                not os.path.exists(f"/tmp/.X{number}-lock"):
            break
    display = f":{number}"
    proc = subprocess.Popen(["Xvfb", display, "-screen", "0", f"{SCREEN[0]}x{SCREEN[1]}x24",
                             "-nolisten", "tcp", "-br"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h.wait_until(lambda: os.path.exists(f"/tmp/.X11-unix/X{number}") or proc.poll() is not None,
                 30, what="Xvfb")
    assert proc.poll() is None, "Xvfb exited"
    yield display
    proc.terminate()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def bridge_at_libvirt_paths():
    """The bridge, reachable where libvirt's client looks for qemu:///system."""
    bridge = bc.Bridge("bridge-libvirt-paths")
    os.makedirs("/run/libvirt", exist_ok=True)
    # The harness's own mount namespace: nothing of this is seen outside it.
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0755", "virtswarm-test",
                    "/run/libvirt"], check=True)
    try:
        os.symlink(bridge.rw, "/run/libvirt/libvirt-sock")
        os.symlink(bridge.ro, "/run/libvirt/libvirt-sock-ro")
        yield bridge
    finally:
        subprocess.run(["umount", "-l", "/run/libvirt"], check=False)
        bridge.stop()
