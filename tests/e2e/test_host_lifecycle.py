"""End to end: the host's shutdown and boot of guests through virtswarm-guests, the
program virtswarm-guests.service runs, under each ON_SHUTDOWN policy and ON_BOOT choice,
with real QEMU guests. The same three guests go through every step to keep it short."""

import os
import re
import signal
import subprocess

import guestsctl as g
import vsclient as vc
import vsharness as h

ERR = "org.virtswarm.Error."


def serial_log(name):
    return os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")


def define_guests():
    """Two guests that power off on the ACPI button and one without ACPI, which ignores it."""
    guests = {}
    for role in ("acpi1", "acpi2", "deaf"):
        name = vc.unique(role)
        xml = vc.domain_xml(name, serial=serial_log(name))
        if role == "deaf":
            xml = xml.replace("<features><acpi/></features>", "")
        guests[name] = vc.define(xml)
    return guests


def start_all(guests):
    for name, path in guests.items():
        if vc.state(path)[0] != "running":
            vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    for name in guests:
        # Only once READY is the power button watched.
        vc.wait_file_contains(serial_log(name), "VIRTSWARM-GUEST-READY")


def uuids(guests):
    return sorted(str(vc.prop(p, "UUID")) for p in guests.values())


def test_shutdown_policies_and_boot_restart():
    guests = define_guests()
    acpi1, acpi2, deaf = guests
    start_all(guests)

    # shutdown: the ACPI guests power off; the deaf one is destroyed when its timeout is over.
    out = g.run("stop", "ON_SHUTDOWN=shutdown\nSHUTDOWN_TIMEOUT=3\nPARALLEL_SHUTDOWN=3\n")
    assert out.returncode == 0, out.stderr
    assert f"guest '{acpi1}': shut down" in out.stderr
    assert f"guest '{acpi2}': shut down" in out.stderr
    assert f"guest '{deaf}': destroyed after it did not shut down within 3 s" in out.stderr
    assert vc.state(guests[acpi1]) == ("shutoff", "shutdown")
    assert vc.state(guests[acpi2]) == ("shutoff", "shutdown")
    assert vc.state(guests[deaf]) == ("shutoff", "destroyed")
    assert g.recorded() == uuids(guests)

    # Boot with ON_BOOT=start brings back every guest the shutdown stopped.
    for name in guests:
        os.truncate(serial_log(name), 0)
    out = g.run("start", "ON_BOOT=start\n")
    assert out.returncode == 0, out.stderr
    for name, path in guests.items():
        assert f"guest '{name}': started again" in out.stderr
        assert vc.state(path)[0] == "running"
    assert g.recorded() == []
    start_all(guests)

    # A bad value is refused with a clear message, and nothing is done.
    for bad, message in (("ON_SHUTDOWN=poweroff\n", "ON_SHUTDOWN='poweroff' is not valid"),
                         ("SHUTDOWN_TIMEOUT=soon\n", "SHUTDOWN_TIMEOUT='soon' is not valid"),
                         ("ON_SHUTDWN=destroy\n", "unknown setting 'ON_SHUTDWN'")):
        out = g.run("stop", bad)
        assert out.returncode == 2
        assert message in out.stderr
    assert all(vc.state(p)[0] == "running" for p in guests.values())
    assert g.recorded() == []

    # destroy: every guest goes down at once, whatever it thinks of ACPI.
    out = g.run("stop", "ON_SHUTDOWN=destroy\n")
    assert out.returncode == 0, out.stderr
    for name, path in guests.items():
        assert f"guest '{name}': destroyed" in out.stderr
        assert vc.state(path) == ("shutoff", "destroyed")
    assert g.recorded() == uuids(guests)

    # ON_BOOT=ignore leaves them off and forgets them.
    out = g.run("start", "ON_BOOT=ignore\n")
    assert out.returncode == 0, out.stderr
    assert "ON_BOOT=ignore" in out.stderr
    assert all(vc.state(p)[0] == "shutoff" for p in guests.values())
    assert g.recorded() == []


def test_shutdown_timeout_zero_waits_and_nothing_running_is_fine():
    out = g.run("stop", "SHUTDOWN_TIMEOUT=0\n")
    assert out.returncode == 0, out.stderr
    assert "0 running guest(s)" in out.stderr
    assert g.recorded() == []


