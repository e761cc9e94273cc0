"""Volumes handed to VMs (Manager.OpenVolume, the fd broker) and kept in use while held,
without QEMU: the test process is the holder, on connections of its own. A held volume
cannot be deleted, wiped or shrunk; holds end on ReleaseVolumes or when the holder's bus
name vanishes (NameOwnerChanged from the bus driver only), and survive a storaged
restart. Polkit decides data-write/data-read for the caller, or for the definer a root
caller names."""

import os
import signal
import uuid

import dbus
import pytest

import storageclient as sc
import vsclient as vc
import vsharness as h

HYPERVISOR = "org.virtswarm.Hypervisor1"
IN_USE = "org.virtswarm.Error.InvalidState"


@pytest.fixture(autouse=True)
def no_leftover_domains():
    """Replaces the directory's domain clean-up, which would start the hypervisor registry."""
    yield
    assert not h.name_has_owner(HYPERVISOR)


def holder_connection() -> dbus.bus.BusConnection:
    """A connection of its own: a holder whose name the test can make vanish."""
    return dbus.bus.BusConnection(os.environ["DBUS_SYSTEM_BUS_ADDRESS"])


def open_volume(conn, pool_name: str, volume: str, domain: str, writable: bool = True, **extra):
    manager = dbus.Interface(conn.get_object(sc.BUS_NAME, sc.ROOT), sc.MANAGER)
    options = sc.opts(writable=writable, domain=domain, **extra)
    return manager.OpenVolume(pool_name, volume, options, timeout=vc.TIMEOUT)


def pool_with_volume(tag: str, name: str = "disk", mib: int = 4):
    pool_name = vc.unique(tag)
    pool, directory = sc.running_dir_pool(pool_name)
    vol = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml(name, str(mib << 20)),
                                                   sc.opts(), timeout=vc.TIMEOUT))
    # Only root may read the image: whoever uses it needs storaged's fd.
    os.chmod(os.path.join(directory, name), 0o600)
    return pool_name, pool, vol, os.path.join(directory, name)


def delete_error(vol: str) -> str:
    return sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Delete(sc.opts(), timeout=vc.TIMEOUT))


def test_an_opened_volume_is_in_use_until_its_holder_is_gone():
    pool_name, pool, vol, path = pool_with_volume("held")
    domain = str(uuid.uuid4())
    conn = holder_connection()
    fd, got_path, attributes = open_volume(conn, pool_name, "disk", domain)
    assert str(got_path) == path and dict(attributes) == {"format": "raw"}
    with os.fdopen(fd.take(), "r+b") as f:
        f.write(b"written through the brokered fd")
    with open(path, "rb") as f:
        assert f.read(31) == b"written through the brokered fd"

    # In use: delete, wipe, shrink and upload refused with a named error; growing is fine.
    assert delete_error(vol) == IN_USE
    try:
        sc.iface(vol, sc.VOLUME).Delete(sc.opts(), timeout=vc.TIMEOUT)
    except dbus.exceptions.DBusException as e:
        assert "storage volume 'disk' is in use" in e.get_dbus_message()
    assert sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Wipe(
        sc.opts(), timeout=vc.TIMEOUT)) == IN_USE
    assert sc.error_name(lambda: sc.iface(vol, sc.VOLUME).Resize(
        dbus.UInt64(1 << 20), sc.opts(shrink=True), timeout=vc.TIMEOUT)) == IN_USE
    sc.iface(vol, sc.VOLUME).Resize(dbus.UInt64(8 << 20), sc.opts(), timeout=vc.TIMEOUT)
    assert os.path.exists(path) and os.path.getsize(path) == 8 << 20

    # Another connection releases only its own holds (none); a forged NameOwnerChanged
    # sent straight to storaged by that connection is not believed.
    assert int(sc.manager().ReleaseVolumes(domain, dbus.Array([], signature="s"),
                                           timeout=vc.TIMEOUT)) == 0
    storaged = str(h.bus_daemon().GetNameOwner(sc.BUS_NAME))
    forged = dbus.lowlevel.SignalMessage("/org/freedesktop/DBus", "org.freedesktop.DBus",
                                         "NameOwnerChanged")
    forged.set_destination(storaged)
    holder = conn.get_unique_name()
    forged.append(holder, holder, "", signature="sss")
    vc.bus().send_message(forged)
    vc.bus().flush()
    sc.props(vol, sc.VOLUME)  # a round trip after the forged signal
    assert delete_error(vol) == IN_USE

    # The holder's name vanishes: the bus driver says so, the hold ends.
    conn.close()
    h.wait_until(lambda: delete_error(vol) == "", 30, 0.2, "the hold to end with its holder")
    assert not os.path.exists(path)


