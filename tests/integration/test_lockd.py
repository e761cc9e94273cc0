"""virtswarm-lockd on the private bus with the real polkitd: exclusive and shared leases
keyed by the file's identity, conflicts as ResourceBusy, release when the holder leaves
the bus only once its process is gone too, leases kept across kill -9 and re-exec of lockd,
polkit, and bad input. Holders are real processes (tests/lockholder.py); the "QEMU" whose
end releases a lease is a plain `sleep` process started by the test."""

import os
import signal
import subprocess
import uuid

import dbus
import pytest

import lockclient as lc
import vsharness as h


def new_domain() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def images():
    """Three image files any test user may read and write, in a directory they can reach."""
    directory = os.path.join(h.env("VS_TEST_ROOT"), "images-" + uuid.uuid4().hex[:8])
    os.makedirs(directory, mode=0o755)
    os.chmod(directory, 0o755)
    paths = []
    for name in ("a.img", "b.img", "c.img"):
        path = os.path.join(directory, name)
        with open(path, "wb") as f:
            f.truncate(1 << 20)
        os.chmod(path, 0o666)
        paths.append(path)
    return paths


@pytest.fixture
def stand_in_qemu():
    """A process standing in for a domain's QEMU: a lease outlives its holder while it runs."""
    proc = subprocess.Popen(["sleep", "3600"])
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def wait_released(path: str) -> None:
    h.wait_until(lambda: not lc.domains_holding(path), 20, what=f"the lease on {path} to go")


def test_exclusive_and_shared_leases_by_file_identity(images):
    a, b, _ = images
    one, two, three = new_domain(), new_domain(), new_domain()
    with lc.Holder(one, {a: "exclusive", b: "shared"}) as first:
        assert first.ok, first.line
        assert lc.leases() >= {(a, "exclusive", one), (b, "shared", one)}
        # The writable image belongs to one domain: neither a writer nor a reader may join.
        with lc.Holder(two, {a: "exclusive"}) as h2:
            assert h2.error == lc.BUSY
        with lc.Holder(two, {a: "shared"}) as h2:
            assert h2.error == lc.BUSY
        # A hard link is the same file: the lease follows the inode, not the path.
        link = a + ".link"
        os.link(a, link)
        with lc.Holder(two, {link: "exclusive"}) as h2:
            assert h2.error == lc.BUSY
        # A shared image takes any number of readers, and no writer.
        with lc.Holder(two, {b: "shared"}) as h2, lc.Holder(three, {b: "exclusive"}) as h3:
            assert h2.ok, h2.line
            assert h3.error == lc.BUSY
            assert lc.domains_holding(b) == {one, two}
        # All or nothing: a refused disk leaves the others of the request unleased.
        _, _, c = images
        with lc.Holder(three, {c: "exclusive", a: "exclusive"}) as h3:
            assert h3.error == lc.BUSY
        assert not lc.domains_holding(c)
    # The holders without a process are gone: so are their leases.
    wait_released(a)
    wait_released(b)


def test_release_by_the_holder_and_by_path(images):
    a, b, _ = images
    one = new_domain()
    fa, fb = os.open(a, os.O_RDWR), os.open(b, os.O_RDWR)
    try:
        lc.acquire(one, [lc.disk(fa, a, False), lc.disk(fb, b, False)])
        # Asking again is harmless; the same domain may change a lease's mode.
        lc.acquire(one, [lc.disk(fb, b, True)])
        assert lc.leases() >= {(a, "exclusive", one), (b, "shared", one)}
        lc.manager().Release(one, dbus.Array([a], signature="s"), lc.opts(), timeout=lc.TIMEOUT)
        assert lc.domains_holding(a) == set() and lc.domains_holding(b) == {one}
        assert lc.error_of(lc.manager().Release, one, dbus.Array([a], signature="s"),
                           lc.opts()) == lc.INVALID
        lc.manager().Release(one, dbus.Array([], signature="s"), lc.opts(), timeout=lc.TIMEOUT)
        assert not lc.domains_holding(b)
    finally:
        os.close(fa)
        os.close(fb)


