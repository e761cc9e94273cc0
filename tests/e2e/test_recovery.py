"""End to end: no VM is lost when a daemon dies, and racing clients never get two QEMUs
(issue 3, recovery).

- kill -9 of a shim: its QEMU runs on, a new shim re-attaches, there is never a second
  QEMU, and the domain is still managed (Shutdown through the new shim).
- kill -9 of the registry with a persistent and a transient VM running: activation brings
  it back with the full picture.
- kill -9 of QEMU: shutoff/crashed, the shim leaves, the domain starts again.
- A call the registry forwarded to a shim that then dies is still answered.
- Two clients racing Start/Destroy: one QEMU at most, replies consistent with the state.
"""

import os
import signal
import threading
import time

import dbus

import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."
SHIM_PREFIX = "org.virtswarm.Shim1.d"


# ------------------------------------------------------------------ helpers
def uuid_hex(path):
    return path.rsplit("_", 1)[1]


def shim_name(path):
    return SHIM_PREFIX + uuid_hex(path)


def qemu_pid(path):
    p = os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "hypervisor", "domains", uuid_hex(path),
                     "qemu.pid")
    with open(p) as f:
        return int(f.read())


def shim_pid(path, bus=None):
    return int(h.bus_daemon(bus).GetConnectionUnixProcessID(shim_name(path)))


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace").split("\0")


def emulators_for(uuid):
    """Pids of live processes whose argv carries "-uuid <uuid>": the domain's QEMUs (the
    shim's argv has the uuid without dashes)."""
    uuid = uuid.lower()
    pids = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = cmdline(int(p))
        except OSError:
            continue
        if any(a == "-uuid" and i + 1 < len(argv) and argv[i + 1].lower() == uuid
               for i, a in enumerate(argv)) and alive(int(p)):
            pids.append(int(p))
    return pids


def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def private_bus():
    return dbus.bus.BusConnection(h.env("DBUS_SYSTEM_BUS_ADDRESS"))


class QemuCounter(threading.Thread):
    """Samples the number of QEMUs of a domain (and optionally its State) until stopped."""

    def __init__(self, uuid, path=None):
        super().__init__(daemon=True)
        self.uuid = uuid
        self.path = path
        self.counts = []
        self.states = []
        self.halt = threading.Event()
        self.bus = private_bus() if path else None

    def run(self):
        while not self.halt.is_set():
            self.counts.append(len(emulators_for(self.uuid)))
            if self.bus is not None:
                try:
                    props = dbus.Interface(self.bus.get_object(vc.BUS_NAME, self.path),
                                           vc.PROPS)
                    self.states.append(str(props.Get(vc.DOMAIN, "State", timeout=vc.TIMEOUT)))
                except dbus.exceptions.DBusException as e:
                    self.states.append(e.get_dbus_name())
            time.sleep(0.02)

    def stop(self):
        self.halt.set()
        self.join(10)
        if self.bus is not None:
            self.bus.close()
        assert self.counts, "no samples"


def start_guest(prefix):
    name = vc.unique(prefix)
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    return path, name


