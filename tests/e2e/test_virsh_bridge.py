"""Real virsh (Debian libvirt-clients 9.0) and virt-install against virtswarm-proxyd, with
a real TCG guest: the commands people type, their output, lifecycle events, the read-only
socket and polkit deciding for an unprivileged user.

Run through tests/harness/with-test-bus (ctest -R e2e-test_virsh_bridge).
"""

import os
import socket
import subprocess
import uuid as uuidlib
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")

NAME = "vs-e2e"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def guest():
    out = subprocess.run([os.path.join(REPO, "tests/guest/build-guest.sh")], check=True,
                         capture_output=True, text=True, timeout=600).stdout.split()
    return {"kernel": out[0], "initrd": out[1]}


@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-virsh")
    yield {"rw": proxyd.rw_uri, "ro": proxyd.ro_uri, "root": proxyd.root,
           "home": bc.virsh_home(proxyd.root)}
    proxyd.stop()


def virsh(bridge, *args, uri=None, check=True, user=None, timeout=120):
    return bc.virsh(bridge["home"], uri or bridge["rw"], *args, check=check, user=user,
                    timeout=timeout, quiet=args[0] == "list")


def domain_xml(guest, name, console, uid=None, vcpus=1):
    u = f"<uuid>{uid}</uuid>" if uid else ""
    return f"""<domain type='qemu'>
  <name>{name}</name>{u}
  <memory unit='MiB'>128</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type>hvm</type><kernel>{guest['kernel']}</kernel><initrd>{guest['initrd']}</initrd>
      <cmdline>console=ttyS0 panic=-1</cmdline></os>
  <features><acpi/></features>
  <devices><serial type='file'><source path='{console}'/></serial></devices>
</domain>
"""


def write_xml(bridge, name, text):
    path = os.path.join(bridge["root"], f"{name}.xml")
    with open(path, "w") as f:
        f.write(text)
    return path


def state(bridge, name):
    return virsh(bridge, "domstate", name).stdout.strip()


def wait_state(bridge, name, wanted, timeout=60):
    h.wait_until(lambda: state(bridge, name) == wanted, timeout, 0.1,
                 what=f"{name} to be {wanted}")


def console_says(path, text):
    try:
        with open(path, errors="replace") as f:
            return text in f.read()
    except FileNotFoundError:
        return False


def info(bridge, name):
    out = virsh(bridge, "dominfo", name).stdout
    return {k.strip(): v.strip() for k, v in
            (line.split(":", 1) for line in out.splitlines() if ":" in line)}


def list_rows(bridge):
    rows = {}
    for line in virsh(bridge, "list", "--all").stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            rows[parts[1]] = (parts[0], parts[2].strip())
    return rows


class EventWatcher:
    """`virsh event --all --loop` in the background, its output collected in a file.

    No `--timeout`: virsh's timeout is the watcher's whole lifetime, not a wait per event
    (vshEventStart arms one timer), so a slow run of TCG guests outlived it and every
    event after it was lost. The fixture ends the watcher; `--timestamp` shows when each
    event came."""

    def __init__(self, bridge):
        self.path = os.path.join(bridge["root"], "virsh-events.log")
        self.out = open(self.path, "w")
        self.proc = subprocess.Popen(
            ["stdbuf", "-oL", "virsh", "-c", bridge["rw"], "event", "--all", "--loop",
             "--timestamp"], stdout=self.out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL)

    def text(self):
        with open(self.path) as f:
            return f.read()

    def wait_for(self, line, timeout=60):
        def seen():
            # A watcher that exited sees nothing more: say so rather than wait in vain.
            assert self.proc.poll() is None, f"virsh event exited:\n{self.text()}"
            return line in self.text()
        h.wait_until(seen, timeout, 0.05, what=f"event '{line}'")

    def in_order(self, *lines):
        """The lines appear in the output in this order."""
        text, at = self.text(), 0
        for line in lines:
            found = text.find(line, at)
            assert found >= 0, f"{line!r} missing after position {at}:\n{text}"
            at = found + len(line)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.out.close()


@pytest.fixture(scope="module")
def events(bridge):
    w = EventWatcher(bridge)
    yield w
    w.stop()


@pytest.fixture(scope="module")
def domain(bridge, guest):
    console = os.path.join(bridge["root"], f"{NAME}-console.log")
    uid = str(uuidlib.uuid4())
    return {"name": NAME, "uuid": uid, "console": console,
            "file": write_xml(bridge, NAME, domain_xml(guest, NAME, console, uid))}


