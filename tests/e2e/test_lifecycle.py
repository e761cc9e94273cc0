"""End to end: a real guest defined, booted, shut down and undefined through D-Bus,
with the registry reached by activation and a shim per VM running QEMU."""

import os

import dbus

import logclient as lg
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."


def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def test_define_start_shutdown_undefine(tmp_path):
    name = vc.unique("life")
    log = serial_log(name)
    recorder = vc.SignalRecorder()
    try:
        path = vc.define(vc.domain_xml(name, serial=log, marker=name))
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
        # Start replies once the domain runs.
        assert vc.state(path) == ("running", "booted")
        assert int(vc.prop(path, "Id")) > 0
        assert h.name_has_owner("org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1])
        vc.wait_file_contains(log, "VIRTSWARM-GUEST-READY")
        vc.wait_file_contains(log, f"VIRTSWARM-MARKER {name}")
        live = str(vc.domain(path).GetXML(vc.no_options()))
        assert f"id=\"{int(vc.prop(path, 'Id'))}\"" in live
        inactive = str(vc.domain(path).GetXML({"inactive": True}))
        assert "id=" not in inactive.split(">", 1)[0]

        assert vc.error_name(vc.domain(path).Start, vc.no_options()) == ERR + "InvalidState"

        vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")
        assert int(vc.prop(path, "Id")) == -1
        h.wait_for_name_gone("org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1])
        assert vc.error_name(vc.domain(path).Shutdown, vc.no_options()) == ERR + "InvalidState"

        # PropertiesChanged and StateChanged carried every transition; DomainEvent carried
        # libvirt's numbers: defined/added (0 0), started (2 0), stopped/shutdown (5 0).
        recorder.wait_for('string "running"', 'string "shutoff"', "member=StateChanged",
                          "member=PropertiesChanged", "member=DomainEvent")
        events = recorder.text()
        assert events.count("member=InterfacesAdded") == 1

        vc.domain(path).Undefine(vc.no_options())
        assert vc.list_domains() == []
        recorder.wait_for("member=InterfacesRemoved")
    finally:
        recorder.stop()


def test_destroy_and_restart():
    name = vc.unique("destroy")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    for _ in range(2):
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
        assert vc.state(path)[0] == "running"
        vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
        # Destroy replies once QEMU is gone.
        assert vc.state(path) == ("shutoff", "destroyed")


def test_transient_domain_disappears_after_shutoff():
    name = vc.unique("transient")
    log = serial_log(name)
    path = str(vc.manager().CreateXML(vc.domain_xml(name, serial=log), vc.no_options(),
                                      timeout=vc.TIMEOUT))
    assert vc.state(path) == ("running", "booted")
    assert not bool(vc.prop(path, "Persistent"))
    assert vc.error_name(vc.domain(path).Undefine, vc.no_options()) == ERR + "InvalidState"
    vc.wait_file_contains(log, "VIRTSWARM-GUEST-READY")
    vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: path not in vc.list_domains(), vc.TIMEOUT, 0.05, "transient to vanish")
    assert vc.error_name(vc.manager().LookupByName, name) == ERR + "NoSuchDomain"


def test_undefine_while_running_makes_the_domain_transient():
    name = vc.unique("undef")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.domain(path).Undefine(vc.no_options())
    assert vc.state(path)[0] == "running"
    assert not bool(vc.prop(path, "Persistent"))
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: path not in vc.list_domains(), vc.TIMEOUT, 0.05, "domain to vanish")


def test_a_qemu_that_cannot_start_is_a_named_error():
    name = vc.unique("broken")
    xml = vc.domain_xml(name).replace(vc.guest_files()[0], "/nonexistent/vmlinuz")
    path = vc.define(xml)
    err = vc.error_name(vc.domain(path).Start, vc.no_options())
    assert err == ERR + "OperationFailed"
    assert vc.state(path)[0] == "shutoff"
    # The registry is healthy and the domain can be fixed and started.
    vc.define(vc.domain_xml(name, uuid=str(vc.prop(path, "UUID"))))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"


def test_registry_restart_keeps_running_vms():
    name = vc.unique("keep")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    transient = str(vc.manager().CreateXML(vc.domain_xml(vc.unique("tr")), vc.no_options(),
                                           timeout=vc.TIMEOUT))
    pid = vc.registry_pid()
    os.kill(pid, 9)
    h.wait_for_name_gone(vc.BUS_NAME)
    # Activation brings the registry back; it finds both shims on the bus.
    assert sorted(vc.list_domains()) == sorted([path, transient])
    assert vc.state(path)[0] == "running"
    assert vc.state(transient)[0] == "running"
    assert not bool(vc.prop(transient, "Persistent"))
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "destroyed")


def _status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return line.split()[1:]
    raise AssertionError(f"{field} not in /proc/{pid}/status")