def test_a_vanished_holder_releases_only_once_its_process_is_gone(images, stand_in_qemu):
    a, _, _ = images
    one, two = new_domain(), new_domain()
    holder = lc.Holder(one, {a: "exclusive"}, process=stand_in_qemu.pid)
    assert holder.ok, holder.line
    holder.kill()  # kill -9 of the "shim": its "QEMU" still runs and still has the image
    assert lc.domains_holding(a) == {one}
    with lc.Holder(two, {a: "exclusive"}) as h2:
        assert h2.error == lc.BUSY
    stand_in_qemu.kill()
    stand_in_qemu.wait(10)
    wait_released(a)
    with lc.Holder(two, {a: "exclusive"}) as h2:
        assert h2.ok, h2.line


def test_the_process_ending_first_leaves_the_lease_to_its_holder(images, stand_in_qemu):
    a, _, _ = images
    one = new_domain()
    with lc.Holder(one, {a: "exclusive"}, process=stand_in_qemu.pid) as holder:
        assert holder.ok, holder.line
        stand_in_qemu.kill()
        stand_in_qemu.wait(10)
        # The holder is still on the bus: it still holds the lease.
        h.wait_until(lambda: os.path.exists(f"/proc/{stand_in_qemu.pid}") is False, 10)
        assert lc.domains_holding(a) == {one}
    wait_released(a)


def test_a_new_holder_of_the_same_uid_takes_over_an_orphaned_domain(images, stand_in_qemu):
    a, b, _ = images
    one = new_domain()
    first = lc.Holder(one, {a: "exclusive"}, process=stand_in_qemu.pid)
    assert first.ok, first.line
    # Another user cannot take it over; nor can anyone while the holder is on the bus.
    with lc.Holder(one, {b: "exclusive"}) as rival:
        assert rival.error == lc.BUSY
    first.kill()
    with lc.Holder(one, {b: "exclusive"}, user=h.test_user()) as stranger:
        assert stranger.error == lc.BUSY
    # A re-attaching shim (same uid) takes the domain over, adding a hotplugged disk.
    with lc.Holder(one, {b: "exclusive"}) as second:
        assert second.ok, second.line
        assert lc.leases() >= {(a, "exclusive", one), (b, "exclusive", one)}
        stand_in_qemu.kill()
        stand_in_qemu.wait(10)
        # Its process gone, the domain's leases stay with the live holder ...
        assert lc.domains_holding(a) == {one}
    # ... until it leaves too.
    wait_released(a)
    wait_released(b)


def test_kill_9_of_lockd_keeps_every_lease(images, stand_in_qemu):
    a, b, _ = images
    one, two = new_domain(), new_domain()
    live = lc.Holder(one, {a: "exclusive"})
    orphan = lc.Holder(two, {b: "exclusive"}, process=stand_in_qemu.pid)
    assert live.ok and orphan.ok, (live.line, orphan.line)
    try:
        os.kill(lc.lockd_pid(), signal.SIGKILL)
        h.wait_for_name_gone(lc.BUS_NAME)
        # While lockd is down, the orphan's holder leaves; its process still runs.
        orphan.kill()
        # The next call activates a new lockd, which has every lease.
        assert lc.leases() >= {(a, "exclusive", one), (b, "exclusive", two)}
        with lc.Holder(new_domain(), {a: "exclusive"}) as rival:
            assert rival.error == lc.BUSY
        # The new lockd watches the recorded process and the live holder again.
        stand_in_qemu.kill()
        stand_in_qemu.wait(10)
        wait_released(b)
        assert lc.domains_holding(a) == {one}
    finally:
        live.kill()
    wait_released(a)


def test_the_call_that_activates_lockd_is_answered(images):
    """A shim's first Acquire is sent to the name, not to a running lockd: the bus starts
    lockd and hands it the call with the reply to its RequestName, before its loop runs.
    It must be answered (it once waited for lockd's next unrelated message instead)."""
    a, _, _ = images
    if h.name_has_owner(lc.BUS_NAME):
        os.kill(lc.lockd_pid(), signal.SIGKILL)
        h.wait_for_name_gone(lc.BUS_NAME)
    one = new_domain()
    fd = os.open(a, os.O_RDWR)
    try:
        lc.call("Acquire", "sa(hsb)a{sv}", one, [lc.disk(fd, a, False)], lc.opts())
    finally:
        os.close(fd)
    assert lc.domains_holding(a) == {one}
    lc.call("Release", "sasa{sv}", one, dbus.Array([], signature="s"), lc.opts())
    assert not lc.domains_holding(a)


