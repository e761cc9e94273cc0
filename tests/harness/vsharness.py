"""Helpers for integration tests that run under tests/harness/with-test-bus.

Everything here talks to the private system bus named by
DBUS_SYSTEM_BUS_ADDRESS and to the real polkitd on it. Waiting is always done
by polling a condition with a timeout (wait_until), never by fixed sleeps.

Typical use::

    import vsharness as h

    with h.UserProcess(h.test_user()) as proc:          # a process owned by vstest
        with h.polkit_rule("50-allow.rules", '''
            polkit.addRule(function(action, subject) {
                if (action.id == "org.virtswarm.domain.start" &&
                    subject.user == "vstest")
                    return polkit.Result.YES;
            });'''):                                      # active when this returns
            assert h.check_authorization("org.virtswarm.domain.start",
                                         proc.subject()).is_authorized

Rules take effect when polkitd re-reads its rules directory after an inotify
event (measured: ~1 ms, max a few ms), but NOT necessarily before the next
CheckAuthorization is handled. write_rule/remove_rule therefore call
sync_rules(), which bumps a sentinel rule and polls until polkitd answers
with the new sentinel, so every rule file written before is loaded.
"""

from __future__ import annotations

import atexit
import os
import pwd
import subprocess
import time
import uuid
from contextlib import contextmanager
from typing import Any, Callable, Dict, NamedTuple, Optional

import dbus

POLKIT_NAME = "org.freedesktop.PolicyKit1"
POLKIT_PATH = "/org/freedesktop/PolicyKit1/Authority"
POLKIT_IFACE = "org.freedesktop.PolicyKit1.Authority"

# CheckAuthorization flags
ALLOW_USER_INTERACTION = 0x1

# The sentinel rule used by sync_rules(). It is named 00-... so it runs before
# any test rule (the first rule returning a result wins) and only answers
# for a detail key no real caller sends. The action ships with polkitd.
SYNC_RULE_NAME = "00-vs-harness-sync.rules"
SYNC_ACTION = "org.freedesktop.policykit.exec"
SYNC_DETAIL = "vs_harness_sync"


# --------------------------------------------------------------- generic
def wait_until(pred: Callable[[], Any], timeout: float = 10.0,
               interval: float = 0.01, what: str = "condition") -> Any:
    """Poll pred() until it returns a truthy value; return that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def end_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    """Ends a helper process a test started: SIGTERM, then SIGKILL after `timeout`."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def env(name: str) -> str:
    try:
        return os.environ[name]
    except KeyError:
        raise RuntimeError(f"{name} is not set: run under tests/harness/with-test-bus") from None


def in_harness() -> bool:
    return "VS_TEST_ROOT" in os.environ and "VS_POLKIT_RULES_DIR" in os.environ


def test_user() -> str:
    return os.environ.get("VS_TEST_USER", "vstest")


def test_user2() -> str:
    return os.environ.get("VS_TEST_USER2", "vstest2")


def uid_of(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def as_user_argv(user: str, argv: list[str]) -> list[str]:
    """argv prefix running argv as user (uid, primary gid, its groups)."""
    return ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--", *argv]


def run_as(user: str, argv: list[str], **kw) -> subprocess.CompletedProcess:
    kw.setdefault("stdin", subprocess.DEVNULL)
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 60)
    return subprocess.run(as_user_argv(user, argv), **kw)


# ---------------------------------------------------------------- D-Bus
def system_bus() -> dbus.Bus:
    """The (shared) connection to the private system bus."""
    env("DBUS_SYSTEM_BUS_ADDRESS")
    return dbus.SystemBus()


def bus_daemon(bus: Optional[dbus.Bus] = None) -> dbus.Interface:
    bus = bus or system_bus()
    return dbus.Interface(bus.get_object("org.freedesktop.DBus", "/org/freedesktop/DBus"),
                          "org.freedesktop.DBus")


