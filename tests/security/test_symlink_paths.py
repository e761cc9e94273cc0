"""Issue 8, item 4: the root shim opened serial files with O_CREAT|O_TRUNC, following
symbolic links, with DAC override: a user who could plant a symlink where an admin's VM
logs its serial console truncated any file on the host. Now files the shim creates or
truncates are never reached through a symlink, and never replace a file of another owner.

Run through tests/harness/with-test-bus (ctest -R security-test_symlink_paths).
"""

import os

import dbus
import pytest

import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

PRECIOUS = "precious host file\n"


@pytest.fixture
def user_dir():
    """A directory the test user owns, where an admin's VM logs its serial console."""
    path = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("user-logs"))
    os.mkdir(path, 0o755)
    os.chown(path, h.uid_of(h.test_user()), -1)
    return path


@pytest.fixture
def victim():
    path = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("victim"))
    with open(path, "w") as f:
        f.write(PRECIOUS)
    os.chmod(path, 0o600)
    return path


def start_refused(serial):
    """The admin's domain logging to `serial` does not start: a named error naming it."""
    path = vc.define(vc.domain_xml(vc.unique("admin-vm"), serial=serial))
    with pytest.raises(dbus.exceptions.DBusException) as e:
        vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert e.value.get_dbus_name() == "org.freedesktop.DBus.Error.AccessDenied", e.value
    assert serial in e.value.get_dbus_message()
    assert vc.state(path)[0] == "shutoff"
    return e.value.get_dbus_message()


def test_symlinked_serial_path_is_not_followed(user_dir, victim):
    serial = os.path.join(user_dir, "console.log")
    r = h.run_as(h.test_user(), ["ln", "-s", victim, serial])
    assert r.returncode == 0, r.stderr
    assert "symbolic link" in start_refused(serial)
    with open(victim) as f:
        assert f.read() == PRECIOUS


def test_symlinked_directory_is_not_followed(user_dir, victim):
    """A link higher up the path (the user swapped a directory) is refused as well."""
    logs = os.path.join(user_dir, "logs")
    r = h.run_as(h.test_user(), ["ln", "-s", os.path.dirname(victim), logs])
    assert r.returncode == 0, r.stderr
    start_refused(os.path.join(logs, os.path.basename(victim)))
    with open(victim) as f:
        assert f.read() == PRECIOUS


def test_file_of_another_owner_is_not_truncated(user_dir):
    """A regular file the user planted there is theirs, not the admin's: left alone."""
    serial = os.path.join(user_dir, "console.log")
    r = h.run_as(h.test_user(), ["sh", "-c", f"echo mine > {serial}"])
    assert r.returncode == 0, r.stderr
    assert "belongs to uid" in start_refused(serial)
    with open(serial) as f:
        assert f.read() == "mine\n"


def test_admin_serial_log_still_works(user_dir):
    """A log file root owns (or one that does not exist yet) is written as before."""
    serial = os.path.join(h.env("VS_TEST_ROOT"), vc.unique("admin-console") + ".log")
    with open(serial, "w") as f:
        f.write("previous run\n")
    path = vc.define(vc.domain_xml(vc.unique("admin-vm"), serial=serial))
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    assert vc.state(path)[0] == "running"
    vc.wait_file_contains(serial, "Linux version")
    with open(serial) as f:
        assert "previous run" not in f.read()
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
