"""Issue 8, item 8 (processes and runtime dirs): every shim the registry spawns is reaped,
and a domain's runtime dir (with its qmp.sock) goes away when the domain stops for good:
after a run, after a failed start and when it is undefined; never while QEMU runs.
A shim that keeps dying is relaunched with backoff a bounded number of times (issue 8,
item 2: forged "shim gone" signals made the registry spawn them without bound), then the
domain says so and Destroy still stops its QEMU.
"""

import os
import signal

import dbus

import vsclient as vc
import vsharness as h

CYCLES = 20
SHIM_PREFIX = "org.virtswarm.Shim1.d"


def shim_zombies_of(parent):
    """Pids of exited, unreaped virtswarm-shim children of `parent`."""
    zombies = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        if comm == "virtswarm-shim" and fields[0] == "Z" and int(fields[1]) == parent:
            zombies.append(int(entry))
    return zombies


def wait_gone(path, what):
    h.wait_until(lambda: not os.path.exists(path), 30, 0.05, f"{what} to be removed")


def test_start_stop_cycles_leave_no_zombies_and_no_runtime_dir():
    path = vc.define(vc.domain_xml(vc.unique("cycle")))
    rundir = vc.runtime_dir(path)
    for _ in range(CYCLES):
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
        assert os.path.exists(os.path.join(rundir, "qmp.sock"))
        vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.state(path)[0] == "shutoff"
    registry = vc.registry_pid()
    h.wait_until(lambda: shim_zombies_of(registry) == [], 30, 0.05,
                 "every exited shim to be reaped")
    wait_gone(rundir, "the runtime dir of a stopped domain")
    # While QEMU runs, the dir stays.
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    qemu = vc.qemu_pid(path)
    assert os.path.exists(os.path.join(rundir, "qmp.sock"))
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: not os.path.exists(f"/proc/{qemu}/exe"), 30, 0.05, "QEMU to exit")
    wait_gone(rundir, "the runtime dir after the last run")


def test_failed_start_leaves_no_runtime_dir():
    xml = vc.domain_xml(vc.unique("fails")).replace(
        "<kernel>", "<kernel>/nonexistent/virtswarm-test").replace(
        "</kernel>", "-kernel</kernel>")
    path = vc.define(xml)
    err = vc.error_name(vc.domain(path).Start, vc.no_options())
    assert err.startswith("org.virtswarm.Error."), err
    wait_gone(vc.runtime_dir(path), "the runtime dir of a domain that failed to start")
    registry = vc.registry_pid()
    h.wait_until(lambda: shim_zombies_of(registry) == [], 30, 0.05,
                 "the failed shim to be reaped")


def test_undefine_leaves_no_runtime_dir():
    path = vc.define(vc.domain_xml(vc.unique("undef")))
    rundir = vc.runtime_dir(path)
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
    wait_gone(rundir, "the runtime dir of an undefined domain")
    # A transient domain's dir goes when it shuts off.
    transient = str(vc.manager().CreateXML(vc.domain_xml(vc.unique("gone")), vc.no_options(),
                                           timeout=vc.TIMEOUT))
    tdir = vc.runtime_dir(transient)
    assert os.path.isdir(tdir)
    vc.domain(transient).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    wait_gone(tdir, "the runtime dir of a transient domain that stopped")


def shim_pid(path):
    try:
        return int(h.bus_daemon().GetConnectionUnixProcessID(SHIM_PREFIX + path.rsplit("_", 1)[1]))
    except dbus.exceptions.DBusException:
        return None


def test_a_shim_that_keeps_dying_is_relaunched_a_bounded_number_of_times():
    path = vc.define(vc.domain_xml(vc.unique("dying")))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    qemu = vc.qemu_pid(path)
    killed = set()
    # Relaunched at once, then after growing delays, five times within a minute; the sixth
    # death is not followed by a new shim.
    for _ in range(6):
        pid = h.wait_until(lambda: (p := shim_pid(path)) not in killed and p, 60, 0.02,
                           "a new shim")
        os.kill(pid, signal.SIGKILL)
        killed.add(pid)
    assert vc.wait_state(path, "crashed", timeout=30) == ("crashed", "shim-failing")
    assert shim_pid(path) is None
    assert os.path.exists(f"/proc/{qemu}/exe"), "QEMU must outlive its shims"
    # Still manageable: Destroy kills QEMU itself.
    vc.domain(path).Destroy(vc.no_options(), timeout=30)
    assert vc.state(path) == ("shutoff", "destroyed")
    h.wait_until(lambda: not os.path.exists(f"/proc/{qemu}/exe"), 30, 0.05, "QEMU to exit")
    wait_gone(vc.runtime_dir(path), "the runtime dir of the destroyed domain")
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