def name_has_owner(name: str, bus: Optional[dbus.Bus] = None) -> bool:
    return bool(bus_daemon(bus).NameHasOwner(name))


def name_owner(name: str, bus: Optional[dbus.Bus] = None) -> Optional[str]:
    """The unique name owning name, or None. One call, so it cannot race a release between
    "has an owner?" and "which?"."""
    try:
        return str(bus_daemon(bus).GetNameOwner(name))
    except dbus.exceptions.DBusException as e:
        if e.get_dbus_name() == "org.freedesktop.DBus.Error.NameHasNoOwner":
            return None
        raise


def wait_for_name(name: str, timeout: float = 10.0, bus: Optional[dbus.Bus] = None) -> None:
    wait_until(lambda: name_has_owner(name, bus), timeout, what=f"{name} on the bus")


def wait_for_name_gone(name: str, timeout: float = 10.0, bus: Optional[dbus.Bus] = None) -> None:
    wait_until(lambda: not name_has_owner(name, bus), timeout, what=f"{name} to leave the bus")


# ---------------------------------------------------------------- polkit
class AuthResult(NamedTuple):
    is_authorized: bool
    is_challenge: bool
    details: Dict[str, str]


def polkit_authority(bus: Optional[dbus.Bus] = None) -> dbus.Interface:
    bus = bus or system_bus()
    return dbus.Interface(bus.get_object(POLKIT_NAME, POLKIT_PATH), POLKIT_IFACE)