# ------------------------------------------------------- 3. kill -9 a shim
def test_killed_shim_is_replaced_and_qemu_lives_on():
    path, name = start_guest("shimkill")
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    uuid = str(vc.prop(path, "UUID"))
    qpid = qemu_pid(path)
    dom_id = int(vc.prop(path, "Id"))
    counter = QemuCounter(uuid, path)
    counter.start()
    try:
        for _ in range(2):   # the re-attached shim can itself be replaced
            old = shim_pid(path)
            os.kill(old, signal.SIGKILL)
            h.wait_until(lambda: not alive(old), 10, 0.01, "the shim to die")
            new = h.wait_until(lambda: _other_owner(path, old), 30, 0.02,
                               "a new shim on the bus")
            assert "--attach" in cmdline(new)
            # Same QEMU, still running, still the only one.
            assert qemu_pid(path) == qpid and alive(qpid)
            assert emulators_for(uuid) == [qpid]
            # The new shim takes its name (the lock) before it has connected to QEMU's
            # monitor; once attached, GetStats goes through it to QEMU.
            stats = h.wait_until(lambda: _stats_once_attached(path), 30, 0.05,
                                 "the new shim to attach to QEMU's monitor")
            assert int(stats["cpu.time"]) > 0
            assert vc.state(path) == ("running", "booted")
            assert int(vc.prop(path, "Id")) == dom_id
    finally:
        counter.stop()
    assert set(counter.counts) == {1}, f"QEMU count while recovering: {set(counter.counts)}"
    assert set(counter.states) == {"running"}, f"states seen: {set(counter.states)}"

    # Managed through the new shim: the power button reaches the guest.
    vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")
    h.wait_until(lambda: not alive(qpid), 30, 0.05, "QEMU to exit")
    h.wait_for_name_gone(shim_name(path), 15)
    assert emulators_for(uuid) == []


def _stats_once_attached(path):
    try:
        return dict(vc.domain(path).GetStats(vc.no_options(), timeout=vc.TIMEOUT))
    except dbus.exceptions.DBusException as e:
        # "the QEMU monitor is not connected" while the new shim attaches.
        assert e.get_dbus_name() == ERR + "HypervisorGone", e
        return None


def _other_owner(path, old):
    try:
        pid = shim_pid(path)
    except dbus.exceptions.DBusException:
        return None
    return pid if pid != old else None


# ------------------------------------------------ 4. kill -9 the registry
def test_killed_registry_comes_back_with_every_running_vm():
    persistent, pname = start_guest("keep")
    tname = vc.unique("tr")
    transient = str(vc.manager().CreateXML(vc.domain_xml(tname, serial=serial_log(tname)),
                                           vc.no_options(), timeout=vc.TIMEOUT))
    paths = (persistent, transient)
    qpids = {p: qemu_pid(p) for p in paths}
    spids = {p: shim_pid(p) for p in paths}
    uuids = {p: str(vc.prop(p, "UUID")) for p in paths}
    ids_before = {p: int(vc.prop(p, "Id")) for p in paths}
    old_registry = vc.registry_pid()

    os.kill(old_registry, signal.SIGKILL)
    h.wait_for_name_gone(vc.BUS_NAME)
    # Nobody manages them now; they run on all the same.
    for p in paths:
        assert alive(qpids[p]) and alive(spids[p])

    # The next call activates a new registry, which finds both shims.
    assert sorted(vc.list_domains()) == sorted(paths)
    assert vc.registry_pid() != old_registry
    assert vc.state(persistent)[0] == "running"
    assert vc.state(transient)[0] == "running"
    assert bool(vc.prop(persistent, "Persistent")) is True
    assert bool(vc.prop(transient, "Persistent")) is False
    assert str(vc.prop(transient, "Name")) == tname
    # Runtime ids are kept, as libvirtd keeps them across its restarts (virsh users and
    # scripts hold on to them).
    ids = {p: int(vc.prop(p, "Id")) for p in paths}
    assert ids == ids_before
    assert vc.manager().LookupByName(tname) == transient
    for p in paths:
        # No new QEMU, no new shim: the running ones were adopted.
        assert qemu_pid(p) == qpids[p] and emulators_for(uuids[p]) == [qpids[p]]
        assert shim_pid(p) == spids[p]
        stats = dict(vc.domain(p).GetStats(vc.no_options(), timeout=vc.TIMEOUT))
        assert int(stats["cpu.time"]) > 0
        live = str(vc.domain(p).GetXML(vc.no_options(), timeout=vc.TIMEOUT))
        assert f"id=\"{ids[p]}\"" in live.split(">", 1)[0]
    # The transient definition came back from its shim, name and all.
    assert f"<name>{tname}</name>" in str(vc.domain(transient).GetXML(
        {"inactive": True}, timeout=vc.TIMEOUT))
    # A domain started now gets an id none of them has.
    third, _ = start_guest("after")
    assert int(vc.prop(third, "Id")) > max(ids.values())
    vc.domain(third).Destroy(vc.no_options(), timeout=vc.TIMEOUT)

    vc.domain(persistent).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(persistent) == ("shutoff", "destroyed")
    vc.domain(transient).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: transient not in vc.list_domains(), 30, 0.05, "transient to vanish")
    for p in paths:
        h.wait_until(lambda: not alive(qpids[p]), 30, 0.05, "QEMU to exit")


