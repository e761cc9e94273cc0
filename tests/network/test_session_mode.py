"""Session mode for real: an unprivileged user runs the registry, the shim and QEMU
under their own uid on their own session bus, and still gets a TAP on a virtual network
from the system's networkd, after a polkit check."""

import os
import pwd
import subprocess

import pytest

import bridgeclient as bc
import netclient as nc
import sessionbus
import storageclient as sc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(os.environ.get("VS_NETNS") != "1",
                                reason="needs the harness's private network namespace")


@pytest.fixture
def user_session():
    """A session bus run by the test user, activating the registry from the build tree."""
    with sessionbus.user_session() as session:
        yield session


def call(user_session, path, method, *args):
    user, _, env = user_session
    return h.run_as(user, ["/usr/bin/python3", os.path.join(vc.HERE, "dbus_call.py"), path,
                           method, *[repr(a) for a in args]], env=env)


def test_user_vm_gets_a_tap_from_the_system_networkd(user_session):
    user, home, _ = user_session
    uid = pwd.getpwnam(user).pw_uid
    net = nc.define(nc.nat_xml("userlan", 200, hosts=(
        "<host mac='52:54:00:00:03:0a' ip='192.168.200.10' name='mine'/>")))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    serial = os.path.join(home, "state", "mine.serial")
    xml = vc.domain_xml("mine", serial=serial, extra_devices=(
        "<interface type='network'><source network='userlan'/>"
        "<mac address='52:54:00:00:03:0a'/><model type='virtio'/></interface>")).replace(
        "panic=-1", "panic=-1 virtswarm.ping=192.168.200.1")

    r = call(user_session, vc.ROOT, vc.MANAGER + ".DefineXML", xml, {})
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    # Without a polkit rule the user's shim may not have a TAP: the start fails by name.
    r = call(user_session, path, vc.DOMAIN + ".Start", {})
    assert r.returncode != 0
    assert "InteractiveAuthorizationRequired" in r.stderr or "AccessDenied" in r.stderr

    with h.polkit_rule("60-vs-usertap.rules",
                       h.allow_rule_js("org.virtswarm.network.acquire-tap", user)):
        r = call(user_session, path, vc.DOMAIN + ".Start", {})
        assert r.returncode == 0, r.stderr
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-IP 192.168.200.10")
    vc.wait_file_contains(serial, "VIRTSWARM-PING 192.168.200.1 ok")

    # Registry, shim and QEMU all run as the user; the TAP belongs to the user too.
    procs = subprocess.run(["ps", "-o", "uid=,args=", "-u", user], capture_output=True,
                           text=True).stdout
    assert "virtswarm-hypervisord --session" in procs
    assert "virtswarm-shim --session" in procs
    assert "qemu-system-x86_64" in procs
    bridge = str(nc.props(net)["Bridge"])
    taps = [n for n, l in nc.links().items() if l.get("master") == bridge]
    assert len(taps) == 1
    with open(f"/sys/class/net/{taps[0]}/owner") as f:
        assert int(f.read()) == uid
    # The user's definitions live in the user's XDG directories, not in /etc.
    assert os.listdir(os.path.join(home, "config", "virtswarm", "hypervisor"))

    r = call(user_session, path, vc.DOMAIN + ".Destroy", {})
    assert r.returncode == 0, r.stderr
    h.wait_until(lambda: not [n for n, l in nc.links().items() if l.get("master") == bridge],
                 10, 0.05, "the TAP to vanish with QEMU")