# ---------------------------------------------------------------- host
def test_version_hostname_nodeinfo_capabilities(bridge):
    out = virsh(bridge, "version").stdout
    qemu = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True, text=True,
                          check=True).stdout.split("version ", 1)[1].split()[0]
    assert "Using API: QEMU" in out and f"Running hypervisor: QEMU {qemu}\n" in out, out
    assert virsh(bridge, "hostname").stdout.strip() == socket.gethostname()
    nodeinfo = virsh(bridge, "nodeinfo").stdout
    assert f"CPU(s):              {os.cpu_count()}" in nodeinfo
    assert "Memory size:" in nodeinfo
    caps = ET.fromstring(virsh(bridge, "capabilities").stdout)
    assert caps.find("host/cpu/arch").text == "x86_64"
    assert caps.find("guest/os_type").text == "hvm"
    domcaps = ET.fromstring(virsh(bridge, "domcapabilities").stdout)
    assert domcaps.find("arch").text == "x86_64"


# ---------------------------------------------------------------- a persistent domain
def ready_count(domain):
    try:
        with open(domain["console"], errors="replace") as f:
            return f.read().count("VIRTSWARM-GUEST-READY")
    except FileNotFoundError:
        return 0


def wait_ready(domain, count):
    h.wait_until(lambda: ready_count(domain) >= count, 90, 0.1,
                 what=f"the guest to be ready (boot #{count})")


def event_line(name, text):
    return f"event 'lifecycle' for domain '{name}': {text}"