def test_release_ends_the_callers_holds_of_a_domain():
    pool_name, pool, vol, path = pool_with_volume("released")
    conn = holder_connection()
    domain, other_domain = str(uuid.uuid4()), str(uuid.uuid4())
    for d in (domain, other_domain):
        fd, _, _ = open_volume(conn, pool_name, "disk", d, writable=False)
        os.close(fd.take())
    manager = dbus.Interface(conn.get_object(sc.BUS_NAME, sc.ROOT), sc.MANAGER)
    assert int(manager.ReleaseVolumes(domain, dbus.Array([path], signature="s"),
                                      timeout=vc.TIMEOUT)) == 1
    assert delete_error(vol) == IN_USE  # still held for the other domain
    assert int(manager.ReleaseVolumes(other_domain, dbus.Array([], signature="s"),
                                      timeout=vc.TIMEOUT)) == 1
    assert delete_error(vol) == ""
    conn.close()


def test_holds_survive_a_storaged_restart_unless_their_holder_left_meanwhile():
    pool_name, pool, kept_vol, kept_path = pool_with_volume("restart")
    gone_vol = str(sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("gone", "1048576"),
                                                        sc.opts(), timeout=vc.TIMEOUT))
    kept, gone = holder_connection(), holder_connection()
    for conn, name in ((kept, "disk"), (gone, "gone")):
        fd, _, _ = open_volume(conn, pool_name, name, str(uuid.uuid4()))
        os.close(fd.take())
    os.kill(sc.storaged_pid(), signal.SIGKILL)
    h.wait_for_name_gone(sc.BUS_NAME)
    gone.close()  # while no storaged watches
    # The next call activates storaged again; it reads the holds and asks the bus driver
    # which holders still exist.
    assert str(sc.manager().LookupByName(pool_name)) == pool
    assert delete_error(kept_vol) == IN_USE
    h.wait_until(lambda: delete_error(gone_vol) == "", 30, 0.2,
                 "the hold of a holder gone during the restart to end")
    kept.close()
    h.wait_until(lambda: delete_error(kept_vol) == "", 30, 0.2, "the last hold to end")


def test_polkit_decides_for_the_caller_or_the_definer_a_root_caller_names():
    pool_name, pool, vol, path = pool_with_volume("grant")
    user = h.test_user()
    domain = str(uuid.uuid4())
    args = (pool_name, "disk")

    def as_user(**options):
        return sc.call_as(user, sc.ROOT, sc.MANAGER + ".OpenVolume", *args,
                          {"domain": domain, **options})

    r = as_user(writable=True)
    assert "InteractiveAuthorizationRequired" in r.stderr, r.stderr
    # Only root may speak for another uid.
    r = as_user(writable=True, **{"definer-uid": 0})
    assert "org.freedesktop.DBus.Error.InvalidArgs" in r.stderr, r.stderr
    # A root caller (a system shim) for the definer: polkit decides for the definer.
    definer = dbus.UInt32(h.uid_of(user))
    assert sc.error_name(lambda: open_volume(vc.bus(), pool_name, "disk", domain, **{
        "definer-uid": definer})) == "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
    rule = ("polkit.addRule(function(action, subject) {\n"
            '  if (action.id == "org.virtswarm.storage-vol.data-read" &&\n'
            f'      subject.user == "{user}" &&\n'
            f'      action.lookup("pool_name") == "{pool_name}" &&\n'
            '      action.lookup("vol_name") == "disk") {\n'
            "    return polkit.Result.YES;\n"
            "  }\n"
            "});\n")
    with h.polkit_rule("60-vs-volume-open.rules", rule):
        r = as_user(writable=False)
        assert r.returncode == 0 and path in r.stdout, r.stderr
        # data-read does not grant writing.
        r = as_user(writable=True)
        assert "InteractiveAuthorizationRequired" in r.stderr, r.stderr
        fd, _, _ = open_volume(vc.bus(), pool_name, "disk", domain, writable=False,
                               **{"definer-uid": definer})
        os.close(fd.take())
    # The user's call ended with its process: only the root caller's hold remains.
    assert int(sc.manager().ReleaseVolumes(domain, dbus.Array([], signature="s"),
                                           timeout=vc.TIMEOUT)) == 1
    assert delete_error(vol) == ""


def test_bad_requests_are_named_errors_and_hold_nothing():
    pool_name, pool, vol, path = pool_with_volume("bad")
    conn = holder_connection()
    domain = str(uuid.uuid4())
    assert sc.error_name(lambda: open_volume(conn, pool_name, "nope", domain)) == \
        "org.virtswarm.Error.NoSuchVolume"
    assert sc.error_name(lambda: open_volume(conn, "no-such-pool", "disk", domain)) == \
        "org.virtswarm.Error.NoSuchPool"
    manager = dbus.Interface(conn.get_object(sc.BUS_NAME, sc.ROOT), sc.MANAGER)
    assert sc.error_name(lambda: manager.OpenVolume(
        pool_name, "disk", sc.opts(writable=True), timeout=vc.TIMEOUT)) == \
        "org.freedesktop.DBus.Error.InvalidArgs"  # no domain
    assert sc.error_name(lambda: open_volume(conn, pool_name, "disk", "not a uuid")) == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    assert sc.error_name(lambda: open_volume(conn, pool_name, "disk", domain, bogus=True)) == \
        "org.freedesktop.DBus.Error.InvalidArgs"
    conn.close()
    # Nothing was held by any of these.
    assert delete_error(vol) == ""
