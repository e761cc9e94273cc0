"""virtswarm-proxyd for the tests that reach the swarm through the libvirt bridge, and real
virsh pointed at it. Used inside tests/harness/with-test-bus."""

import os
import signal
import socket
import subprocess
import tempfile
import threading
from contextlib import contextmanager

import vsharness as h


def proxyd_binary() -> str:
    return f"{h.env('VS_BUILD_DIR')}/bridge-libvirt/virtswarm-proxyd"


def spawn(argv, name):
    """Runs argv (a proxyd, or something that starts one) with its output in
    VS_TEST_ROOT/proxyd-<name>.log; returns (process, log file)."""
    log = open(os.path.join(h.env("VS_TEST_ROOT"), f"proxyd-{name}.log"), "a")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                            env=dict(os.environ, VIRTSWARM_DEBUG="1"))
    return proc, log


def stop(proc, log):
    """The proxyd must still run, and exit cleanly on SIGTERM."""
    log.flush()
    with open(log.name) as f:
        output = f.read()
    assert proc.poll() is None, f"virtswarm-proxyd died:\n{output}"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
    log.close()


def accepts(path) -> bool:
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


class Bridge:
    """A virtswarm-proxyd on its own pair of sockets under VS_TEST_ROOT/<name>, with extra
    command-line options if given."""

    def __init__(self, name, *options):
        self.root = h.env("VS_TEST_ROOT")
        self.rw = os.path.join(self.root, name, "libvirt-sock")
        self.ro = self.rw + "-ro"
        self.proc, self.log = spawn([proxyd_binary(), "--socket", self.rw,
                                     "--socket-ro", self.ro, *options], name)
        # A previous instance killed with -9 leaves its socket files: wait for one that
        # accepts.
        h.wait_until(lambda: accepts(self.ro) or self.proc.poll() is not None, 20,
                     what="the proxyd sockets")
        assert self.proc.poll() is None, "virtswarm-proxyd exited at start-up"
        self.rw_uri = f"qemu+unix:///system?socket={self.rw}"
        self.ro_uri = f"qemu+unix:///system?socket={self.ro}"

    def output(self) -> str:
        self.log.flush()
        with open(self.log.name) as f:
            return f.read()

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def stop(self):
        stop(self.proc, self.log)


def virsh_home(root) -> str:
    """A home for virsh, also when it runs as a test user (their own is /nonexistent)."""
    home = tempfile.mkdtemp(dir=root)
    os.chmod(home, 0o777)
    return home


def virsh(home, uri, *args, check=True, user=None, timeout=120, quiet=False):
    """Real virsh on uri; as `user` through runuser if given. Asserts success with check."""
    argv = ["virsh", *(["-q"] if quiet else []), "-c", uri, *args]
    env = dict(os.environ, HOME=home, XDG_CACHE_HOME=home, XDG_CONFIG_HOME=home)
    if user:
        r = h.run_as(user, argv, env=env, timeout=timeout)
    else:
        r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    if check:
        assert r.returncode == 0, f"virsh {' '.join(args)}: {r.stdout}{r.stderr}"
    return r


def virsh_on(bridge):
    """virsh on the bridge's read-write socket with a home of its own: the output of a
    command that must succeed, or (check=False) the completed process to look at."""
    home = virsh_home(bridge.root)

    def run(*args, check=True):
        r = virsh(home, bridge.rw_uri, *args, check=check)
        return r.stdout if check else r
    return run


def libvirt_error_code(libvirt, fn, *args):
    """The virErrorNumber of the libvirt error fn(*args) raises; fails if it succeeds."""
    try:
        fn(*args)
    except libvirt.libvirtError as e:
        return e.get_error_code()
    raise AssertionError(f"{fn} succeeded but an error was expected")


@contextmanager
def libvirt_event_loop(libvirt):
    """libvirt's default event loop on a thread, so event callbacks of connections opened
    inside run; stopped at the end."""
    libvirt.virEventRegisterDefaultImpl()
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            libvirt.virEventRunDefaultImpl()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        # Wake the loop so the thread ends.
        libvirt.virEventAddTimeout(0, lambda *_: None, None)
        thread.join(5)
