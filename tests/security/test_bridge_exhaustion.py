"""Issue 8, item 6: one unprivileged user could exhaust virtswarm-proxyd. 1,030 idle
connections locked root out of both sockets, and every connection that had not opened
could buffer a 16 MiB frame. Each test replays the attack as a test user against a proxyd
of its own and checks that root (and other users) do not notice.

Run through tests/harness/with-test-bus (ctest -R security-test_bridge_exhaustion).
"""

import os
import subprocess
import sys

import pytest

import bridgeclient as bc
import vsharness as h
from bridgewire import GET_TYPE, Conn

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

HOG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "bridge_hog.py")
MIB = 1024 * 1024


class Hog:
    """bridge_hog.py run as `user`, with room for thousands of descriptors."""

    def __init__(self, user, mode, path, count, body_bytes=0):
        argv = ["prlimit", "--nofile=4096:4096", "--",
                *h.as_user_argv(user, [sys.executable, HOG, mode, path, str(count),
                                       str(body_bytes)])]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("ready "), f"the hog did not start: {line!r}"
        self.connected = int(line.split()[1])

    def closed(self) -> int:
        """How many of its connections the server has closed."""
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline().split()[1])

    def stop(self):
        self.proc.stdin.close()
        self.proc.wait(30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def status_kib(pid, field) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for pid {pid}")


def peak_rss_mib(bridge) -> float:
    return status_kib(bridge.proc.pid, "VmHWM") / 1024


def open_fds(bridge) -> int:
    return len(os.listdir(f"/proc/{bridge.proc.pid}/fd"))


def root_gets_in(bridge):
    """root connects, opens and makes a call on both sockets."""
    for path in (bridge.rw, bridge.ro):
        conn = Conn(path)
        try:
            conn.handshake()
            assert conn.ok(GET_TYPE).string() == "QEMU"
        finally:
            conn.close()


@pytest.fixture
def bridge(request):
    options = getattr(request, "param", ())
    b = bc.Bridge("bridge-exhaustion", *options)
    yield b
    b.stop()


def test_one_user_cannot_lock_root_out_of_either_socket(bridge, tmp_path):
    user, other = h.test_user(), h.test_user2()
    with Hog(user, "idle", bridge.rw, 1030) as hog:
        assert hog.connected == 1030
        root_gets_in(bridge)
        # Another user is not locked out either.
        home = bc.virsh_home(h.env("VS_TEST_ROOT"))
        r = bc.virsh(home, bridge.ro_uri, "version", user=other)
        assert "Running hypervisor: QEMU" in r.stdout
        # The excess was accepted and closed at once: proxyd does not sit on a thousand
        # descriptors, nor leave them waiting in the backlog.
        h.wait_until(lambda: hog.closed() >= 1030 - 128, 20, what="excess connections closed")
        assert open_fds(bridge) < 200
        root_gets_in(bridge)


def test_partial_frames_before_open_are_refused_with_bounded_memory(bridge):
    before = peak_rss_mib(bridge)
    # Each announces 16 MiB and sends 4 MiB of it before CONNECT_OPEN.
    with Hog(h.test_user(), "partial", bridge.rw, 60, 4 * MIB) as hog:
        h.wait_until(lambda: hog.closed() == hog.connected, 20,
                     what="every connection with a 16 MiB frame before open closed")
        growth = peak_rss_mib(bridge) - before
        assert growth < 50, f"proxyd grew by {growth:.0f} MiB"
        root_gets_in(bridge)


@pytest.mark.parametrize("bridge", [("--max-buffer-per-uid", "32")], indirect=True)
def test_partial_frames_after_open_are_bounded_per_user(bridge):
    before = peak_rss_mib(bridge)
    # Opened connections may send 16 MiB frames, but one user's unfinished ones together
    # stay within the user's budget (32 MiB here): the ones beyond it are closed.
    with Hog(h.test_user(), "partial-open", bridge.ro, 10, 8 * MIB) as hog:
        assert hog.connected == 10
        h.wait_until(lambda: hog.closed() >= 8, 20, what="connections over the budget closed")
        growth = peak_rss_mib(bridge) - before
        assert growth < 50, f"proxyd grew by {growth:.0f} MiB"
        root_gets_in(bridge)


def test_descriptors_sent_without_a_message_are_bounded_per_user(bridge):
    """Every descriptor a client passes (SCM_RIGHTS) is one of proxyd's until a call takes
    it. One user's 60 opened connections each sent 64 that no message announced (each
    connection's own cap): 3,840 descriptors the bridge held. Now one user's held ones
    together stay within its budget (128): connections beyond it are closed."""
    before = open_fds(bridge)
    with Hog(h.test_user(), "fds-open", bridge.rw, 60, 64) as hog:
        assert hog.connected == 60
        h.wait_until(lambda: hog.closed() >= 57, 20, what="connections over the budget closed")
        held = open_fds(bridge) - before
        assert held < 60 + 128 + 16, f"proxyd holds {held} more descriptors"
        root_gets_in(bridge)
    h.wait_until(lambda: open_fds(bridge) <= before + 2, 20, what="every descriptor returned")


@pytest.mark.parametrize("bridge", [("--open-timeout", "2")], indirect=True)
def test_connections_that_never_open_are_closed_after_the_timeout(bridge):
    opened = Conn(bridge.rw).handshake()
    try:
        with Hog(h.test_user(), "idle", bridge.rw, 10) as hog:
            h.wait_until(lambda: hog.closed() == 10, 15,
                         what="never-opened connections closed after the open timeout")
        # An opened connection is not subject to it.
        assert opened.ok(GET_TYPE).string() == "QEMU"
    finally:
        opened.close()


@pytest.mark.parametrize("bridge", [("--max-client-requests", "2")], indirect=True)
def test_a_client_flooding_calls_waits_alone(bridge):
    # One client pipelines far more calls than it may have in flight and reads nothing; the
    # bridge stops reading from it (as libvirtd does with max_client_requests) and the
    # others do not notice. The flood is answered once the client reads.
    flood = Conn(bridge.rw).handshake()
    try:
        serials = [flood.send_call(GET_TYPE) for _ in range(2000)]
        root_gets_in(bridge)
        for serial in serials:
            m = flood.reply_to(serial)
            assert m[5] == 0, "a flooded call failed"
    finally:
        flood.close()
