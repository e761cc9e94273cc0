"""Issue 8, item 2: forged bus signals are not believed.

Any local user may send a signal *unicast* to a daemon's unique name, and sd-bus delivers
it to a match that names `sender='org.freedesktop.DBus'`. The attacker (vstest) forges the
bus driver's NameOwnerChanged, naming itself the owner of a shim's bus name, and then a
shim's StateChanged; or an empty new owner, which made the registry relaunch shims without
bound. Sent to proxyd, a forged NameOwnerChanged made it follow the attacker as "the
registry" and spin. None of this may change anything.
"""

import json
import os
import time

import dbus
import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

SHIM_PREFIX = "org.virtswarm.Shim1.d"
SHIM_INTERFACE = "org.virtswarm.Shim1.Machine"
SHIM_PATH = "/org/virtswarm/Shim1"

# Runs as the attacker: sends the given signals unicast to each of `dests` (comma-separated
# unique names), then makes one method call to the first (a Properties.Get of the probe):
# once it is answered, the bus has routed every signal sent before it. Prints the value.
FORGER = r"""
import json, sys, dbus, dbus.lowlevel
dests, probe_path, probe_iface, probe_prop, spec = sys.argv[1:6]
bus = dbus.SystemBus()
me = bus.get_unique_name()
for dest in dests.split(","):
    for s in json.loads(spec):
        args = [me if a == "@me" else a for a in s["args"]]
        for _ in range(s.get("count", 1)):
            m = dbus.lowlevel.SignalMessage(s["path"], s["interface"], s["member"])
            m.set_destination(dest)
            m.append(*args, signature=s["signature"])
            bus.send_message(m)
bus.flush()
dest = dests.split(",")[0]
if probe_path == "-":
    sys.exit(0)
props = dbus.Interface(bus.get_object(dest, probe_path, introspect=False),
                       "org.freedesktop.DBus.Properties")
print(props.Get(probe_iface, probe_prop, timeout=30))
"""


def forge(dests, signals, probe_path, probe_iface, probe_prop):
    """Sends `signals` as the test user, unicast to each of `dests`; returns the probe."""
    r = h.run_as(h.test_user(), ["/usr/bin/python3", "-c", FORGER, ",".join(dests), probe_path,
                                 probe_iface or "-", probe_prop or "-", json.dumps(signals)],
                 timeout=60)
    assert r.returncode == 0, f"forger failed: {r.stdout}{r.stderr}"
    return r.stdout.strip()


def name_owner_changed(name, old, new, count=1):
    return {"path": "/org/freedesktop/DBus", "interface": "org.freedesktop.DBus",
            "member": "NameOwnerChanged", "signature": "sss", "args": [name, old, new],
            "count": count}


def state_changed(state, reason):
    return {"path": SHIM_PATH, "interface": SHIM_INTERFACE, "member": "StateChanged",
            "signature": "ss", "args": [state, reason]}


def uuid_hex(path):
    return path.rsplit("_", 1)[1]


def shim_name(path):
    return SHIM_PREFIX + uuid_hex(path)


def owner(name):
    return str(h.bus_daemon().GetNameOwner(name))


def registry_name():
    vc.list_domains()  # activates the registry
    return owner(vc.BUS_NAME)


def connections_of(pid):
    """Every unique bus name of process `pid` (a daemon may have more than one)."""
    daemon = h.bus_daemon()
    names = []
    for name in daemon.ListNames():
        if name.startswith(":"):
            try:
                if int(daemon.GetConnectionUnixProcessID(name)) == pid:
                    names.append(str(name))
            except dbus.exceptions.DBusException:
                pass
    assert names, f"process {pid} has no bus connection"
    return names


def registry_connections():
    main = registry_name()
    return [main] + [n for n in connections_of(vc.registry_pid()) if n != main]