# ------------------------------------- calls in flight when a shim dies
class InFlight(threading.Thread):
    """One registry call on its own connection; records the error name and duration."""

    def __init__(self, path, iface, method, *args):
        super().__init__(daemon=True)
        self.bus = private_bus()
        self.obj = dbus.Interface(self.bus.get_object(vc.BUS_NAME, path), iface)
        self.method, self.args = method, args
        self.error = "not finished"
        self.result = None

    def run(self):
        try:
            # The client's own timeout is long: the registry must answer well before it.
            self.result = getattr(self.obj, self.method)(*self.args, timeout=60)
            self.error = None
        except dbus.exceptions.DBusException as e:
            self.error = e.get_dbus_name()
        finally:
            self.bus.close()


def shim_call_watcher(method):
    """Sees the registry's call to a shim on the bus (dbus-monitor is a monitor)."""
    return vc.SignalRecorder(f"type='method_call',interface='org.virtswarm.Shim1.Machine',"
                             f"member='{method}'")


def _kill_shim_under_call(path, call, method):
    """Freezes the shim, starts `call` (which the registry forwards to the shim as
    `method`), and kills the shim while the registry waits for its answer."""
    spid = shim_pid(path)
    watcher = shim_call_watcher(method)
    try:
        os.kill(spid, signal.SIGSTOP)
        call.start()
        watcher.wait_for(f"member={method}", timeout=30)
        os.kill(spid, signal.SIGKILL)
    finally:
        watcher.stop()
    h.wait_until(lambda: not alive(spid), 10, 0.01, "the shim to die")


def test_call_in_flight_when_the_shim_dies_is_answered():
    """The registry asked the shim and the shim died before answering: the client still
    gets an answer (an error, or the new shim's), never silence."""
    path, name = start_guest("inflight")
    call = InFlight(path, vc.DOMAIN, "GetStats", vc.no_options())
    _kill_shim_under_call(path, call, "GetStats")
    call.join(30)
    assert not call.is_alive(), "GetStats was never answered after the shim died"
    assert call.error is None or call.error.startswith(ERR), call.error
    # The domain itself recovered through a new shim.
    h.wait_until(lambda: _other_owner(path, -1), 30, 0.05, "a new shim")
    assert vc.state(path)[0] == "running"


def test_get_all_stats_answers_when_a_shim_dies_during_it():
    """GetAllStats answers "within timeout whatever the shims do" (its contract),
    including a shim that dies while the registry waits for it."""
    path, name = start_guest("allstats")
    call = InFlight(vc.ROOT, vc.MANAGER, "GetAllStats", {"timeout": dbus.UInt32(3000)})
    _kill_shim_under_call(path, call, "GetStats")
    call.join(30)
    assert not call.is_alive(), "GetAllStats was never answered after a shim died"
    assert call.error is None, call.error
    assert path in {str(k) for k in call.result}


