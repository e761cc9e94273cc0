"""virtswarm-logd on the private bus with the real polkitd: streams copied into the
domain's log and read back, rotation bounding a flooding writer that is never blocked,
the journal's fields, re-exec losing no line, kill -9 leaving writers unblocked, polkit,
and bad input. The writers are plain processes of the test holding a stream's write end,
as QEMU holds it."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid

import dbus
import pytest

import logclient as lg
import vsharness as h

INVALID = "org.freedesktop.DBus.Error.InvalidArgs"
NO_SUCH = "org.virtswarm.Error.NoSuchDomain"
DENIED = ("org.freedesktop.DBus.Error.AccessDenied",
          "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")


def new_domain() -> tuple[str, str]:
    u = str(uuid.uuid4())
    return u, "logtest-" + u[:8]


@pytest.fixture
def logd_config():
    """Writes logd.conf and restarts logd with it; the defaults come back afterwards."""
    path = lg.config_file()

    def configure(text: str) -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        lg.stop_logd()
    yield configure
    if os.path.exists(path):
        os.unlink(path)
    lg.stop_logd()


def dbus_error(callable_) -> str:
    with pytest.raises(dbus.exceptions.DBusException) as e:
        callable_()
    return e.value.get_dbus_name()


def test_a_stream_is_copied_into_the_domains_log_and_read_back():
    domain, name = new_domain()
    fd = lg.open_stream(domain, name)
    try:
        os.write(fd, b"starting: qemu-system-x86_64 ...\nqemu: warning: one\n")
        # Whatever was written before the call is in the answer.
        data, next_offset = lg.read_log(domain)
        assert data == b"starting: qemu-system-x86_64 ...\nqemu: warning: one\n"
        assert next_offset == len(data)
        row = [s for s in lg.streams() if s[0] == domain]
        assert row == [(domain, name, "qemu", os.path.join(lg.log_dir(), name + ".log"),
                        len(data))]
        os.write(fd, b"qemu: error: two\n")
        tail, _ = lg.read_log(domain, offset=lg.TAIL, size=17)
        assert tail == b"qemu: error: two\n"
    finally:
        os.close(fd)
    # The writer gone, the stream ends; the log stays readable and on disk.
    h.wait_until(lambda: not [s for s in lg.streams() if s[0] == domain], 20,
                 what="the stream to end")
    with open(os.path.join(lg.log_dir(), name + ".log"), "rb") as f:
        assert f.read().endswith(b"qemu: error: two\n")
    assert lg.read_all(domain).endswith(b"two\n")
    # Another stream of the domain has a file of its own.
    fd = lg.open_stream(domain, name, "swtpm")
    os.write(fd, b"swtpm line\n")
    os.close(fd)
    assert lg.read_all(domain, "swtpm") == b"swtpm line\n"
    assert os.path.exists(os.path.join(lg.log_dir(), name + "-swtpm.log"))


def test_a_flooding_writer_is_bounded_and_never_blocked(logd_config):
    logd_config("max_size = 65536\nmax_backups = 2\nrate_limit = 262144\n")
    flood, flood_name = new_domain()
    quiet, quiet_name = new_domain()
    flood_fd = lg.open_stream(flood, flood_name)
    quiet_fd = lg.open_stream(quiet, quiet_name)
    try:
        line = b"x" * 1023 + b"\n"
        written = dropped = 0
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            try:
                written += os.write(flood_fd, line)
            except BlockingIOError:
                # The pipe is full: the writer loses the line and goes on, as QEMU does.
                dropped += 1
                time.sleep(0.001)
        assert dropped > 0
        assert written > 3 * 65536
        # The other domain's log is copied meanwhile.
        os.write(quiet_fd, b"still here\n")
        assert lg.read_all(quiet) == b"still here\n"
    finally:
        os.close(flood_fd)
        os.close(quiet_fd)
    lg.read_log(flood)  # everything the flood wrote is copied now
    files = [f for f in os.listdir(lg.log_dir()) if f.startswith(flood_name + ".log")]
    assert sorted(files) == [flood_name + ".log", flood_name + ".log.1", flood_name + ".log.2"]
    total = sum(os.path.getsize(os.path.join(lg.log_dir(), f)) for f in files)
    assert total <= 3 * 65536


def test_each_line_reaches_the_journal_with_the_domains_fields(logd_config, tmp_path):
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    path = str(tmp_path / "journal.socket")
    journal.bind(path)
    journal.settimeout(20)
    try:
        logd_config(f"journal_socket = {path}\n")
        domain, name = new_domain()
        fd = lg.open_stream(domain, name)
        os.write(fd, b"hello journal\n")
        os.close(fd)
        entry = journal.recv(65536).decode()
        fields = dict(line.split("=", 1) for line in entry.splitlines())
        assert fields["MESSAGE"] == "hello journal"
        assert fields["VIRTSWARM_DOMAIN"] == name
        assert fields["VIRTSWARM_UUID"] == domain
        assert fields["VIRTSWARM_STREAM"] == "qemu"
    finally:
        journal.close()


@pytest.fixture
def real_journald(tmp_path):
    """The real systemd-journald, started by hand (no systemd here) in a mount namespace of
    its own whose /run/systemd/journal and /run/log/journal are directories of the test:
    its socket is reachable at the yielded path, and journalctl --directory reads what it
    stored. The host's /run is left alone."""
    binary = "/lib/systemd/systemd-journald"
    if not os.access(binary, os.X_OK):
        pytest.skip("systemd-journald is not installed")
    run, log = tmp_path / "journal-run", tmp_path / "journal-log"
    run.mkdir()
    log.mkdir()
    # The mount points are made on the host's /run (only the mounts are private): those
    # this test makes go again at the end.
    made = [d for d in ("/run/log/journal", "/run/log", "/run/systemd/journal", "/run/systemd")
            if not os.path.exists(d)]
    script = ("mkdir -p /run/systemd/journal /run/log/journal && "
              f"mount --bind {run} /run/systemd/journal && "
              f"mount --bind {log} /run/log/journal && exec {binary}")
    journald = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                                 script], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        socket_path = str(run / "socket")
        h.wait_until(lambda: os.path.exists(socket_path) or journald.poll() is not None, 20,
                     0.05, "systemd-journald's socket")
        assert journald.poll() is None, "systemd-journald did not start"
        yield socket_path, str(log)
    finally:
        journald.terminate()
        journald.wait(20)
        for d in made:
            os.rmdir(d)