def test_a_holder_gone_while_lockd_was_down_is_noticed_at_restart(images):
    a, _, _ = images
    holder = lc.Holder(new_domain(), {a: "exclusive"})
    assert holder.ok, holder.line
    os.kill(lc.lockd_pid(), signal.SIGKILL)
    h.wait_for_name_gone(lc.BUS_NAME)
    holder.kill()
    wait_released(a)


@pytest.mark.parametrize("how", ["method", "SIGUSR1"])
def test_reexec_keeps_the_process_the_name_and_every_lease(images, stand_in_qemu, how):
    a, b, _ = images
    one, two = new_domain(), new_domain()
    with lc.Holder(one, {a: "exclusive"}) as live, \
            lc.Holder(two, {b: "shared"}, process=stand_in_qemu.pid) as with_process:
        assert live.ok and with_process.ok, (live.line, with_process.line)
        pid = lc.lockd_pid()
        before = lc.leases()
        old_owner = str(h.bus_daemon().GetNameOwner(lc.BUS_NAME))
        if how == "method":
            lc.manager().Reexec(lc.opts(), timeout=lc.TIMEOUT)
        else:
            os.kill(pid, signal.SIGUSR1)
        h.wait_until(lambda: h.name_owner(lc.BUS_NAME) not in (None, old_owner), 20,
                     what="lockd back on the bus")
        assert lc.lockd_pid() == pid  # the same process, a new image
        assert lc.leases() == before
        with lc.Holder(new_domain(), {a: "shared"}) as rival:
            assert rival.error == lc.BUSY
    # Both holders left after the re-exec; the new image saw it.
    wait_released(a)
    stand_in_qemu.kill()
    stand_in_qemu.wait(10)
    wait_released(b)


def test_calls_during_a_reexec_are_answered(images):
    """A call sent while lockd re-executes waits for it (the bus activates the name): no
    client sees an error."""
    a, _, _ = images
    fd = os.open(a, os.O_RDWR)
    try:
        lc.call("Reexec", "a{sv}", lc.opts())
        one = new_domain()
        lc.call("Acquire", "sa(hsb)a{sv}", one, [lc.disk(fd, a, False)], lc.opts())
        assert lc.domains_holding(a) == {one}
        lc.call("Release", "sasa{sv}", one, dbus.Array([], signature="s"), lc.opts())
    finally:
        os.close(fd)
    # Any lockd started by that activation lost the race for the name and exited.
    h.wait_until(lambda: int(subprocess.run(["pgrep", "-c", "-x", "virtswarm-lockd"],
                                            capture_output=True, text=True).stdout or 0) == 1,
                 20, what="a single lockd")


def test_polkit_decides_who_may_acquire_and_read(images):
    a, _, _ = images
    user = h.test_user()
    deny = ('polkit.addRule(function(action, subject) {\n'
            f'    if (action.id == "org.virtswarm.lock.acquire" && subject.user == "{user}")\n'
            '        return polkit.Result.NO;\n'
            '});\n')
    with h.polkit_rule("50-lock-deny.rules", deny):
        with lc.Holder(new_domain(), {a: "exclusive"}, user=user) as denied:
            assert denied.error == "org.freedesktop.DBus.Error.AccessDenied"
    assert not lc.domains_holding(a)
    # By default anyone may lease what they could open.
    with lc.Holder(new_domain(), {a: "exclusive"}, user=user) as allowed:
        assert allowed.ok, allowed.line
        # Seeing every lease needs an administrator outside an active session.
        r = h.run_as(user, ["/usr/bin/python3", "-c",
                            "import dbus, lockclient as lc\n"
                            "try:\n"
                            "    lc.manager().ListLeases(lc.opts())\n"
                            "    print('ALLOWED')\n"
                            "except dbus.exceptions.DBusException as e:\n"
                            "    print(e.get_dbus_name())\n"],
                     env={**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]})
        assert r.stdout.strip() in ("org.freedesktop.DBus.Error.AccessDenied",
                                    "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"), r
        with h.polkit_rule("50-lock-read.rules",
                           h.allow_rule_js("org.virtswarm.lock.read", user)):
            r = h.run_as(user, ["/usr/bin/python3", "-c",
                                "import lockclient as lc\nprint(len(lc.leases()))"],
                         env={**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]})
            assert r.stdout.strip() == "1", r
        # Root may release anyone's leases; another user may not release them.
        r = h.run_as(h.test_user2(), ["/usr/bin/python3", "-c",
                                      "import dbus, lockclient as lc, sys\n"
                                      "try:\n"
                                      f"    lc.manager().Release({lc.leases().pop()[2]!r}, "
                                      "dbus.Array([], signature='s'), lc.opts())\n"
                                      "    print('RELEASED')\n"
                                      "except dbus.exceptions.DBusException as e:\n"
                                      "    print(e.get_dbus_name())\n"],
                     env={**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]})
        assert r.stdout.strip() == "org.freedesktop.DBus.Error.AccessDenied", r
        assert lc.domains_holding(a)