def test_user_vm_uses_a_granted_system_volume_it_cannot_read(user_session):
    user, home, _ = user_session
    pool_name = vc.unique("grantpool")
    pool, directory = sc.running_dir_pool(pool_name)
    sc.iface(pool, sc.POOL).CreateVolume(sc.volume_xml("disk", str(16 << 20)), sc.opts(),
                                         timeout=vc.TIMEOUT)
    image = os.path.join(directory, "disk")
    os.chmod(image, 0o600)  # root's alone
    assert h.run_as(user, ["cat", image]).returncode != 0
    serial = os.path.join(home, "state", "vol.serial")
    xml = vc.domain_xml("vol", serial=serial, extra_devices=(
        f"<disk type='volume' device='disk'><source pool='{pool_name}' volume='disk'/>"
        "<target dev='vda' bus='virtio'/></disk>"))
    r = call(user_session, vc.ROOT, vc.MANAGER + ".DefineXML", xml, {})
    assert r.returncode == 0, r.stderr
    path = r.stdout.strip()
    # Without a rule the user's shim is refused the volume: the start fails by name.
    r = call(user_session, path, vc.DOMAIN + ".Start", {})
    assert r.returncode != 0
    assert "InteractiveAuthorizationRequired" in r.stderr or "AccessDenied" in r.stderr, r.stderr

    rule = ("polkit.addRule(function(action, subject) {\n"
            '  if ((action.id == "org.virtswarm.storage-vol.data-write" ||\n'
            '       action.id == "org.virtswarm.storage-vol.data-read") &&\n'
            f'      subject.user == "{user}" && action.lookup("pool_name") == "{pool_name}") {{\n'
            "    return polkit.Result.YES;\n"
            "  }\n"
            "});\n")
    with h.polkit_rule("60-vs-uservol.rules", rule):
        r = call(user_session, path, vc.DOMAIN + ".Start", {})
        assert r.returncode == 0, r.stderr
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY")
    procs = subprocess.run(["ps", "-o", "pid=,args=", "-u", user], capture_output=True,
                           text=True).stdout
    qemu = [line.split()[0] for line in procs.splitlines() if "qemu-system" in line]
    assert len(qemu) == 1
    h.wait_until(lambda: any(os.path.realpath(f"/proc/{qemu[0]}/fd/{fd}") == image
                             for fd in os.listdir(f"/proc/{qemu[0]}/fd")), 30, 0.2,
                 "the user's QEMU to hold the volume")
    r = call(user_session, path, vc.DOMAIN + ".Destroy", {})
    assert r.returncode == 0, r.stderr