def journal_entries(directory, **match):
    out = subprocess.run(["journalctl", f"--directory={directory}", "-o", "json", "--no-pager",
                          *[f"{k}={v}" for k, v in match.items()]],
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_lines_reach_the_real_journal_with_the_domains_fields(logd_config, real_journald):
    """Against systemd-journald itself: each line is an entry with logd's fields, and
    journald records it as logd's (its pid, the native protocol)."""
    socket_path, directory = real_journald
    logd_config(f"journal_socket = {socket_path}\n")
    domain, name = new_domain()
    fd = lg.open_stream(domain, name)
    os.write(fd, b"first line\nsecond line\n")
    os.close(fd)
    def both_lines():
        entries = journal_entries(directory, VIRTSWARM_UUID=domain)
        return entries if len(entries) >= 2 else None
    entries = h.wait_until(both_lines, 20, 0.2, "both lines in the journal")
    assert [e["MESSAGE"] for e in entries] == ["first line", "second line"]
    for e in entries:
        assert e["VIRTSWARM_DOMAIN"] == name and e["VIRTSWARM_STREAM"] == "qemu"
        assert e["_TRANSPORT"] == "journal"
        assert int(e["_PID"]) == lg.logd_pid()


WRITER = """
import os, sys, time
fd, count = int(sys.argv[1]), int(sys.argv[2])
for i in range(count):
    os.write(fd, b"line %06d\\n" % i)
    time.sleep(0.002)
"""


@pytest.mark.parametrize("how", ["method", "SIGUSR1"])
def test_reexec_keeps_every_stream_and_loses_no_line(how):
    domain, name = new_domain()
    fd = lg.open_stream(domain, name)
    count = 1500
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(fd), str(count)],
                              pass_fds=(fd,))
    os.close(fd)
    try:
        pid = lg.logd_pid()
        old_owner = h.name_owner(lg.BUS_NAME)
        time.sleep(0.5)  # the writer is under way
        if how == "method":
            lg.call("Reexec", "a{sv}", lg.opts())
        else:
            os.kill(pid, signal.SIGUSR1)
        h.wait_until(lambda: h.name_owner(lg.BUS_NAME) not in (None, old_owner), 20,
                     what="logd back on the bus")
        assert lg.logd_pid() == pid  # the same process, a new image
        assert [s for s in lg.streams() if s[0] == domain]
    finally:
        assert writer.wait(60) == 0
    lines = lg.read_all(domain).decode().splitlines()
    assert lines == ["line %06d" % i for i in range(count)]


