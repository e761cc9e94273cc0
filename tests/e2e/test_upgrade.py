"""End to end: scripts/virtswarm-upgrade with three guests running — lockd and logd
re-execute in place, the registry restarts, every shim is replaced by one of the binary
on disk that re-attaches to its QEMU, proxyd re-executes keeping its sockets and its
client connections — and no guest notices: the same QEMUs run and tick on without a gap,
their leases and log streams stay, and every call before and after is answered, a
libvirt client's on the connection it had."""

import os
import re
import subprocess

import libvirt

import bridgeclient as bc
import lockclient as lc
import logclient as lg
import vsclient as vc
import vsharness as h

UPGRADE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                       "virtswarm-upgrade")
REGISTRY = "org.virtswarm.Hypervisor1"


def pid_of(name: str) -> int:
    return int(h.bus_daemon().GetConnectionUnixProcessID(name))


def shim_name(path: str) -> str:
    return "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]


def ticks(serial: str) -> list[int]:
    with open(serial, errors="replace") as f:
        return [int(n) for n in re.findall(r"^VIRTSWARM-TICK (\d+)\r?$", f.read(), re.M)]


def test_an_upgrade_replaces_every_daemon_and_shim_under_running_guests(tmp_path):
    guests = []
    for i in range(3):
        name = vc.unique(f"upgrade{i}")
        image = tmp_path / f"{name}.img"
        image.write_bytes(b"\0" * (1 << 20))
        disk = (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                f"<source file='{image}'/><target dev='vda' bus='virtio'/></disk>")
        path = vc.define(vc.domain_xml(name, serial=str(tmp_path / f"{name}.serial"),
                                       extra_devices=disk, ticks=True))
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
        guests.append((name, path, str(vc.prop(path, "UUID")).lower(), str(image)))
    proxyd = bc.Bridge("bridge-upgrade")
    try:
        client = libvirt.open(proxyd.rw_uri)
        assert len(client.listAllDomains()) >= 3
        sockets = {p: os.stat(p).st_ino for p in (proxyd.rw, proxyd.ro)}
        before = {path: (vc.qemu_pid(path), pid_of(shim_name(path))) for _, path, _, _ in guests}
        leases = lc.leases()
        assert {(image, "exclusive", uuid) for _, _, uuid, image in guests} <= leases
        lockd, logd = lc.lockd_pid(), lg.logd_pid()
        lock_owner, log_owner = h.name_owner(lc.BUS_NAME), h.name_owner(lg.BUS_NAME)
        registry = pid_of(REGISTRY)

        serials = [str(tmp_path / f"{name}.serial") for name, _, _, _ in guests]
        for serial in serials:
            vc.wait_file_contains(serial, "VIRTSWARM-TICK 1")
        r = subprocess.run([UPGRADE, "--system", "--timeout", "90"], capture_output=True,
                           text=True, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "virtswarm-upgrade: done" in r.stdout, r.stdout

        # lockd and logd: the same processes, new images; every lease and stream kept.
        assert (lc.lockd_pid(), lg.logd_pid()) == (lockd, logd)
        assert h.name_owner(lc.BUS_NAME) != lock_owner
        assert h.name_owner(lg.BUS_NAME) != log_owner
        assert lc.leases() == leases
        streams = {s[0] for s in lg.streams() if s[2] == "qemu"}
        assert {uuid for _, _, uuid, _ in guests} <= streams
        # The registry and every shim are new processes; every QEMU is the one before.
        assert pid_of(REGISTRY) != registry
        for name, path, _, _ in guests:
            qemu, shim = before[path]
            assert vc.qemu_pid(path) == qemu
            assert pid_of(shim_name(path)) != shim
            assert vc.state(path)[0] == "running"
            assert f"<name>{name}</name>" in str(vc.domain(path).GetXML(vc.no_options()))
        # proxyd: the same process on the same sockets, a new image; the client's
        # connection went on into it, and sees every guest.
        assert "virtswarm-proxyd re-executed" in r.stdout, r.stdout
        assert proxyd.proc.poll() is None
        assert {p: os.stat(p).st_ino for p in sockets} == sockets  # handed over, not made anew
        assert "re-executing once the calls in flight are answered" in proxyd.output()
        assert "re-executed: 1 of 1 connections kept" in proxyd.output()
        names = {d.name() for d in client.listAllDomains()}
        assert {name for name, _, _, _ in guests} <= names
        client.close()
        # Each guest ticked on through it all: one count from 0, no restart, no gap.
        for serial in serials:
            after = ticks(serial)[-1]
            h.wait_until(lambda: ticks(serial)[-1] >= after + 2, 60, 0.2, "two more ticks")
            seen = ticks(serial)
            assert seen == list(range(len(seen))), seen
        # The new shims control their guests: one shuts down cleanly, and its leases go.
        name, path, uuid, image = guests[0]
        vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")
        h.wait_until(lambda: not lc.domains_holding(image), 20, what="the lease to go")
    finally:
        proxyd.stop()
        for _, path, _, _ in guests:
            if vc.state(path)[0] != "shutoff":
                vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
