"""End to end: the day-to-day operations on a running guest, through D-Bus.

Suspend/Resume, Reboot, Reset, OpenConsole, GetStats, device hotplug (virtio disk and
NIC, live and persistent) and a Shutdown with a timeout on a guest that ignores ACPI.
"""

import os
import select
import subprocess
import termios
import time
import tty

import dbus
import libvirt

import bridgeclient as bc
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."
FAKE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                    "fakes", "hostile_qemu.py")
MIB = 1024 * 1024
# libvirt's numbers, as GetStats reports them.
VIR_DOMAIN_RUNNING, VIR_DOMAIN_PAUSED = 1, 3
VIR_DOMAIN_RUNNING_BOOTED, VIR_DOMAIN_PAUSED_USER = 1, 1


# ------------------------------------------------------------------ helpers
def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def disk_image(name, mode=0o666):
    # A 16 MiB raw image under VS_TEST_ROOT (0755); by default usable by anyone.
    path = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.img")
    with open(path, "wb") as f:
        f.truncate(16 * MIB)
    os.chmod(path, mode)
    return path


def qemu_holds(path, image):
    """How many of the domain's QEMU's descriptors are open on image."""
    pid = vc.qemu_pid(path)
    fd_dir = f"/proc/{pid}/fd"
    return sum(1 for fd in os.listdir(fd_dir)
               if os.path.realpath(os.path.join(fd_dir, fd)) == os.path.realpath(image))


def disk_xml(image, dev):
    return (f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
            f"<source file='{image}'/><target dev='{dev}' bus='virtio'/></disk>")


def nic_xml(mac):
    return f"<interface type='user'><mac address='{mac}'/><model type='virtio'/></interface>"


def start(name, pty=False, acpi=True, extra=""):
    xml = vc.domain_xml(name, serial=None if pty else serial_log(name), extra_devices=extra)
    if not acpi:
        xml = xml.replace("<features><acpi/></features>", "")
        assert "<acpi" not in xml
    path = vc.define(xml)
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    return path


def stats(path):
    return {str(k): v for k, v in vc.domain(path).GetStats(vc.no_options(),
                                                           timeout=vc.TIMEOUT).items()}


def live_xml(path):
    return str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT))


def inactive_xml(path):
    return str(vc.domain(path).GetXML({"inactive": True}, timeout=vc.TIMEOUT))


def state_signals(path):
    """Records the StateChanged signals of one domain."""
    return vc.SignalRecorder(f"type='signal',sender='{vc.BUS_NAME}',path='{path}',"
                             f"interface='{vc.DOMAIN}',member='StateChanged'")