def test_kill_9_of_logd_leaves_writers_unblocked_and_the_next_call_starts_it():
    domain, name = new_domain()
    fd = lg.open_stream(domain, name)
    try:
        os.write(fd, b"before\n")
        lg.read_log(domain)
        os.kill(lg.logd_pid(), signal.SIGKILL)
        h.wait_for_name_gone(lg.BUS_NAME, 20)
        # The read end is gone with logd: a write fails at once instead of waiting.
        with pytest.raises(BrokenPipeError):
            os.write(fd, b"after\n")
    finally:
        os.close(fd)
    # The next call activates a new logd; the file is there and new streams work.
    fd = lg.open_stream(domain, name)
    os.write(fd, b"again\n")
    os.close(fd)
    assert lg.read_all(domain) == b"before\nagain\n"


def adopt(domain: str, name: str, read_end: int, stream: str = "qemu") -> None:
    lg.call("AdoptStream", "sssha{sv}", domain, name, stream, dbus.types.UnixFd(read_end),
            lg.opts())


def test_a_writer_keeping_its_read_end_loses_nothing_across_kill_9():
    """As the shim does for QEMU: the pipe is the writer's, logd gets its read end and the
    writer keeps a copy, so the pipe outlives a logd killed with -9 and the next logd
    goes on from where the first one stopped."""
    domain, name = new_domain()
    read_end, write_end = os.pipe()
    count = 1500
    try:
        adopt(domain, name, read_end)
        adopt(domain, name, read_end)  # the same pipe again: nothing changes
        assert len([s for s in lg.streams() if s[0] == domain]) == 1
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(write_end), str(count)],
                                  pass_fds=(write_end,))
        os.close(write_end)
        time.sleep(0.5)  # the writer is under way
        os.kill(lg.logd_pid(), signal.SIGKILL)
        h.wait_for_name_gone(lg.BUS_NAME, 20)
        time.sleep(0.5)  # the writer goes on into the pipe
        assert writer.poll() is None
        lg.streams()  # someone's call starts logd again
        adopt(domain, name, read_end)
        assert writer.wait(60) == 0
    finally:
        os.close(read_end)
    lines = lg.read_all(domain).decode().splitlines()
    numbers = [int(line.split()[1]) for line in lines]
    # In order, each once; at most what logd was copying when it was killed is missing
    # (one read: 64 KiB, far more than these lines).
    assert numbers == sorted(set(numbers))
    assert numbers[-1] == count - 1
    missing = sorted(set(range(count)) - set(numbers))
    assert not missing or missing == list(range(missing[0], missing[-1] + 1))


