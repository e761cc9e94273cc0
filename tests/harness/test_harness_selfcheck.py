"""Self-check of the integration-test harness.

Run:  tests/harness/with-test-bus --build-dir <BUILD> -- \
          /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/harness/test_harness_selfcheck.py
"""

import glob
import os
import pwd
import stat
import time
import xml.etree.ElementTree as ET

import pytest

import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(),
                                reason="needs tests/harness/with-test-bus")

ACTION = "org.freedesktop.policykit.exec"   # shipped by polkitd itself: always present


@pytest.fixture
def vstest():
    with h.UserProcess(h.test_user()) as p:
        yield p


@pytest.fixture
def vstest2():
    with h.UserProcess(h.test_user2()) as p:
        yield p


@pytest.fixture
def rule_cleanup():
    names = []
    yield names
    for n in names:
        h.remove_rule(n, sync=False)
    h.sync_rules()


# ------------------------------------------------------------------ bus
def test_private_system_bus_address():
    root = h.env("VS_TEST_ROOT")
    sock = os.path.join(root, "bus", "system_bus_socket")
    assert os.environ["DBUS_SYSTEM_BUS_ADDRESS"] == f"unix:path={sock}"
    assert stat.S_ISSOCK(os.stat(sock).st_mode)
    assert not os.environ.get("DBUS_SESSION_BUS_ADDRESS")


def test_bus_daemon_is_ours():
    bus = h.system_bus()
    d = h.bus_daemon(bus)
    # the bus answering is the dbus-daemon the harness started, with our config
    owner_pid = int(d.GetConnectionUnixProcessID("org.freedesktop.DBus"))
    assert owner_pid == int(os.environ["VS_DBUS_DAEMON_PID"])
    with open(f"/proc/{owner_pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")
    conf = os.path.join(os.environ["VS_TEST_ROOT"], "bus", "system.conf")
    assert f"--config-file={conf}".encode() in cmdline
    assert h.process_uid(owner_pid) == 0     # no <user>: the bus (and activation) runs as root


def test_bus_config():
    with open(os.path.join(os.environ["VS_TEST_ROOT"], "bus", "system.conf")) as f:
        conf = f.read()
    for forbidden in ("<user>", "<servicehelper>", "<standard_system_servicedirs",
                      "/run/dbus/system_bus_socket", "<includedir>system.d<"):
        assert forbidden not in conf
    assert "<includedir>/usr/share/dbus-1/system.d</includedir>" in conf
    build = os.environ["VS_BUILD_DIR"]
    if os.path.isdir(f"{build}/dbus-policy/services-build"):
        assert conf.count("<servicedir>") == 1
        assert f"<servicedir>{build}/dbus-policy/services-build</servicedir>" in conf


def test_unprivileged_user_can_use_bus():
    r = h.run_as(h.test_user(), ["dbus-send", "--system", "--print-reply",
                                 "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus",
                                 "org.freedesktop.DBus.GetId"])
    assert r.returncode == 0, r.stderr


# ---------------------------------------------------------- environment
def test_environment_dirs():
    root = os.environ["VS_TEST_ROOT"]
    for var, sub in (("VIRTSWARM_CONFIG_DIR", "etc"), ("VIRTSWARM_RUNTIME_DIR", "run"),
                     ("VIRTSWARM_STATE_DIR", "lib"), ("VIRTSWARM_LOG_DIR", "log")):
        path = os.environ[var]
        assert path == os.path.join(root, sub)
        st = os.stat(path)
        assert stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o755
    build = os.environ["VS_BUILD_DIR"]
    assert os.path.isabs(build)
    assert os.environ["VIRTSWARM_SHIM_PATH"] == f"{build}/shim/virtswarm-shim"


def test_users():
    assert os.environ["VS_TEST_USER"] == "vstest"
    assert os.environ["VS_TEST_USER2"] == "vstest2"
    for u in ("vstest", "vstest2"):
        pw = pwd.getpwnam(u)
        assert pw.pw_uid != 0


# ---------------------------------------------------------------- polkit
def test_polkit_dirs_are_overlaid():
    assert os.path.samefile("/etc/polkit-1/rules.d", os.environ["VS_POLKIT_RULES_DIR"])
    assert os.path.samefile("/usr/share/polkit-1/actions", os.environ["VS_POLKIT_ACTIONS_DIR"])
    assert [f for f in os.listdir("/usr/share/polkit-1/rules.d")] == []