class Console:
    """The fd OpenConsole returned, read without blocking."""

    def __init__(self, fd):
        self.fd = fd
        # The fd is the shim's relay of the pty (a socket), which cooks nothing; a pty
        # handed out directly would have to be made raw on our side.
        if os.isatty(fd):
            tty.setraw(fd, termios.TCSANOW)
        self.data = b""

    def read_until(self, needle: bytes, timeout=vc.TIMEOUT, unwrapped=False):
        """unwrapped: the guest's line editor may break a long echoed line with CR LF
        where it thinks the terminal's edge is; look for the needle without those."""
        deadline = time.monotonic() + timeout
        seen = (lambda: self.data.replace(b"\r\n", b"")) if unwrapped else (lambda: self.data)
        while needle not in seen():
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {needle!r} on the console; got {self.data[-500:]!r}")
            r, _, _ = select.select([self.fd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self.fd, 65536)
                assert chunk, "console closed"
                self.data += chunk
        return self.data

    def close(self):
        os.close(self.fd)


# --------------------------------------------------------------- lifecycle
def test_suspend_and_resume():
    name = vc.unique("pause")
    path = start(name)
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    recorder = state_signals(path)
    try:
        vc.domain(path).Suspend(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.wait_state(path, "paused", 30) == ("paused", "user")
        s = stats(path)
        assert (int(s["state.state"]), int(s["state.reason"])) == (VIR_DOMAIN_PAUSED,
                                                                 VIR_DOMAIN_PAUSED_USER)
        # As libvirt: suspending a paused domain succeeds and leaves it paused.
        vc.domain(path).Suspend(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.state(path) == ("paused", "user")
        vc.domain(path).Resume(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.wait_state(path, "running", 30) == ("running", "unpaused")
        assert vc.error_name(vc.domain(path).Resume, vc.no_options()) == ERR + "InvalidState"
        recorder.wait_for('string "paused"', 'string "user"', 'string "running"',
                          'string "unpaused"')
    finally:
        recorder.stop()
    # Still a live guest: the power button works.
    vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")


def test_reboot_restarts_the_guest_in_the_same_domain():
    name = vc.unique("reboot")
    log = serial_log(name)
    path = start(name)
    vc.wait_file_contains(log, "VIRTSWARM-GUEST-READY")
    dom_id = int(vc.prop(path, "Id"))
    uuid = path.rsplit("_", 1)[1]
    pid_file = os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "hypervisor", "domains", uuid,
                            "qemu.pid")
    qemu_pid = open(pid_file).read().strip()
    recorder = state_signals(path)
    try:
        vc.domain(path).Reboot(vc.no_options(), timeout=vc.TIMEOUT)
        h.wait_until(lambda: open(log, errors="replace").read().count(
            "VIRTSWARM-GUEST-READY") >= 2, vc.TIMEOUT, 0.1, "the guest to boot a second time")
        # The same domain (same QEMU, same id), running all along.
        assert vc.state(path)[0] == "running"
        assert int(vc.prop(path, "Id")) == dom_id
        assert open(pid_file).read().strip() == qemu_pid
        seen = recorder.text()
    finally:
        recorder.stop()
    for other in ("paused", "shutdown", "shutoff", "crashed"):
        assert f'string "{other}"' not in seen, \
            f"the domain left 'running' during the reboot:\n{seen}"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_open_console_right_after_start():
    """Start replies once the domain runs; its console must be there by then (a client
    like `virsh start --console` opens it at once). The fake emulator answers the shim's
    query-chardev 2 s late, as a loaded host may, so the order is not left to chance."""
    name = vc.unique("conrace")
    xml = vc.domain_xml(name, extra_devices=f"<emulator>{FAKE}</emulator>")
    xml = xml.replace("<cmdline>", "<cmdline>hostile=slowchardev ", 1)
    path = vc.define(xml)
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    fd = vc.domain(path).OpenConsole("", vc.no_options(), timeout=vc.TIMEOUT).take()
    console = Console(fd)
    try:
        console.read_until(b"FAKE-CONSOLE", 30)
    finally:
        console.close()


def test_reset_and_console():
    name = vc.unique("console")
    path = start(name, pty=True)
    # The live XML names the pty the console is on, once the shim knows it.
    h.wait_until(lambda: "/dev/pts/" in live_xml(path), 30, 0.05, "the pty in the live XML")
    fd = vc.domain(path).OpenConsole("", vc.no_options(), timeout=vc.TIMEOUT).take()
    console = Console(fd)
    try:
        # The first boot, seen through the console: once it is READY it prints nothing
        # more, so whatever boots after the reset is the second boot.
        console.read_until(b"VIRTSWARM-GUEST-READY")
        vc.domain(path).Reset(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.state(path)[0] == "running"
        console.data = console.data[console.data.index(b"VIRTSWARM-GUEST-READY") + 1:]
        console.read_until(b"Linux version")
        console.data = console.data[console.data.index(b"Linux version"):]
        console.read_until(b"VIRTSWARM-GUEST-READY")
        # And it is a two-way line: the guest's tty echoes what we type.
        os.write(fd, b"virtswarm-echo-probe\r")
        console.read_until(b"virtswarm-echo-probe", 30, unwrapped=True)
    finally:
        console.close()
    assert vc.state(path)[0] == "running"
    # A console logged to a file cannot be opened.
    other = vc.unique("filecon")
    opath = start(other)
    assert vc.error_name(vc.domain(opath).OpenConsole, "", vc.no_options()) == \
        ERR + "NotSupported"
    # Not running: nothing to open.
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.error_name(vc.domain(path).OpenConsole, "", vc.no_options()) == \
        ERR + "InvalidState"


# ------------------------------------------------------------------- stats
def test_get_stats_keys():
    name = vc.unique("stats")
    image = disk_image(name)
    mac = "52:54:00:5a:00:01"
    path = start(name, extra=disk_xml(image, "vda") + nic_xml(mac))
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    s = stats(path)
    assert (int(s["state.state"]), int(s["state.reason"])) == (VIR_DOMAIN_RUNNING,
                                                             VIR_DOMAIN_RUNNING_BOOTED)
    assert int(s["cpu.time"]) > 0
    assert int(s["cpu.time"]) >= int(s["cpu.user"])
    assert int(s["balloon.current"]) == 128 * 1024
    assert int(s["balloon.maximum"]) == 128 * 1024
    assert int(s["vcpu.current"]) == 1 and int(s["vcpu.maximum"]) == 1
    assert int(s["block.count"]) == 1
    assert str(s["block.0.name"]) == "vda"
    assert str(s["block.0.path"]) == image
    assert int(s["net.count"]) == 1 and str(s["net.0.mac"]) == mac
    # The counters are QEMU's: the guest's virtio_blk reads the partition table.
    h.wait_until(lambda: int(stats(path)["block.0.rd.reqs"]) > 0, 60, 0.5,
                 "the guest to read its disk")
    assert int(stats(path)["block.0.rd.bytes"]) > 0
    # CPU time goes on.
    t0 = int(stats(path)["cpu.time"])
    h.wait_until(lambda: int(stats(path)["cpu.time"]) > t0, 30, 0.1, "cpu.time to grow")
    # A shut-off domain reports its state only.
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    off = stats(path)
    assert int(off["state.state"]) == 5 and "cpu.time" not in off


# ------------------------------------------------------------------ hotplug
def test_attach_and_detach_a_virtio_disk():
    name = vc.unique("hotdisk")
    path = start(name)
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    # Only root may open it: QEMU (another user) gets it from the shim as a descriptor.
    image = disk_image(name + "-vdb", mode=0o600)
    dev = disk_xml(image, "vdb")

    # QEMU refuses this one (the image is not qcow2): the error comes once QEMU has let go
    # of the descriptor it was handed, and nothing changed.
    before = live_xml(path)
    bad = dev.replace("type='raw'", "type='qcow2'")
    assert vc.error_name(vc.domain(path).AttachDevice, bad, vc.no_options()) == \
        ERR + "OperationFailed"
    assert qemu_holds(path, image) == 0
    assert live_xml(path) == before

    # Live only.
    vc.domain(path).AttachDevice(dev, vc.no_options(), timeout=vc.TIMEOUT)
    assert image in live_xml(path) and "'vdb'" in live_xml(path).replace('"', "'")
    assert image not in inactive_xml(path)
    assert qemu_holds(path, image) > 0
    vc.domain(path).DetachDevice(dev, vc.no_options(), timeout=vc.TIMEOUT)
    assert image not in live_xml(path)
    # The node's descriptor and the fd set's are both closed.
    h.wait_until(lambda: qemu_holds(path, image) == 0, 10, 0.05, "QEMU to let go of the image")

    # Live and persistent.
    vc.domain(path).AttachDevice(dev, {"config": True}, timeout=vc.TIMEOUT)
    assert image in live_xml(path)
    assert image in inactive_xml(path)
    vc.domain(path).DetachDevice(dev, {"config": True}, timeout=vc.TIMEOUT)
    assert image not in live_xml(path)
    assert image not in inactive_xml(path)
    assert vc.state(path)[0] == "running"
    # Detaching what is not there is an error, and changes nothing.
    err = vc.error_name(vc.domain(path).DetachDevice, dev, vc.no_options())
    assert err == "org.freedesktop.DBus.Error.InvalidArgs" or err.startswith(ERR), err
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_hotplugged_disk_is_in_the_stats():
    """GetStats lists every disk of the running domain, hot-plugged ones included."""
    name = vc.unique("hotstats")
    path = start(name, extra=disk_xml(disk_image(name), "vda"))
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    image = disk_image(name + "-vdb")
    vc.domain(path).AttachDevice(disk_xml(image, "vdb"), vc.no_options(), timeout=vc.TIMEOUT)
    s = stats(path)
    names = {str(s[f"block.{i}.name"]) for i in range(int(s["block.count"]))}
    assert names == {"vda", "vdb"}, s
    vc.domain(path).DetachDevice(disk_xml(image, "vdb"), vc.no_options(), timeout=vc.TIMEOUT)
    s = stats(path)
    assert int(s["block.count"]) == 1 and str(s["block.0.name"]) == "vda"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_attach_and_detach_a_nic():
    name = vc.unique("hotnic")
    path = start(name)
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    mac = "52:54:00:5a:00:02"
    dev = nic_xml(mac)

    vc.domain(path).AttachDevice(dev, vc.no_options(), timeout=vc.TIMEOUT)
    assert mac in live_xml(path) and mac not in inactive_xml(path)
    s = stats(path)
    assert int(s["net.count"]) == 1 and str(s["net.0.mac"]) == mac
    vc.domain(path).DetachDevice(dev, vc.no_options(), timeout=vc.TIMEOUT)
    assert mac not in live_xml(path)
    assert int(stats(path)["net.count"]) == 0

    vc.domain(path).AttachDevice(dev, {"config": True}, timeout=vc.TIMEOUT)
    assert mac in live_xml(path) and mac in inactive_xml(path)
    vc.domain(path).DetachDevice(dev, {"config": True}, timeout=vc.TIMEOUT)
    assert mac not in live_xml(path) and mac not in inactive_xml(path)
    assert vc.state(path)[0] == "running"
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


# ------------------------------------------------------- shutdown timeout
def test_shutdown_with_timeout_destroys_a_guest_that_ignores_acpi():
    name = vc.unique("noacpi")
    path = start(name, acpi=False)
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    t0 = time.monotonic()
    vc.domain(path).Shutdown({"timeout": dbus.UInt32(2)}, timeout=vc.TIMEOUT)
    # The power button does nothing without ACPI; after 2 s the domain is destroyed.
    assert vc.wait_state(path, "shutoff", 60) == ("shutoff", "destroyed")
    assert time.monotonic() - t0 >= 1.5


# -------------------------------------------------------------------- jobs
def test_a_managed_save_is_a_job_to_watch_and_abort():
    """The fake emulator streams a managed save forever (1 MiB of 128 MiB per
    query-migrate): GetJobInfo shows it, through D-Bus, python-libvirt and virsh
    domjobinfo, and AbortJob (domjobabort) cancels it; the save fails and the guest runs
    on. Without a job, domjobinfo says None and domjobabort is OPERATION_INVALID."""
    name = vc.unique("job")
    xml = vc.domain_xml(name, extra_devices=f"<emulator>{FAKE}</emulator>")
    xml = xml.replace("<cmdline>", "<cmdline>hostile=good ", 1)
    path = vc.define(xml)
    assert vc.error_name(vc.domain(path).GetJobInfo, vc.no_options()) == ERR + "InvalidState"
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    dom = vc.domain(path)
    assert dict(dom.GetJobInfo(vc.no_options(), timeout=vc.TIMEOUT)) == {"type": 0}
    assert vc.error_name(dom.AbortJob, vc.no_options()) == ERR + "InvalidState"

    bridge = bc.Bridge("bridge-jobs")
    home = bc.virsh_home(bridge.root)
    conn = libvirt.open(bridge.rw_uri)
    saver = None
    try:
        ldom = conn.lookupByName(name)
        assert ldom.jobInfo() == [libvirt.VIR_DOMAIN_JOB_NONE] + [0] * 11
        assert ldom.jobStats() == {"type": libvirt.VIR_DOMAIN_JOB_NONE}
        assert bc.libvirt_error_code(libvirt, ldom.abortJob) == libvirt.VIR_ERR_OPERATION_INVALID
        # virDomainAbortJobFlags: as libvirtd's words for each.
        for flags, words in ((0, "no job is active on the domain"),
                             (libvirt.VIR_DOMAIN_ABORT_JOB_POSTCOPY,
                              "current job is not outgoing migration in post-copy mode")):
            try:
                ldom.abortJobFlags(flags)
                raise AssertionError("aborted a job that is not there")
            except libvirt.libvirtError as e:
                assert e.get_error_code() == libvirt.VIR_ERR_OPERATION_INVALID, e
                assert words in str(e), e
        assert "None" in bc.virsh(home, bridge.rw_uri, "domjobinfo", name).stdout
        # No job finished yet.
        assert ldom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED) == \
            {"type": libvirt.VIR_DOMAIN_JOB_NONE}

        saver = subprocess.Popen(
            ["busctl", "--system", "--timeout=300", "call", vc.BUS_NAME, path,
             vc.DOMAIN, "ManagedSave", "a{sv}", "0"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        job = h.wait_until(
            lambda: (lambda j: j if j.get("type") == 2 and j.get("memory_processed", 0) > 0
                     else None)(dict(dom.GetJobInfo(vc.no_options(), timeout=vc.TIMEOUT))),
            60, 0.1, "the save to show as a job")
        assert job["operation"] == 2 and job["memory_total"] == 128 * MIB
        assert job["memory_processed"] + job["memory_remaining"] == 128 * MIB

        info = ldom.jobInfo()
        assert info[0] == libvirt.VIR_DOMAIN_JOB_UNBOUNDED
        assert info[6] == 128 * MIB and info[7] > 0  # memTotal, memProcessed
        assert info[3] == info[6]  # dataTotal: memory (no disks are copied)
        stats = ldom.jobStats()
        assert stats["type"] == libvirt.VIR_DOMAIN_JOB_UNBOUNDED
        assert stats["operation"] == libvirt.VIR_DOMAIN_JOB_OPERATION_SAVE
        assert stats["memory_total"] == 128 * MIB
        out = bc.virsh(home, bridge.rw_uri, "domjobinfo", name).stdout
        assert "Unbounded" in out and "Save" in out, out

        bc.virsh(home, bridge.rw_uri, "domjobabort", name)
        _, err = saver.communicate(timeout=60)
        assert saver.returncode != 0 and "canceled by client" in err, err
        h.wait_until(lambda: vc.state(path)[0] == "running", 30, 0.1, "the guest to run on")
        assert dict(dom.GetJobInfo(vc.no_options(), timeout=vc.TIMEOUT)) == {"type": 0}
        assert not bool(vc.prop(path, "HasManagedSave"))
        # An aborted save is no finished job.
        assert ldom.jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED) == \
            {"type": libvirt.VIR_DOMAIN_JOB_NONE}
    finally:
        if saver is not None and saver.poll() is None:
            saver.kill()
        conn.close()
        bridge.stop()
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