def test_a_writers_own_file_is_bounded_by_truncation(logd_config, tmp_path):
    """A serial <log>: the shim opens the definer's file and hands it over with the pipe;
    logd writes into it, never opens its path, and keeps it under max_size."""
    logd_config("max_size = 4096\nrate_limit = 0\n")
    domain, name = new_domain()
    log_path = tmp_path / "serial.log"
    read_end, write_end = os.pipe()
    file_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        lg.call("AdoptStream", "sssha{sv}", domain, name, "serial0",
                dbus.types.UnixFd(read_end),
                dbus.Dictionary({"file": dbus.types.UnixFd(file_fd)}, signature="sv"))
        assert [s[2:4] for s in lg.streams() if s[0] == domain] == [("serial0", "")]
        for i in range(400):
            os.write(write_end, b"console line %04d\n" % i)
        os.close(write_end)
        write_end = -1
        h.wait_until(lambda: not [s for s in lg.streams() if s[0] == domain], 20,
                     what="the stream to end")
        text = log_path.read_text()
        assert len(text) <= 4096
        assert text.startswith("virtswarm-logd: this log reached 4096 bytes and was truncated")
        assert text.endswith("console line 0399\n")
        assert not os.path.exists(str(log_path) + ".1")
        assert dbus_error(lambda: lg.read_log(domain, "serial0")) == \
            "org.virtswarm.Error.NotSupported"
        # A file that is not open for writing is refused.
        ro = os.open(log_path, os.O_RDONLY)
        r2, w2 = os.pipe()
        try:
            assert dbus_error(lambda: lg.call(
                "AdoptStream", "sssha{sv}", domain, name, "serial1", dbus.types.UnixFd(r2),
                dbus.Dictionary({"file": dbus.types.UnixFd(ro)}, signature="sv"))) == INVALID
        finally:
            for fd in (ro, r2, w2):
                os.close(fd)
    finally:
        for fd in (read_end, write_end, file_fd):
            if fd >= 0:
                os.close(fd)


def test_only_a_pipes_read_end_is_adopted(tmp_path):
    domain, name = new_domain()
    read_end, write_end = os.pipe()
    regular = os.open(tmp_path / "file", os.O_RDONLY | os.O_CREAT)
    try:
        for fd in (write_end, regular):
            assert dbus_error(lambda: adopt(domain, name, fd)) == INVALID
        assert dbus_error(lambda: adopt(domain, "../x", read_end)) == INVALID
    finally:
        for fd in (read_end, write_end, regular):
            os.close(fd)
    assert not [s for s in lg.streams() if s[0] == domain]


def test_a_re_executed_image_that_lost_the_name_hands_its_streams_over():
    """A call that activates logd while it re-executes starts a second logd; if that one
    takes the name first, the re-executed image gives it every stream before it exits.
    The test plays the re-executed image: the logd binary started with a handover state
    (the memfd a re-exec leaves) naming a pipe, while another logd owns the name."""
    domain, name = new_domain()
    lg.streams()  # a logd owns the name
    read_end, write_end = os.pipe()
    state = {"logs": [{"uuid": domain, "stream": "qemu", "name": name}],
             "pipes": [{"fd": read_end, "uuid": domain, "stream": "qemu", "copied": 0}]}
    memfd = os.memfd_create("virtswarm-logd-state", 0)
    try:
        os.write(memfd, json.dumps(state).encode())
        os.lseek(memfd, 0, os.SEEK_SET)
        os.write(write_end, b"written before\n")
        loser = subprocess.run(
            [os.path.join(h.env("VS_BUILD_DIR"), "services/logd/virtswarm-logd"), "--system"],
            env={**os.environ, "VIRTSWARM_LOGD_STATE_FD": str(memfd)},
            pass_fds=(read_end, memfd), capture_output=True, text=True, timeout=60)
        assert loser.returncode == 1, loser.stderr
        assert "cannot own org.virtswarm.Log1" in loser.stderr
    finally:
        os.close(read_end)
        os.close(memfd)
    # The pipe is the name owner's now: it copies what was and what is written.
    assert [s[2] for s in lg.streams() if s[0] == domain] == ["qemu"]
    os.write(write_end, b"written after\n")
    os.close(write_end)
    h.wait_until(lambda: not [s for s in lg.streams() if s[0] == domain], 20,
                 what="the stream to end")
    assert lg.read_all(domain) == b"written before\nwritten after\n"