# One test, because the team's conftest removes every domain after each test: a whole
# virsh session on one persistent domain, in the order people use the commands.
def test_persistent_domain_lifecycle(bridge, domain, events):
    # define and inspect
    out = virsh(bridge, "define", domain["file"]).stdout
    assert f"Domain '{NAME}' defined" in out
    assert list_rows(bridge)[NAME] == ("-", "shut off")
    i = info(bridge, NAME)
    assert i["Name"] == NAME and i["UUID"] == domain["uuid"]
    assert i["Id"] == "-" and i["State"] == "shut off" and i["OS Type"] == "hvm"
    assert i["CPU(s)"] == "1" and i["Max memory"] == "131072 KiB"
    assert i["Persistent"] == "yes" and i["Autostart"] == "disable"
    assert state(bridge, NAME) == "shut off"
    assert virsh(bridge, "domuuid", NAME).stdout.strip() == domain["uuid"]
    assert virsh(bridge, "domid", NAME).stdout.strip() == "-"
    for extra in ([], ["--inactive"]):
        xml = ET.fromstring(virsh(bridge, "dumpxml", *extra, NAME).stdout)
        assert xml.find("name").text == NAME and xml.find("uuid").text == domain["uuid"]
    counts = virsh(bridge, "vcpucount", NAME).stdout
    assert "maximum      config         1" in counts and "current      config         1" in counts
    assert "live" not in counts
    assert "Target" in virsh(bridge, "domblklist", NAME).stdout
    assert "Interface" in virsh(bridge, "domiflist", NAME).stdout
    # The event watcher has registered meanwhile, or does now: redefining the same domain
    # emits "Defined Updated" until the watcher shows one.
    h.wait_until(lambda: virsh(bridge, "define", domain["file"]) and
                 event_line(NAME, "Defined Updated") in events.text(), 30, 0.2,
                 what="the event watcher")

    # start
    assert f"Domain '{NAME}' started" in virsh(bridge, "start", NAME).stdout
    events.wait_for(event_line(NAME, "Started Booted"))
    assert state(bridge, NAME) == "running"
    dom_id = virsh(bridge, "domid", NAME).stdout.strip()
    assert dom_id.isdigit()
    assert list_rows(bridge)[NAME] == (dom_id, "running")
    assert ET.fromstring(virsh(bridge, "dumpxml", NAME).stdout).get("id") == dom_id
    assert info(bridge, NAME)["Id"] == dom_id
    assert "current      live           1" in virsh(bridge, "vcpucount", NAME).stdout
    assert virsh(bridge, "domstate", "--reason", NAME).stdout.strip() == "running (booted)"
    wait_ready(domain, 1)

    # suspend / resume, stats
    assert f"Domain '{NAME}' suspended" in virsh(bridge, "suspend", NAME).stdout
    assert virsh(bridge, "domstate", "--reason", NAME).stdout.strip() == "paused (user)"
    events.wait_for(event_line(NAME, "Suspended Paused"))
    assert f"Domain '{NAME}' resumed" in virsh(bridge, "resume", NAME).stdout
    assert state(bridge, NAME) == "running"
    events.wait_for(event_line(NAME, "Resumed Unpaused"))
    stats = virsh(bridge, "domstats", NAME).stdout
    assert f"Domain: '{NAME}'" in stats and "state.state=1" in stats, stats
    assert "state.state=1" in virsh(bridge, "domstats", "--state").stdout

    # reset and reboot: the guest boots again in the same QEMU
    assert "was reset" in virsh(bridge, "reset", NAME).stdout
    events.wait_for(f"event 'reboot' for domain '{NAME}'")
    wait_ready(domain, 2)
    assert "is being rebooted" in virsh(bridge, "reboot", NAME).stdout
    wait_ready(domain, 3)
    assert state(bridge, NAME) == "running"

    # shutdown: the guest powers off on ACPI
    assert "is being shutdown" in virsh(bridge, "shutdown", NAME).stdout
    wait_state(bridge, NAME, "shut off")
    assert virsh(bridge, "domstate", "--reason", NAME).stdout.strip() == "shut off (shutdown)"
    events.wait_for(event_line(NAME, "Stopped Shutdown"))
    events.in_order(event_line(NAME, "Shutdown Finished after guest request"),
                    event_line(NAME, "Stopped Shutdown"))

    # destroy
    virsh(bridge, "start", NAME)
    assert "destroyed" in virsh(bridge, "destroy", NAME).stdout
    assert virsh(bridge, "domstate", "--reason", NAME).stdout.strip() == "shut off (destroyed)"
    events.wait_for(event_line(NAME, "Stopped Destroyed"))
    # As libvirt: the start resumes the CPUs first; a destroy is the host's shutdown.
    events.in_order(event_line(NAME, "Stopped Shutdown"), event_line(NAME, "Resumed Unpaused"),
                    event_line(NAME, "Started Booted"),
                    event_line(NAME, "Shutdown Finished after host request"),
                    event_line(NAME, "Stopped Destroyed"))
    r = virsh(bridge, "destroy", NAME, check=False)
    assert r.returncode == 1 and "not running" in r.stderr

    # autostart
    assert "marked as autostarted" in virsh(bridge, "autostart", NAME).stdout
    assert info(bridge, NAME)["Autostart"] == "enable"
    virsh(bridge, "autostart", "--disable", NAME)
    assert info(bridge, NAME)["Autostart"] == "disable"

    # undefine
    assert "has been undefined" in virsh(bridge, "undefine", NAME).stdout
    events.wait_for(event_line(NAME, "Undefined Removed"))
    h.wait_until(lambda: NAME not in list_rows(bridge), 10, 0.1, what="the domain to go")
    r = virsh(bridge, "dominfo", NAME, check=False)
    assert r.returncode == 1 and f"failed to get domain '{NAME}'" in r.stderr