def shim_processes():
    """Pids of live (not zombie) virtswarm-shim processes."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "virtswarm-shim" and stat.rsplit(")", 1)[1].split()[0] != "Z":
            pids.append(int(entry))
    return pids


def running_domain(transient=False):
    xml = vc.domain_xml(vc.unique("forged"))
    if transient:
        path = str(vc.manager().CreateXML(xml, vc.no_options(), timeout=vc.TIMEOUT))
    else:
        path = vc.define(xml)
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
    return path


def probe_state(path, signals):
    """Forges `signals` to every connection of the registry; returns the domain's state once
    the registry has handled them. A call of root's that goes through the shim orders them
    on a connection the registry uses for its shims."""
    forge(registry_connections(), signals, path, vc.DOMAIN, "State")
    vc.domain(path).GetStats(vc.no_options(), timeout=30)
    return vc.state(path)[0]


# ------------------------------------------------------------------ the registry
def test_forged_pause_of_a_running_domain_is_ignored():
    path = running_domain()
    seen = probe_state(path, [name_owner_changed(shim_name(path), owner(shim_name(path)), "@me"),
                              state_changed("paused", "user")])
    assert seen == "running"
    assert vc.state(path) == ("running", "booted")


def test_transient_domain_does_not_vanish_on_a_forged_owner_change():
    path = running_domain(transient=True)
    qemu = vc.qemu_pid(path)
    seen = probe_state(path, [name_owner_changed(shim_name(path), owner(shim_name(path)), ""),
                              name_owner_changed(shim_name(path), "", "@me"),
                              state_changed("shutoff", "destroyed")])
    assert seen == "running"
    assert path in vc.list_domains()
    assert vc.qemu_pid(path) == qemu
    assert vc.state(path)[0] == "running"


def test_persistent_domain_keeps_its_state_and_serves_root():
    path = running_domain()
    seen = probe_state(path, [name_owner_changed(shim_name(path), "", "@me"),
                              state_changed("shutoff", "destroyed")])
    assert seen == "running"
    # Root's next calls are served at once by the real shim, not timed out.
    started = time.monotonic()
    stats = vc.domain(path).GetStats(vc.no_options(), timeout=30)
    assert "unavailable" not in stats
    vc.domain(path).Suspend(vc.no_options(), timeout=30)
    vc.wait_state(path, "paused", timeout=30)
    vc.domain(path).Resume(vc.no_options(), timeout=30)
    vc.wait_state(path, "running", timeout=30)
    assert time.monotonic() - started < 30


def test_forged_empty_owner_starts_no_shims():
    path = running_domain()
    shims = shim_processes()
    seen = probe_state(path, [name_owner_changed(shim_name(path), owner(shim_name(path)), "",
                                                 count=100)])
    assert seen == "running"
    assert set(shim_processes()) - set(shims) == set(), "the registry started shims"
    vc.domain(path).GetStats(vc.no_options(), timeout=30)
    assert set(shim_processes()) - set(shims) == set(), "the registry started shims"


def test_state_changed_from_a_non_owner_is_ignored():
    path = running_domain()
    seen = probe_state(path, [state_changed("paused", "user")])
    assert seen == "running"


# ------------------------------------------------------------------ proxyd
def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.fixture
def bridge():
    b = bc.Bridge("forged")
    home = bc.virsh_home(b.root)
    yield b, home
    b.stop()


def test_proxyd_ignores_a_forged_registry_owner(bridge):
    b, home = bridge
    name = vc.unique("forged")
    path = vc.define(vc.domain_xml(name))
    assert name in bc.virsh(home, b.rw_uri, "list", "--all", "--name").stdout
    before = cpu_seconds(b.proc.pid)
    forge(connections_of(b.proc.pid), [name_owner_changed(vc.BUS_NAME, registry_name(), "@me"),
                   name_owner_changed(vc.BUS_NAME, "", "@me")], "-", "", "")
    for _ in range(3):
        out = bc.virsh(home, b.rw_uri, "list", "--all", "--name", timeout=30).stdout
        assert name in out
    vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: name not in bc.virsh(home, b.rw_uri, "list", "--all", "--name",
                                              timeout=30).stdout, 30, 0.1,
                 "proxyd to follow the real registry's signals")
    assert cpu_seconds(b.proc.pid) - before < 2.0, "proxyd kept spinning"