def run_as_user(user: str, code: str) -> str:
    r = h.run_as(user, ["/usr/bin/python3", "-c",
                        "import dbus, logclient as lg\n"
                        "try:\n" + "".join("    " + line + "\n" for line in code.splitlines()) +
                        "except dbus.exceptions.DBusException as e:\n"
                        "    print(e.get_dbus_name())\n"],
                 env={**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"]})
    assert r.returncode == 0, r
    return r.stdout.strip()


def test_polkit_decides_who_may_write_and_read_a_log():
    domain, name = new_domain()
    fd = lg.open_stream(domain, name)
    os.write(fd, b"secret boot line\n")
    os.close(fd)
    other, other_name = new_domain()
    fd = lg.open_stream(other, other_name)
    os.write(fd, b"other line\n")
    os.close(fd)
    user = h.test_user()
    # Writing into the host's logs is for administrators.
    assert run_as_user(user, f"lg.open_stream({domain!r}, {name!r})\nprint('OPENED')") in DENIED
    assert run_as_user(user, "lg.streams()\nprint('LISTED')") in DENIED
    # Reading a domain's log is reading the domain (open by default, as domains are), and
    # a rule about the domain covers its log.
    read = f"print(lg.read_all({domain!r}).decode().strip())"
    assert run_as_user(user, read) == "secret boot line"
    rule = ('polkit.addRule(function(action, subject) {\n'
            f'    if (action.id == "org.virtswarm.domain.read" && subject.user == "{user}" &&\n'
            f'        action.lookup("domain_uuid") == "{domain}" &&\n'
            f'        action.lookup("domain_name") == "{name}")\n'
            '        return polkit.Result.NO;\n'
            '});\n')
    with h.polkit_rule("50-log-read.rules", rule):
        assert run_as_user(user, read) in DENIED
        # The rule names one domain: another's log stays readable.
        assert run_as_user(user, f"print(lg.read_all({other!r}).decode().strip())") == \
            "other line"
    with h.polkit_rule("50-log-list.rules", h.allow_rule_js("org.virtswarm.log.read", user)):
        assert run_as_user(user, "print(len([s for s in lg.streams()]) >= 0)") == "True"


def test_bad_input_is_refused_and_changes_nothing():
    before = set(os.listdir(lg.log_dir())) if os.path.isdir(lg.log_dir()) else set()
    domain, name = new_domain()
    cases = [
        (("not-a-uuid", name, "qemu"), INVALID),
        ((domain, "../escape", "qemu"), INVALID),
        ((domain, "a/b", "qemu"), INVALID),
        ((domain, ".hidden", "qemu"), INVALID),
        ((domain, "x" * 300, "qemu"), INVALID),
        ((domain, name, "Bad!"), INVALID),
        ((domain, name, ""), INVALID),
        ((domain, name, "s" * 33), INVALID),
    ]
    for args, error in cases:
        assert dbus_error(lambda: lg.call("OpenStream", "sssa{sv}", *args, lg.opts())) == error, args
    bad_option = dbus.Dictionary({"colour": dbus.String("blue")}, signature="sv")
    assert dbus_error(lambda: lg.call("OpenStream", "sssa{sv}", domain, name, "qemu",
                                      bad_option)) == INVALID
    assert dbus_error(lambda: lg.read_log(domain)) == NO_SUCH
    assert dbus_error(lambda: lg.read_log("not-a-uuid")) == NO_SUCH
    after = set(os.listdir(lg.log_dir())) if os.path.isdir(lg.log_dir()) else set()
    assert after == before
    # Too many streams of one domain.
    fds = []
    try:
        with pytest.raises(dbus.exceptions.DBusException) as e:
            for _ in range(40):
                fds.append(lg.open_stream(domain, name))
        assert e.value.get_dbus_name() == "org.virtswarm.Error.LimitsExceeded"
        assert len(fds) == 16
    finally:
        for fd in fds:
            os.close(fd)