def test_session_bridge_is_qemu_session_and_shows_the_system_networks(user_session):
    """virsh -c qemu:///session, as the user, finds the session bridge where libvirt's
    client looks (--libvirt-paths under XDG_RUNTIME_DIR), lists the user's own domains,
    sees the system's networks, as the user's guests do, and manages the user's own
    storage pools (the session storaged's)."""
    user, home, env = user_session
    net = nc.define(nc.nat_xml("seslan", 201))
    nc.network(net).Start(vc.no_options(), timeout=vc.TIMEOUT)
    r = call(user_session, vc.ROOT, vc.MANAGER + ".DefineXML", vc.domain_xml("sesvm"), {})
    assert r.returncode == 0, r.stderr
    socket_path = os.path.join(home, "run", "libvirt", "libvirt-sock")
    proxyd = subprocess.Popen(h.as_user_argv(user, [bc.proxyd_binary(), "--session",
                                                    "--libvirt-paths"]),
                              env=dict(env, VIRTSWARM_DEBUG="1"), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        h.wait_until(lambda: bc.accepts(socket_path) or proxyd.poll() is not None, 20,
                     what="the session bridge's socket")
        assert proxyd.poll() is None, proxyd.stdout.read()

        def virsh(*args):
            r = h.run_as(user, ["virsh", "-q", "-c", "qemu:///session", *args], env=env)
            assert r.returncode == 0, f"virsh {' '.join(args)}: {r.stdout}{r.stderr}"
            return r.stdout
        assert "sesvm" in virsh("list", "--all", "--name").split()
        networks = virsh("net-list", "--all", "--name").split()
        assert "seslan" in networks
        assert "yes" in virsh("net-info", "seslan")
        # The user may look, not change: networkd asks polkit about the user.
        r = h.run_as(user, ["virsh", "-c", "qemu:///session", "net-destroy", "seslan"], env=env)
        assert r.returncode != 0
        assert nc.props(net)["Active"]

        # Storage is the user's own: the session storaged (activated on the user's bus)
        # makes its `default` pool under XDG_DATA_HOME, and volumes are the user's files.
        images = os.path.join(home, "data", "virtswarm", "images")
        assert virsh("pool-list", "--name").split() == ["default"]
        assert f"<path>{images}</path>" in virsh("pool-dumpxml", "default")
        virsh("vol-create-as", "default", "sesdisk.qcow2", "16M", "--format", "qcow2")
        disk = os.path.join(images, "sesdisk.qcow2")
        assert virsh("vol-path", "sesdisk.qcow2", "--pool", "default").strip() == disk
        assert os.stat(disk).st_uid == pwd.getpwnam(user).pw_uid
        assert "qcow2" in virsh("vol-dumpxml", "sesdisk.qcow2", "--pool", "default")
        virsh("vol-delete", "sesdisk.qcow2", "--pool", "default")
        assert not os.path.exists(disk)
    finally:
        proxyd.terminate()
        proxyd.wait(20)


REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def unit_value(path, key):
    """The value of `key=` in an installed unit or desktop file of the source tree."""
    with open(os.path.join(REPO, path)) as f:
        for line in f:
            if line.startswith(key + "="):
                return line.split("=", 1)[1].strip()
    raise AssertionError(f"{path} has no {key}=")


def session_virsh_works(user_session, socket_path, proxyd):
    user, _, env = user_session
    h.wait_until(lambda: os.path.exists(socket_path) or proxyd.poll() is not None, 20,
                 what="the session bridge's socket")
    r = h.run_as(user, ["virsh", "-q", "-c", "qemu:///session", "list", "--all", "--name"],
                 env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert proxyd.poll() is None


@pytest.mark.parametrize("how", ["socket unit", "autostart"])
def test_the_installed_session_starters_give_qemu_session(user_session, how):
    """What the install gives a desktop user, run as its files say: the systemd user
    socket unit (ListenStream under %t, FileDescriptorName, the service's ExecStart) done
    by systemd-socket-activate, as there is no user manager here, which starts the bridge
    on virsh's first connection; and the XDG autostart entry for desktops without one
    (its Exec line). Either way virsh -c qemu:///session, as the user, reaches the
    session bridge where libvirt's client looks."""
    user, home, env = user_session
    proxyd_binary = bc.proxyd_binary()
    runtime = os.path.join(home, "run")
    socket_path = os.path.join(runtime, "libvirt", "libvirt-sock")
    if how == "socket unit":
        socket_unit = "bridge-libvirt/systemd/virtswarm-proxyd-session.socket"
        listen = unit_value(socket_unit, "ListenStream").replace("%t", runtime)
        assert listen == socket_path
        name = unit_value(socket_unit, "FileDescriptorName")
        command = unit_value("bridge-libvirt/systemd/virtswarm-proxyd-session.service.in",
                             "ExecStart").replace("@PROXYD@", proxyd_binary).split()
        r = h.run_as(user, ["mkdir", "-p", "-m", "0700", os.path.dirname(listen)], env=env)
        assert r.returncode == 0, r.stderr
        # A user manager gives its services the session's environment (XDG_RUNTIME_DIR,
        # the buses); systemd-socket-activate passes only what it is told to.
        passed = [f"--setenv={key}" for key in sorted(env)]
        argv = ["systemd-socket-activate", "-l", listen, f"--fdname={name}", *passed,
                *command]
    else:
        desktop = "bridge-libvirt/xdg/virtswarm-proxyd-session.desktop.in"
        assert unit_value(desktop, "X-systemd-skip") == "true"
        argv = unit_value(desktop, "Exec").replace("@PROXYD@", proxyd_binary).split()
    log_path = os.path.join(home, "proxyd.log")
    with open(log_path, "w") as log:
        proxyd = subprocess.Popen(h.as_user_argv(user, argv), env=env, stdout=log,
                                  stderr=subprocess.STDOUT)
    try:
        session_virsh_works(user_session, socket_path, proxyd)
    except AssertionError as e:
        with open(log_path) as f:
            raise AssertionError(f"{e}\nthe bridge said:\n{f.read()}") from None
    finally:
        proxyd.terminate()
        proxyd.wait(20)


def test_session_registry_exits_cleanly_when_its_bus_goes(user_session):
    """A session ends by its bus going away: the user's registry notices, says so and
    exits with 0, instead of dying on the broken connection."""
    user, home, env = user_session
    binary = os.path.join(h.env("VS_BUILD_DIR"), "services/hypervisord/virtswarm-hypervisord")
    log_path = os.path.join(home, "registry.log")
    with open(log_path, "w") as log:
        registry = subprocess.Popen(h.as_user_argv(user, [binary, "--session"]), env=env,
                                    stdout=log, stderr=subprocess.STDOUT)

    def output():
        with open(log_path) as f:
            return f.read()
    try:
        h.wait_until(lambda: "ready on the session bus" in output() or registry.poll() is not None,
                     30, what="the session registry")
        assert registry.poll() is None, output()
        subprocess.run(["pkill", "-KILL", "-u", user, "-x", "dbus-daemon"], check=True)
        assert registry.wait(30) == 0, output()
        assert "D-Bus connection closed" in output()
        assert "terminate called" not in output() and "Sanitizer" not in output()
    finally:
        if registry.poll() is None:
            registry.kill()
            registry.wait(10)