def save_image(path):
    return os.path.join(h.env("VIRTSWARM_STATE_DIR"), "hypervisor", "save",
                        path.rsplit("_", 1)[1] + ".save")


def assert_continued(name, path):
    """Restored, not rebooted: no boot output since the restore (the serial file starts
    afresh with each QEMU), and the power-button watcher the guest set up before the save
    still answers at once."""
    assert vc.state(path) == ("running", "restored")
    with open(serial_log(name), errors="replace") as f:
        assert "VIRTSWARM-GUEST-READY" not in f.read()
    vc.domain(path).Shutdown(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.wait_state(path, "shutoff", timeout=30) == ("shutoff", "shutdown")


def cached_bytes(path) -> int:
    """How much of the file is in the page cache (util-linux fincore)."""
    r = subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", path],
                       capture_output=True, text=True, check=True)
    return int(r.stdout.strip())


def test_managed_save_restore_and_remove():
    name = vc.unique("saved")
    path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
    start_all({name: path})
    assert not bool(vc.prop(path, "HasManagedSave"))

    vc.domain(path).ManagedSave(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("shutoff", "saved")
    assert bool(vc.prop(path, "HasManagedSave"))
    assert os.path.getsize(save_image(path)) > 1 << 20
    assert cached_bytes(save_image(path)) > 0  # without bypass-cache it stays cached
    assert vc.error_name(vc.domain(path).ManagedSave, vc.no_options()) == ERR + "InvalidState"
    assert vc.error_name(vc.domain(path).ManagedSave, {"bogus": True}) == \
        "org.freedesktop.DBus.Error.InvalidArgs"

    # Start restores the image, then forgets it.
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert not bool(vc.prop(path, "HasManagedSave"))
    assert not os.path.exists(save_image(path))
    assert_continued(name, path)

    # ManagedSaveRemove: the next Start boots afresh.
    start_all({name: path})
    vc.domain(path).ManagedSave({"bypass-cache": True}, timeout=vc.TIMEOUT)
    # bypass-cache: the guest's memory does not stay in the host's page cache.
    assert cached_bytes(save_image(path)) < os.path.getsize(save_image(path)) // 8
    vc.domain(path).ManagedSaveRemove(vc.no_options(), timeout=vc.TIMEOUT)
    assert not bool(vc.prop(path, "HasManagedSave"))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path) == ("running", "booted")

    # A transient domain has nothing to be restored into.
    tname = vc.unique("transient")
    tpath = str(vc.manager().CreateXML(vc.domain_xml(tname), vc.no_options(),
                                       timeout=vc.TIMEOUT))
    assert vc.error_name(vc.domain(tpath).ManagedSave, vc.no_options()) == ERR + "InvalidState"


def test_suspend_policy_saves_guests_and_the_next_boot_restores_them():
    guests = define_guests()
    acpi1, acpi2, deaf = guests
    start_all(guests)

    # shutdown, and a guest that ignores ACPI is saved when its timeout is over.
    out = g.run("stop", "ON_SHUTDOWN=shutdown\nSHUTDOWN_TIMEOUT=3\nPARALLEL_SHUTDOWN=3\n"
                        "ON_SHUTDOWN_TIMEOUT=suspend\n")
    assert out.returncode == 0, out.stderr
    assert f"guest '{deaf}': saved after it did not shut down within 3 s" in out.stderr
    assert vc.state(guests[deaf]) == ("shutoff", "saved")
    assert vc.state(guests[acpi1]) == ("shutoff", "shutdown")
    out = g.run("start", "ON_BOOT=start\n")
    assert out.returncode == 0, out.stderr
    assert vc.state(guests[acpi1]) == ("running", "booted")
    assert vc.state(guests[deaf]) == ("running", "restored")
    start_all({n: p for n, p in guests.items() if n != deaf})

    # suspend: every guest is saved; after a "reboot" (no registry left) each continues.
    out = g.run("stop", "ON_SHUTDOWN=suspend\nBYPASS_CACHE=1\n")
    assert out.returncode == 0, out.stderr
    for name, path in guests.items():
        assert f"guest '{name}': saved" in out.stderr
        assert vc.state(path) == ("shutoff", "saved")
    os.kill(vc.registry_pid(), signal.SIGTERM)
    h.wait_for_name_gone(vc.BUS_NAME, timeout=30)
    out = g.run("start", "ON_BOOT=start\n")
    assert out.returncode == 0, out.stderr
    for name, path in guests.items():
        assert f"guest '{name}': started again" in out.stderr
    for name in (acpi1, acpi2):
        assert_continued(name, guests[name])
    assert vc.state(guests[deaf]) == ("running", "restored")
    assert not any(bool(vc.prop(p, "HasManagedSave")) for p in guests.values())