def test_a_user_leases_only_what_they_could_open(images):
    a, _, _ = images
    os.chmod(a, 0o644)  # the test user may read it, not write it
    user = h.test_user()
    r = h.run_as(user, ["/usr/bin/python3", "-c",
                        "import os, dbus, lockclient as lc, uuid\n"
                        f"fd = os.open({a!r}, os.O_RDONLY)\n"
                        "try:\n"
                        f"    lc.acquire(str(uuid.uuid4()), [lc.disk(fd, {a!r}, False)])\n"
                        "    print('LEASED')\n"
                        "except dbus.exceptions.DBusException as e:\n"
                        "    print(e.get_dbus_name())\n"],
                 env={**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]})
    assert r.stdout.strip() == lc.INVALID, r
    assert not lc.domains_holding(a)


def test_bad_input_is_refused_and_changes_nothing(images, tmp_path):
    a, b, _ = images
    before = lc.leases()
    m = lc.manager()
    fd = os.open(a, os.O_RDWR)
    path_fd = os.open(b, os.O_PATH)
    dir_fd = os.open(str(tmp_path), os.O_RDONLY)
    try:
        domain = new_domain()
        good = lc.disk(fd, a, False)
        cases = {
            "bad uuid": lambda: lc.acquire("not-a-uuid", [good]),
            "O_PATH": lambda: lc.acquire(domain, [lc.disk(path_fd, b, True)]),
            "directory": lambda: lc.acquire(domain, [lc.disk(dir_fd, str(tmp_path), True)]),
            "empty path": lambda: lc.acquire(domain, [lc.disk(fd, "", False)]),
            "long path": lambda: lc.acquire(domain, [lc.disk(fd, "/" + "x" * 5000, False)]),
            "unknown option": lambda: m.Acquire(domain, dbus.Array([good], signature="(hsb)"),
                                                dbus.Dictionary({"force": True}, signature="sv"),
                                                timeout=lc.TIMEOUT),
            "release unknown": lambda: m.Release(domain, dbus.Array([], signature="s"),
                                                 lc.opts(), timeout=lc.TIMEOUT),
            "not a pidfd": lambda: m.SetProcess(domain, dbus.types.UnixFd(fd), lc.opts(),
                                                timeout=lc.TIMEOUT),
        }
        for what, call in cases.items():
            assert lc.error_of(call) == lc.INVALID, what
        # No disks only takes a domain's leases over: with none held, nothing happens.
        lc.acquire(domain, [])
        # (More than 64 disks in one call: the bus itself refuses a message with that many
        # descriptors; lockd's own bound is the unit tests'.)
        assert lc.leases() == before
        # A domain with leases refuses a pidfd that is not one.
        lc.acquire(domain, [good])
        assert lc.error_of(m.SetProcess, domain, dbus.types.UnixFd(fd), lc.opts()) == lc.INVALID
        m.Release(domain, dbus.Array([], signature="s"), lc.opts(), timeout=lc.TIMEOUT)
        # lockd is still there and well.
        assert str(lc.manager_props()["Version"])
    finally:
        for f in (fd, path_fd, dir_fd):
            os.close(f)