def test_qemu_runs_unprivileged_and_sandboxed_and_the_shim_is_stripped():
    import pwd
    name = vc.unique("priv")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    qemu_pid = vc.qemu_pid(path)
    qemu_user = pwd.getpwnam("virtswarm-qemu")
    assert int(_status_field(qemu_pid, "Uid")[0]) == qemu_user.pw_uid
    assert int(_status_field(qemu_pid, "Gid")[0]) == qemu_user.pw_gid
    cmdline = open(f"/proc/{qemu_pid}/cmdline").read().split("\0")
    assert "-sandbox" in cmdline
    assert cmdline[cmdline.index("-sandbox") + 1].startswith("on,")
    # The serial log was opened by the shim and handed over: QEMU names an fd set.
    assert any(a.endswith("path=/dev/fdset/1") for a in cmdline)
    # A root QEMU would have the full capability set; this one has none.
    assert int(_status_field(qemu_pid, "CapEff")[0], 16) == 0
    shim_pid = int(h.bus_daemon().GetConnectionUnixProcessID(
        "org.virtswarm.Shim1.d" + path.rsplit("_", 1)[1]))
    shim_caps = int(_status_field(shim_pid, "CapEff")[0], 16)
    # Only DAC_OVERRIDE (1), DAC_READ_SEARCH (2) and KILL (5) are left.
    assert shim_caps == (1 << 1) | (1 << 2) | (1 << 5)
    assert int(_status_field(shim_pid, "NoNewPrivs")[0]) == 1
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)


def test_autostart_domains_start_with_the_registry():
    name = vc.unique("autostart")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    other = vc.define(vc.domain_xml(vc.unique("manual")))
    vc.domain(path).SetAutostart(True, vc.no_options())
    os.kill(vc.registry_pid(), 15)
    h.wait_for_name_gone(vc.BUS_NAME)
    # Activation restarts the registry, which starts the autostart domain by itself.
    assert vc.wait_state(path, "running") == ("running", "booted")
    assert vc.state(other)[0] == "shutoff"
    vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")


def test_shim_and_registry_both_killed_lose_no_vm():
    name = vc.unique("orphan")
    log = serial_log(name)
    path = vc.define(vc.domain_xml(name, serial=log))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    transient = str(vc.manager().CreateXML(vc.domain_xml(vc.unique("orphan-tr")),
                                           vc.no_options(), timeout=vc.TIMEOUT))
    qemus = {p: vc.qemu_pid(p) for p in (path, transient)}
    shims = {p: int(h.bus_daemon().GetConnectionUnixProcessID(
        "org.virtswarm.Shim1.d" + p.rsplit("_", 1)[1])) for p in (path, transient)}
    # The registry dies first, then, while nobody watches, both shims.
    os.kill(vc.registry_pid(), 9)
    h.wait_for_name_gone(vc.BUS_NAME)
    for pid in shims.values():
        os.kill(pid, 9)
    for p in shims:
        h.wait_for_name_gone("org.virtswarm.Shim1.d" + p.rsplit("_", 1)[1])
    for pid in qemus.values():
        os.kill(pid, 0)  # the VMs never noticed
    # The re-activated registry finds the QEMUs through their runtime dirs.
    assert sorted(vc.list_domains()) == sorted([path, transient])
    for p in (path, transient):
        assert vc.wait_state(p, "running")[0] == "running"
        assert vc.qemu_pid(p) == qemus[p]
        h.wait_for_name("org.virtswarm.Shim1.d" + p.rsplit("_", 1)[1])
    assert not bool(vc.prop(transient, "Persistent"))
    vc.wait_file_contains(log, "VIRTSWARM-GUEST-READY")
    vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.wait_state(path, "shutoff") == ("shutoff", "shutdown")


def test_qemu_output_goes_through_logd_which_re_executes_under_a_running_vm():
    name = vc.unique("logd")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    uuid = str(vc.prop(path, "UUID")).lower()
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    log_file = os.path.join(lg.log_dir(), name + ".log")
    assert [s[:4] for s in lg.streams() if s[0] == uuid] == [(uuid, name, "qemu", log_file)]
    assert b"starting: " in lg.read_all(uuid)
    # An upgrade of logd under the running VM keeps its stream.
    old_owner = h.name_owner(lg.BUS_NAME)
    lg.call("Reexec", "a{sv}", lg.opts())
    h.wait_until(lambda: h.name_owner(lg.BUS_NAME) not in (None, old_owner), 20,
                 what="logd back on the bus")
    assert [s[:4] for s in lg.streams() if s[0] == uuid] == [(uuid, name, "qemu", log_file)]
    assert vc.state(path)[0] == "running"
    # A logd killed with -9: the shim kept the pipe open and hands it to the next logd.
    os.kill(lg.logd_pid(), 9)
    h.wait_for_name_gone(lg.BUS_NAME, 20)
    h.wait_until(lambda: [s[:4] for s in lg.streams() if s[0] == uuid] ==
                 [(uuid, name, "qemu", log_file)], 20, what="the shim to hand its pipe over")
    assert vc.state(path)[0] == "running"
    # QEMU's exit ends the stream.
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    h.wait_until(lambda: not [s for s in lg.streams() if s[0] == uuid], 20,
                 what="QEMU's stream to end")
    # A start that fails reports QEMU's last line, read back from logd.
    broken = vc.domain_xml(name, uuid=uuid).replace(vc.guest_files()[0], "/nonexistent/vmlinuz")
    vc.define(broken)
    try:
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
        raise AssertionError("a domain without its kernel started")
    except dbus.exceptions.DBusException as e:
        assert e.get_dbus_name() == ERR + "OperationFailed"
        assert "/nonexistent/vmlinuz" in e.get_dbus_message()
    vc.domain(path).Undefine(vc.no_options())