def test_virsh_managedsave_start_and_managedsave_remove():
    """What a libvirt user types, through virtswarm-proxyd."""
    import bridgeclient as bc
    proxyd = bc.Bridge("bridge-life")
    home = bc.virsh_home(proxyd.root)

    def virsh(*args):
        return bc.virsh(home, proxyd.rw_uri, *args).stdout

    try:
        name = vc.unique("virshsave")
        path = vc.define(vc.domain_xml(name, serial=serial_log(name)))
        start_all({name: path})
        assert f"Domain '{name}' state saved by libvirt" in virsh("managedsave", name)
        assert virsh("domstate", "--reason", name).strip() == "shut off (saved)"
        assert "Managed save:   yes" in virsh("dominfo", name)
        assert name in virsh("list", "--all", "--with-managed-save")
        assert name not in virsh("list", "--all", "--without-managed-save")
        assert any(name in l and "saved" in l
                   for l in virsh("list", "--all", "--managed-save").splitlines())
        assert f"Domain '{name}' started" in virsh("start", name)
        assert virsh("domstate", "--reason", name).strip() == "running (restored)"
        assert "Managed save:   no" in virsh("dominfo", name)
        assert_continued(name, path)

        start_all({name: path})
        virsh("managedsave", name)
        assert f"Removed managedsave image for domain '{name}'" in \
            virsh("managedsave-remove", name)
        assert not bool(vc.prop(path, "HasManagedSave"))

        # start --force-boot discards the image and boots afresh.
        start_all({name: path})
        virsh("managedsave", name)
        assert f"Domain '{name}' started" in virsh("start", "--force-boot", name)
        assert virsh("domstate", "--reason", name).strip() == "running (booted)"
        assert not bool(vc.prop(path, "HasManagedSave"))
    finally:
        proxyd.stop()

def test_units_pass_systemd_analyze_verify(tmp_path):
    """The boot and shutdown units as installed, pointing at the freshly built programs."""
    build = h.env("VS_BUILD_DIR")
    units = {
        "guests/systemd/virtswarm-guests.service": ("virtswarm-guests", "guests"),
        "dbus-policy/systemd/virtswarm-hypervisord.service":
            ("virtswarm-hypervisord", "services/hypervisord"),
        "dbus-policy/systemd/virtswarm-networkd.service":
            ("virtswarm-networkd", "services/networkd"),
    }
    system = tmp_path / "system"
    user = tmp_path / "user"
    for d in (system, user):
        d.mkdir(mode=0o700)

    def localized(unit, programs):
        text = open(os.path.join(build, unit)).read()
        for program, where in programs:
            text = re.sub(r"/\S*/" + program + r"\b", os.path.join(build, where, program), text)
        return text

    for unit, program in units.items():
        (system / os.path.basename(unit)).write_text(localized(unit, [program]))
    (user / "virtswarm-guests.service").write_text(
        localized("guests/systemd-user/virtswarm-guests.service", [units[
            "guests/systemd/virtswarm-guests.service"]]))
    text = (system / "virtswarm-guests.service").read_text()
    # Stopped before the registry, so the guests go down before the daemons.
    assert "WantedBy=multi-user.target" in text
    assert re.search(r"^After=.*virtswarm-hypervisord\.service", text, re.M)
    for unit in ("virtswarm-hypervisord.service", "virtswarm-networkd.service"):
        assert "WantedBy=multi-user.target" in (system / unit).read_text()

    out = subprocess.run(["systemd-analyze", "verify", "--man=no",
                          *sorted(str(p) for p in system.iterdir())],
                         capture_output=True, text=True)
    assert out.returncode == 0 and out.stderr == "", out.stderr
    out = subprocess.run(["systemd-analyze", "--user", "verify", "--man=no",
                          str(user / "virtswarm-guests.service")],
                         capture_output=True, text=True,
                         env={**os.environ, "XDG_RUNTIME_DIR": str(user)})
    assert out.returncode == 0 and out.stderr == "", out.stderr