def test_polkitd_is_real_and_ours():
    bus = h.system_bus()
    d = h.bus_daemon(bus)
    assert d.NameHasOwner(h.POLKIT_NAME)
    pid = int(d.GetConnectionUnixProcessID(h.POLKIT_NAME))
    assert pid == int(os.environ["VS_POLKITD_PID"])
    assert os.readlink(f"/proc/{pid}/exe") == "/usr/lib/polkit-1/polkitd"
    assert int(d.GetConnectionUnixUser(h.POLKIT_NAME)) == pwd.getpwnam("polkitd").pw_uid


def _action_ids(policy_file):
    return [a.get("id") for a in ET.parse(policy_file).getroot().iter("action")]


def test_enumerate_actions_includes_host_and_build_actions():
    actions = h.enumerate_actions()
    assert ACTION in actions
    build_policies = glob.glob(os.path.join(os.environ["VS_BUILD_DIR"], "polkit", "*.policy"))
    for pf in build_policies:
        for aid in _action_ids(pf):
            assert aid in actions, f"{aid} from {pf} not known to polkitd"


def test_root_subject_is_always_authorized():
    # polkitd short-circuits uid 0; rules are not consulted for root
    r = h.check_authorization(ACTION, h.unix_process_subject(os.getpid(), 0))
    assert r.is_authorized


def test_default_denies_unprivileged_user(vstest):
    r = h.check_authorization(ACTION, vstest.subject())
    assert not r.is_authorized
    assert r.is_challenge          # auth_admin without an agent


def test_runtime_rule_takes_effect(vstest, vstest2, rule_cleanup):
    name = "50-selfcheck-allow.rules"
    rule_cleanup.append(name)
    path = os.path.join(h.rules_dir(), name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(h.allow_rule_js(ACTION, h.test_user()))
    t0 = time.monotonic()
    os.rename(tmp, path)
    # raw polling, without sync_rules(), to check inotify reload on the bind mount
    h.wait_until(lambda: h.check_authorization(ACTION, vstest.subject()).is_authorized,
                 timeout=10, interval=0.002, what="the new rule to take effect")
    latency = time.monotonic() - t0
    print(f"rule reload latency: {latency * 1000:.1f} ms")
    assert not h.check_authorization(ACTION, vstest2.subject()).is_authorized

    os.unlink(path)
    h.wait_until(lambda: not h.check_authorization(ACTION, vstest.subject()).is_authorized,
                 timeout=10, interval=0.002, what="the removed rule to stop applying")


def test_sync_rules_helpers(vstest, vstest2):
    with h.polkit_rule("50-selfcheck-ctx.rules", h.allow_rule_js(ACTION, h.test_user2())):
        # no polling needed: polkit_rule() synchronised with polkitd
        assert h.check_authorization(ACTION, vstest2.subject()).is_authorized
        assert not h.check_authorization(ACTION, vstest.subject()).is_authorized
    assert not h.check_authorization(ACTION, vstest2.subject()).is_authorized


def test_rule_can_deny_and_see_details(vstest, rule_cleanup):
    name = "40-selfcheck-details.rules"
    rule_cleanup.append(name)
    h.write_rule(name, """
polkit.addRule(function(action, subject) {
    if (action.id == "%s" && subject.user == "%s") {
        polkit.log("selfcheck saw domain_name=" + action.lookup("domain_name"));
        return action.lookup("domain_name") == "allowed" ? polkit.Result.YES
                                                         : polkit.Result.NO;
    }
});
""" % (ACTION, h.test_user()))
    yes = h.check_authorization(ACTION, vstest.subject(), {"domain_name": "allowed"})
    no = h.check_authorization(ACTION, vstest.subject(), {"domain_name": "other"})
    assert yes.is_authorized
    assert not no.is_authorized and not no.is_challenge
    with open(os.environ["VS_POLKITD_LOG"]) as f:
        assert "selfcheck saw domain_name=other" in f.read()


def test_pkcheck_as_unprivileged_caller(rule_cleanup):
    # the subject checks itself over the bus, as a non-root D-Bus client
    argv = ["sh", "-c", f"exec pkcheck --action-id {ACTION} --process $$"]
    r = h.run_as(h.test_user(), argv)
    assert r.returncode != 0                        # denied / challenge
    rule_cleanup.append("50-selfcheck-pkcheck.rules")
    h.write_rule("50-selfcheck-pkcheck.rules", h.allow_rule_js(ACTION, h.test_user()))
    r = h.run_as(h.test_user(), argv)
    assert r.returncode == 0, r.stdout + r.stderr