def process_start_time(pid: int) -> int:
    """Field 22 of /proc/<pid>/stat (clock ticks since boot), as polkit wants it."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return int(stat.rsplit(")", 1)[1].split()[19])


def process_uid(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])
    raise RuntimeError(f"no Uid in /proc/{pid}/status")


def unix_process_subject(pid: int, uid: Optional[int] = None):
    """A polkit 'unix-process' subject. Checking a subject of another uid
    requires the caller to be root (or the action's owner)."""
    if uid is None:
        uid = process_uid(pid)
    return ("unix-process", {"pid": dbus.UInt32(pid),
                             "start-time": dbus.UInt64(process_start_time(pid)),
                             "uid": dbus.Int32(uid)})


def system_bus_name_subject(unique_name: str):
    return ("system-bus-name", {"name": dbus.String(unique_name)})


@contextmanager
def services_hidden(*names: str):
    """Inside the with-block the bus cannot activate the services whose names start with
    one of `names`, as on a host where their packages are not installed: a copy of the
    build's D-Bus service directory without their files is bind-mounted over it (in the
    harness's private mount namespace) and the bus re-reads it. A service already running
    keeps running: stop it first."""
    services = os.path.join(env("VS_BUILD_DIR"), "dbus-policy", "services-build")
    copy = os.path.join(env("VS_TEST_ROOT"), "services-without-" + "-".join(names))
    os.makedirs(copy, exist_ok=True)
    for name in os.listdir(services):
        if not name.startswith(names):
            with open(os.path.join(services, name), "rb") as src, \
                    open(os.path.join(copy, name), "wb") as dst:
                dst.write(src.read())
    reload = lambda: system_bus().call_blocking(  # noqa: E731
        "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
        "ReloadConfig", "", [])
    subprocess.run(["mount", "--bind", copy, services], check=True)
    reload()
    try:
        yield
    finally:
        subprocess.run(["umount", services], check=False)
        reload()


def check_authorization(action_id: str, subject, details: Optional[Dict[str, str]] = None,
                        interactive: bool = False, bus: Optional[dbus.Bus] = None) -> AuthResult:
    """Note: polkitd answers 'authorized' for any uid-0 subject without
    running rules, so use a non-root subject (UserProcess) to test rules."""
    flags = ALLOW_USER_INTERACTION if interactive else 0
    r = polkit_authority(bus).CheckAuthorization(
        subject, action_id, dbus.Dictionary(details or {}, signature="ss"),
        dbus.UInt32(flags), "")
    return AuthResult(bool(r[0]), bool(r[1]), {str(k): str(v) for k, v in r[2].items()})


def enumerate_actions(bus: Optional[dbus.Bus] = None) -> Dict[str, Any]:
    """action id -> raw action description tuple."""
    return {str(a[0]): a for a in polkit_authority(bus).EnumerateActions("")}


class UserProcess:
    """A long-lived process (sleep) running as `user`, for unix-process subjects."""

    def __init__(self, user: str):
        self.user = user
        self.uid = uid_of(user)
        self.proc: Optional[subprocess.Popen] = None

    def start(self) -> "UserProcess":
        self.proc = subprocess.Popen(as_user_argv(self.user, ["sleep", "infinity"]),
                                     stdin=subprocess.DEVNULL)
        pid = self.proc.pid

        def switched() -> bool:
            # after setpriv has changed uid and exec'd sleep
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
                return comm == "sleep" and process_uid(pid) == self.uid
            except FileNotFoundError:
                raise RuntimeError(f"process as {self.user} died: rc={self.proc.poll()}")
        wait_until(switched, 10, 0.005, f"a process running as {self.user}")
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def subject(self):
        return unix_process_subject(self.pid, self.uid)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> "UserProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# -------------------------------------------------------------- rules
def rules_dir() -> str:
    return env("VS_POLKIT_RULES_DIR")


def _atomic_write(path: str, text: str) -> None:
    # polkitd reloads on every inotify event; writing in place could let it
    # read a half-written file. A dot-name without .rules is ignored.
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


_sync_process: Optional[UserProcess] = None


def _sync_subject():
    global _sync_process
    if _sync_process is None or _sync_process.proc.poll() is not None:
        _sync_process = UserProcess(test_user2()).start()
        atexit.register(_sync_process.stop)
    return _sync_process.subject()


def sync_rules(timeout: float = 10.0) -> float:
    """Return once polkitd has loaded every rule file written before the
    call. Returns the seconds it took."""
    token = uuid.uuid4().hex
    t0 = time.monotonic()
    _atomic_write(os.path.join(rules_dir(), SYNC_RULE_NAME),
                  "// written by vsharness.sync_rules()\n"
                  "polkit.addRule(function(action, subject) {\n"
                  f'    if (action.id == "{SYNC_ACTION}" &&\n'
                  f'        action.lookup("{SYNC_DETAIL}") == "{token}")\n'
                  "        return polkit.Result.YES;\n"
                  "});\n")
    subject = _sync_subject()
    wait_until(lambda: check_authorization(SYNC_ACTION, subject, {SYNC_DETAIL: token}).is_authorized,
               timeout, 0.002, "polkitd to reload its rules (see $VS_POLKITD_LOG)")
    return time.monotonic() - t0


def write_rule(name: str, text: str, sync: bool = True) -> str:
    """Install rules file `name` (must end in .rules; files load in name order)."""
    if not name.endswith(".rules") or "/" in name:
        raise ValueError("rule file name must be a plain name ending in .rules")
    path = os.path.join(rules_dir(), name)
    _atomic_write(path, text)
    if sync:
        sync_rules()
    return path


def remove_rule(name: str, sync: bool = True) -> None:
    try:
        os.unlink(os.path.join(rules_dir(), name))
    except FileNotFoundError:
        pass
    if sync:
        sync_rules()


@contextmanager
def polkit_rule(name: str, text: str):
    """Rule active inside the with-block (synchronised on entry and exit)."""
    write_rule(name, text)
    try:
        yield os.path.join(rules_dir(), name)
    finally:
        remove_rule(name)


def allow_rule_js(action_id: str, user: str, result: str = "YES") -> str:
    """JS for a rule returning polkit.Result.<result> for action_id and user."""
    return ("polkit.addRule(function(action, subject) {\n"
            f'    if (action.id == "{action_id}" && subject.user == "{user}")\n'
            f"        return polkit.Result.{result};\n"
            "});\n")