# ---------------------------------------------------------- 5. kill -9 QEMU
def test_killed_qemu_is_crashed_and_startable_again():
    path, name = start_guest("qkill")
    qpid = qemu_pid(path)
    recorder = vc.SignalRecorder()
    try:
        os.kill(qpid, signal.SIGKILL)
        assert vc.wait_state(path, "shutoff", 30) == ("shutoff", "crashed")
        assert int(vc.prop(path, "Id")) == -1
        h.wait_for_name_gone(shim_name(path), 15)
        assert path in vc.list_domains()
        # libvirt's VIR_DOMAIN_EVENT_STOPPED (5) / _CRASHED (2).
        recorder.wait_for("member=DomainEvent", "int32 5\n   int32 2", timeout=30)
    finally:
        recorder.stop()
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("running", "booted")
    assert qemu_pid(path) != qpid
    assert emulators_for(str(vc.prop(path, "UUID"))) == [qemu_pid(path)]
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "destroyed")


# --------------------------------------------------- 6. racing Start/Destroy
class Racer(threading.Thread):
    """One call on its own bus connection, released together with the others."""

    def __init__(self, barrier, path, method, delay=0.0):
        super().__init__(daemon=True)
        self.barrier, self.path, self.method, self.delay = barrier, path, method, delay
        self.error = "not finished"
        self.bus = private_bus()
        self.iface = dbus.Interface(self.bus.get_object(vc.BUS_NAME, path), vc.DOMAIN)

    def run(self):
        self.barrier.wait(30)
        time.sleep(self.delay)
        try:
            # Start and Destroy answer in seconds; a minute is "never answered".
            getattr(self.iface, self.method)(vc.no_options(), timeout=60)
            self.error = None
        except dbus.exceptions.DBusException as e:
            self.error = e.get_dbus_name()
        finally:
            self.bus.close()


def race(path, *methods, delays=None):
    barrier = threading.Barrier(len(methods))
    delays = delays or [0.0] * len(methods)
    racers = [Racer(barrier, path, m, d) for m, d in zip(methods, delays)]
    for r in racers:
        r.start()
    for r in racers:
        r.join(70)
        assert not r.is_alive(), f"{r.method} did not return"
        assert r.error != "org.freedesktop.DBus.Error.NoReply", f"{r.method} was never answered"
    return [r.error for r in racers]


def test_racing_clients_never_get_two_qemus():
    """Every race also needs every call answered: a Destroy that reaches a shim on its way
    out must not be left without a reply (see test_call_in_flight_when_the_shim_dies_...,
    which provokes that deterministically)."""
    name = vc.unique("race")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    uuid = str(vc.prop(path, "UUID"))
    counter = QemuCounter(uuid)
    counter.start()
    outcomes = []
    try:
        for i in range(10):
            # Both from shutoff: exactly one Start wins.
            a, b = race(path, "Start", "Start")
            assert sorted([a, b], key=str) == sorted([None, ERR + "InvalidState"], key=str), (a, b)
            assert vc.state(path) == ("running", "booted")
            assert len(emulators_for(uuid)) == 1

            # Both from running: at least one Destroy does it; the other waits for the
            # same end or finds the domain already off.
            a, b = race(path, "Destroy", "Destroy")
            assert None in (a, b) and {a, b} <= {None, ERR + "InvalidState"}, (a, b)
            assert vc.state(path) == ("shutoff", "destroyed")

            # Start against Destroy from shutoff: whatever the order, the state agrees.
            # Destroy is held back a little more each round, to land before, during and
            # after the start.
            start, destroy = race(path, "Start", "Destroy", delays=[0.0, 0.02 * i])
            outcomes.append((start, destroy))
            assert start is None, start   # nothing cancels a Start
            assert destroy in (None, ERR + "InvalidState"), destroy
            want = "shutoff" if destroy is None else "running"
            assert vc.state(path)[0] == want, (start, destroy, vc.state(path))
            if want == "running":
                vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
            assert vc.state(path)[0] == "shutoff"
    finally:
        counter.stop()
    assert max(counter.counts) <= 1, "two QEMUs ran for one domain"
    assert 1 in counter.counts

    # Still a perfectly usable domain.
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert int(dict(vc.domain(path).GetStats(vc.no_options(), timeout=vc.TIMEOUT))
               ["cpu.time"]) > 0
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "destroyed")
    assert emulators_for(uuid) == []