def test_create_transient_with_hotplug(bridge, guest, events):
    name = "vs-e2e-transient"
    console = os.path.join(bridge["root"], f"{name}.log")
    path = write_xml(bridge, name, domain_xml(guest, name, console))
    assert f"Domain '{name}' created" in virsh(bridge, "create", path).stdout
    events.wait_for(event_line(name, "Started Booted"))
    assert list_rows(bridge)[name][1] == "running"
    assert info(bridge, name)["Persistent"] == "no"

    # Hotplug a virtio disk through the bridge (ATTACH/DETACH_DEVICE_FLAGS).
    h.wait_until(lambda: console_says(console, "VIRTSWARM-GUEST-READY"), 90, 0.1,
                 what="the guest to boot")
    image = os.path.join(bridge["root"], "hotplug.img")
    with open(image, "wb") as f:
        f.truncate(1024 * 1024)
    os.chmod(image, 0o666)   # QEMU runs as its own unprivileged user
    disk = write_xml(bridge, "hotplug-disk",
                     f"<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                     f"<source file='{image}'/><target dev='vdb' bus='virtio'/></disk>")
    assert "attached successfully" in virsh(bridge, "attach-device", name, disk).stdout
    assert "vdb" in virsh(bridge, "domblklist", name).stdout
    r = virsh(bridge, "attach-device", name, disk, "--config", check=False)
    assert r.returncode == 1   # a transient domain has no persistent config

    virsh(bridge, "destroy", name)
    h.wait_until(lambda: name not in list_rows(bridge), 10, 0.1,
                 what="the transient domain to disappear")


# ---------------------------------------------------------------- access control
def test_read_only_socket_refuses_define(bridge, guest):
    path = write_xml(bridge, "vs-ro", domain_xml(guest, "vs-ro", "/dev/null"))
    r = virsh(bridge, "define", path, uri=bridge["ro"], check=False)
    assert r.returncode == 1
    assert "operation forbidden: read only access prevents virDomainDefineXML" in r.stderr
    assert "vs-ro" not in list_rows(bridge)
    # Reading works there.
    virsh(bridge, "list", "--all", uri=bridge["ro"])


def test_unprivileged_user_needs_polkit_to_start(bridge, guest):
    name = "vs-e2e-perm"
    path = write_xml(bridge, name, domain_xml(guest, name, os.path.join(bridge["root"],
                                                                        f"{name}.log")))
    virsh(bridge, "define", path)
    user = h.test_user()
    try:
        # Reading is open to everyone; starting needs an administrator by default.
        assert name in virsh(bridge, "list", "--all", user=user).stdout
        r = virsh(bridge, "start", name, user=user, check=False)
        assert r.returncode == 1 and "org.virtswarm.domain.start" in r.stderr, r.stderr
        assert state(bridge, name) == "shut off"
        rule = h.allow_rule_js("org.virtswarm.domain.start", user)
        with h.polkit_rule("50-vs-bridge-start.rules", rule):
            assert f"Domain '{name}' started" in virsh(bridge, "start", name, user=user).stdout
            assert state(bridge, name) == "running"
            # The rule grants start, not stop.
            r = virsh(bridge, "destroy", name, user=user, check=False)
            assert r.returncode == 1 and "org.virtswarm.domain.stop" in r.stderr
    finally:
        virsh(bridge, "destroy", name, check=False)
        virsh(bridge, "undefine", name, check=False)


# ---------------------------------------------------------------- other clients
def test_virt_install_print_xml(bridge, guest):
    r = subprocess.run(
        ["virt-install", "--connect", bridge["rw"], "--import", "--print-xml",
         "--name", "vs-vi", "--memory", "128", "--vcpus", "1", "--disk", "none",
         "--osinfo", "generic", "--virt-type", "qemu", "--network", "none",
         "--graphics", "none", "--noautoconsole",
         "--boot", f"kernel={guest['kernel']},initrd={guest['initrd']},"
                   "kernel_args=console=ttyS0"],
        capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=bridge["home"]))
    assert r.returncode == 0, r.stderr
    xml = ET.fromstring(r.stdout)
    assert xml.get("type") == "qemu" and xml.find("name").text == "vs-vi"
    assert xml.find("os/kernel").text == guest["kernel"]


def test_unsupported_calls_fail_cleanly(bridge):
    r = virsh(bridge, "secret-list", check=False)
    assert r.returncode == 1 and "not supported" in r.stderr
    virsh(bridge, "list", "--all")   # the bridge is still fine


# ---------------------------------------------------------------- the bridge dies
def test_killed_bridge_loses_no_vm(bridge, guest):
    """kill -9 of virtswarm-proxyd: the VM it started runs on, and a new bridge on the same
    sockets shows it as it is, with the same id."""
    proxyd = bc.Bridge("bridge-kill")
    own = dict(bridge, rw=proxyd.rw_uri)
    name = "vs-bridgekill"
    console = os.path.join(bridge["root"], f"{name}-console.log")
    virsh(own, "define", write_xml(own, name, domain_xml(guest, name, console)))
    virsh(own, "start", name)
    before = list_rows(own)[name]
    assert before[1] == "running"
    qemu = subprocess.run(["pgrep", "-f", f"guest={name},"], capture_output=True,
                          text=True).stdout.split()
    assert len(qemu) == 1

    proxyd.kill()
    # Nothing else noticed: the other bridge and the VM carry on.
    assert list_rows(bridge)[name] == before
    assert all(os.path.exists(f"/proc/{p}") for p in qemu)

    proxyd = bc.Bridge("bridge-kill")
    try:
        assert list_rows(own)[name] == before
        virsh(own, "destroy", name)
        assert state(own, name) == "shut off"
        virsh(own, "undefine", name)
    finally:
        proxyd.stop()
