"""End to end: the devices virt-install and virt-manager add, run by a real QEMU.

A guest with a guest-agent channel, a spicevmc channel, SPICE graphics, qxl video, audio
and sound, a virtio rng, an emulated TPM (swtpm, run by the shim), a watchdog, a panic
device and SMBIOS strings starts and runs under TCG; the live XML shows the runtime side
(socket path, SPICE port, aliases, agent state), the SPICE port and the agent socket
accept connections, and the TPM's state survives a restart and goes with Undefine.
virsh change-media changes a running guest's cdrom and floppy through the bridge; the
leases follow the media.
"""

import os
import re
import socket
import time
import xml.etree.ElementTree as ET

import dbus
import pytest

import bridgeclient as bc
import lockclient as lc
import logclient as lg
import vsclient as vc
import vsharness as h

UUID_RE = re.compile(r"<uuid>([0-9a-f-]+)</uuid>")

TOOL_DEVICES = """
    <channel type='unix'><source mode='bind'/>
      <target type='virtio' name='org.qemu.guest_agent.0'/></channel>
    <channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/></channel>
    <graphics type='spice' port='-1' tls-port='-1' autoport='yes'>
      <image compression='off'/></graphics>
    <video><model type='qxl' ram='65536' vram='65536' vgamem='16384' heads='1'
      primary='yes'/></video>
    <audio id='1' type='spice'/>
    <sound model='ich9'><audio id='1'/></sound>
    <rng model='virtio'><backend model='random'>/dev/urandom</backend></rng>
    <tpm model='tpm-tis'><backend type='emulator' version='2.0'/></tpm>
    <watchdog model='i6300esb' action='reset'/>
    <panic model='isa'><address type='isa' iobase='0x505'/></panic>
"""

SYSINFO = """
  <sysinfo type='smbios'>
    <system><entry name='manufacturer'>virtswarm tests</entry>
      <entry name='product'>tool devices</entry></system>
  </sysinfo>
"""


def tool_domain_xml(name, agent=False, serial=None, extra=""):
    """The tools' devices; the test guest starts no guest agent unless `agent`."""
    xml = vc.domain_xml(name, extra_devices=TOOL_DEVICES + extra, serial=serial)
    if not agent:
        xml = xml.replace("console=ttyS0", "console=ttyS0 virtswarm.noagent")
    xml = xml.replace("<type arch='x86_64'>hvm</type>",
                      "<type arch='x86_64'>hvm</type><smbios mode='sysinfo'/>")
    return xml.replace("<features>", SYSINFO + "<features>")


def live(path):
    return ET.fromstring(str(vc.domain(path).GetXML(vc.no_options(), timeout=vc.TIMEOUT)))


def qemu_cmdline(path):
    with open(f"/proc/{vc.qemu_pid(path)}/cmdline", "rb") as f:
        return [a.decode() for a in f.read().split(b"\0") if a]


def tpm_state_dir(uuid):
    return os.path.join(h.env("VIRTSWARM_STATE_DIR"), "swtpm", uuid)


def start(path):
    vc.domain(path).Start(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_state(path, "running")


def stop(path):
    vc.domain(path).Destroy(vc.no_options(), timeout=vc.TIMEOUT)
    vc.wait_state(path, "shutoff")


def test_a_guest_with_the_tools_devices_runs_and_shows_them():
    name = vc.unique("tools")
    console = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")
    path = vc.define(tool_domain_xml(name, serial=console))
    start(path)
    dom = live(path)
    devices = dom.find("devices")

    # QEMU runs every device the XML lists (its command line is what the shim built).
    argv = qemu_cmdline(path)
    for expected in ("qxl-vga,id=video0", "ich9-intel-hda,id=sound0", "virtio-rng-pci",
                     "tpm-tis,tpmdev=tpm-tpm0,id=tpm0", "i6300esb,id=watchdog0",
                     "pvpanic,ioport=1285", "virtio-serial-pci,id=virtio-serial0"):
        assert any(a.startswith(expected) for a in argv), (expected, argv)
    assert "type=1,manufacturer=virtswarm tests,product=tool devices" in argv

    # The guest agent's socket: chosen by virtswarm, shown, accepting a client.
    agent, spicevmc = devices.findall("channel")
    assert agent.find("alias").get("name") == "channel0"
    assert agent.find("target").get("state") == "disconnected"  # no agent in this guest
    sock_path = agent.find("source").get("path")
    assert sock_path.startswith(vc.runtime_dir(path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
    assert spicevmc.find("alias").get("name") == "channel1"

    # SPICE: the port the shim allocated is in the live XML and QEMU listens on it.
    graphics = devices.find("graphics")
    port = int(graphics.get("port"))
    assert 5900 <= port <= 65535
    with socket.create_connection(("127.0.0.1", port), timeout=10):
        pass
    assert any(a.startswith(f"port={port},addr=127.0.0.1,disable-ticketing=on") for a in argv)

    # The guest's kernel finds the virtio rng and the TPM.
    vc.wait_file_contains(console, "VIRTSWARM-DEVICES")
    with open(console, errors="replace") as f:
        seen = re.search(r"VIRTSWARM-DEVICES rng=(\S*) tpm=(\S*)", f.read())
    assert seen and seen.group(1).startswith("virtio_rng") and seen.group(2) == "tpm0", seen

    # swtpm runs as a child of the shim, on the domain's state directory.
    uuid = UUID_RE.search(str(vc.domain(path).GetXML(vc.no_options(),
                                                       timeout=vc.TIMEOUT))).group(1)
    assert os.path.isdir(tpm_state_dir(uuid))
    stop(path)


def test_tpm_state_survives_a_restart_and_goes_with_undefine():
    path = vc.define(tool_domain_xml(vc.unique("tpm")))
    uuid = UUID_RE.search(str(vc.domain(path).GetXML(vc.no_options(),
                                                       timeout=vc.TIMEOUT))).group(1)
    state_dir = tpm_state_dir(uuid)
    start(path)
    stop(path)
    # swtpm wrote the TPM's permanent state (its EPS, seeds) on first start.
    vc.wait_file_contains(os.path.join(state_dir, "tpm2-00.permall"), "")
    with open(os.path.join(state_dir, "tpm2-00.permall"), "rb") as f:
        first = f.read()
    assert first
    start(path)
    stop(path)
    with open(os.path.join(state_dir, "tpm2-00.permall"), "rb") as f:
        # The same TPM: the seeds created at first start are still there.
        assert f.read()[:64] == first[:64]
    vc.domain(path).Undefine(vc.no_options(), timeout=vc.TIMEOUT)
    assert not os.path.exists(state_dir)


def test_undefine_can_keep_the_tpm_state():
    path = vc.define(tool_domain_xml(vc.unique("keeptpm")))
    uuid = UUID_RE.search(str(vc.domain(path).GetXML(vc.no_options(),
                                                       timeout=vc.TIMEOUT))).group(1)
    start(path)
    stop(path)
    vc.domain(path).Undefine({"keep-tpm": True}, timeout=vc.TIMEOUT)
    assert os.path.isdir(tpm_state_dir(uuid))


def test_agent_power_modes_need_a_connected_agent():
    path = vc.define(tool_domain_xml(vc.unique("agent")))
    start(path)
    dom = vc.domain(path)
    # This guest runs no agent (virtswarm.noagent): the channel stays disconnected and the
    # agent modes say so
    # (libvirt's VIR_ERR_AGENT_UNRESPONSIVE), without touching the guest.
    for call in (dom.Shutdown, dom.Reboot):
        assert vc.error_name(call, {"mode": "agent"}) == \
            "org.virtswarm.Error.HypervisorGone"
        assert vc.error_name(call, {"mode": "hibernate"}) == \
            "org.virtswarm.Error.NotSupported"
    assert vc.state(path)[0] == "running"
    stop(path)


def cdrom_xml(source):
    return ("<disk type='file' device='cdrom'><driver name='qemu' type='raw'/>"
            f"<source file='{source}'/><target dev='hdc' bus='ide'/><readonly/></disk>")


def media_image(name):
    """A root-only image (0600): QEMU, which runs as virtswarm-qemu, can only get it as the
    descriptor the shim opened."""
    image = os.path.join(h.env("VS_TEST_ROOT"), name)
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    os.chmod(image, 0o600)
    return image


def floppy_xml(source):
    return ("<disk type='file' device='floppy'><driver name='qemu' type='raw'/>"
            f"<source file='{source}'/><target dev='fda' bus='fdc'/></disk>")


def qemu_open_modes(path, image):
    """The access modes (os.O_RDONLY, os.O_RDWR) of QEMU's descriptors on `image`."""
    pid = vc.qemu_pid(path)
    modes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") != image:
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                flags = int(re.search(r"flags:\s*(\d+)", f.read()).group(1), 8)
        except (OSError, AttributeError):
            continue
        modes.add(flags & os.O_ACCMODE)
    return modes


def qemu_holds(path, image):
    return bool(qemu_open_modes(path, image))


def cdrom_source(xml_text):
    disk = ET.fromstring(xml_text).find("devices/disk[@device='cdrom']")
    source = disk.find("source")
    return None if source is None else source.get("file")


def check_change_media(home, uri, name, path, first):
    """virsh change-media on the running guest's cdrom (DOMAIN_UPDATE_DEVICE_FLAGS)."""
    virsh = lambda *args, **kw: bc.virsh(home, uri, *args, **kw)
    dumpxml = lambda *args: virsh("dumpxml", *args, name).stdout
    second = media_image("media-second.raw")
    assert qemu_holds(path, first)

    # Running, no flag: the live guest only (AFFECT_CURRENT).
    virsh("change-media", name, "hdc", second, "--update")
    assert cdrom_source(dumpxml()) == second
    assert cdrom_source(dumpxml("--inactive")) == first
    assert qemu_holds(path, second) and not qemu_holds(path, first)

    virsh("change-media", name, "hdc", "--eject")
    assert cdrom_source(dumpxml()) is None
    assert not qemu_holds(path, second)

    # --live --config: the definition follows (virsh reads the inactive XML, which still
    # has media, so --update rather than --insert).
    virsh("change-media", name, "hdc", second, "--update", "--live", "--config")
    assert cdrom_source(dumpxml()) == second and cdrom_source(dumpxml("--inactive")) == second
    assert qemu_holds(path, second)

    # What libvirt refuses, refused the same way, nothing changed.
    devices = os.path.join(h.env("VS_TEST_ROOT"), f"{name}-update.xml")
    cases = (
        ("<interface type='user'><mac address='52:54:00:12:34:99'/></interface>", [],
         "live update of device 'interface' is not supported"),
        ("<interface type='user'><mac address='52:54:00:12:34:99'/></interface>", ["--config"],
         "persistent update of device 'interface' is not supported"),
        (cdrom_xml(first).replace("hdc", "hdd"), [], "no disk with target 'hdd'"),
        (cdrom_xml(first).replace("bus='ide'", "bus='sata'"), [], "its bus cannot change"),
    )
    for device, flags, message in cases:
        with open(devices, "w") as f:
            f.write(device)
        r = virsh("update-device", name, devices, *flags, check=False)
        assert r.returncode == 1 and message in r.stderr, r.stderr
    assert cdrom_source(dumpxml()) == second and qemu_holds(path, second)


def check_floppy_media(home, uri, name, path, uuid, first):
    """A floppy's media changes as a cdrom's does, read-write, and its lease follows."""
    virsh = lambda *args, **kw: bc.virsh(home, uri, *args, **kw)
    second = media_image("floppy-second.img")
    assert any(a.startswith("floppy,unit=0,drive=drive-fda,id=fda") for a in qemu_cmdline(path))
    assert os.O_RDWR in qemu_open_modes(path, first)
    assert lc.domains_holding(first) == {uuid}

    virsh("change-media", name, "fda", second, "--update")
    floppy = live(path).find("devices/disk[@device='floppy']")
    assert floppy.find("source").get("file") == second
    assert floppy.find("target").get("bus") == "fdc"
    assert os.O_RDWR in qemu_open_modes(path, second) and not qemu_holds(path, first)
    assert lc.domains_holding(second) == {uuid} and not lc.domains_holding(first)

    virsh("change-media", name, "fda", "--eject")
    assert live(path).find("devices/disk[@device='floppy']/source") is None
    assert not qemu_holds(path, second) and not lc.domains_holding(second)


def test_virsh_maps_the_agent_mode_change_media_and_keep_tpm():
    proxyd = bc.Bridge("bridge-tools")
    home = bc.virsh_home(proxyd.root)
    try:
        # domcapabilities tells what runs.
        caps = ET.fromstring(bc.virsh(home, proxyd.rw_uri, "domcapabilities").stdout)
        values = lambda where: {v.text for v in caps.findall(f"devices/{where}/value")}
        assert {"vnc", "spice"} <= values("graphics/enum[@name='type']")
        assert {"qxl", "virtio", "vga"} <= values("video/enum[@name='modelType']")
        assert {"tpm-crb", "tpm-tis"} <= values("tpm/enum[@name='model']")
        assert values("rng/enum[@name='backendModel']") == {"random"}
        assert {"unix", "spicevmc"} <= values("channel/enum[@name='type']")
        assert {"disk", "cdrom", "floppy"} <= values("disk/enum[@name='diskDevice']")
        assert {"fdc", "sata", "scsi"} <= values("disk/enum[@name='bus']")

        name = vc.unique("virsh-tools")
        first = media_image("media-first.raw")
        first_floppy = media_image("floppy-first.img")
        path = vc.define(tool_domain_xml(name).replace(
            "</devices>", cdrom_xml(first) + floppy_xml(first_floppy) + "</devices>"))
        uuid = UUID_RE.search(str(vc.domain(path).GetXML(vc.no_options(),
                                                           timeout=vc.TIMEOUT))).group(1)
        start(path)
        # --mode agent reaches the shim as mode=agent: no agent runs in this guest.
        r = bc.virsh(home, proxyd.rw_uri, "shutdown", name, "--mode", "agent", check=False)
        assert r.returncode != 0 and "guest agent is not connected" in r.stderr, r.stderr
        r = bc.virsh(home, proxyd.rw_uri, "reboot", name, "--mode", "agent", check=False)
        assert r.returncode != 0 and "guest agent is not connected" in r.stderr, r.stderr
        r = bc.virsh(home, proxyd.rw_uri, "domifaddr", name, "--source", "agent", check=False)
        assert r.returncode != 0 and "guest agent is not connected" in r.stderr, r.stderr
        r = bc.virsh(home, proxyd.rw_uri, "domifaddr", name, "--source", "arp", check=False)
        assert r.returncode != 0 and "not supported" in r.stderr, r.stderr
        r = bc.virsh(home, proxyd.rw_uri, "shutdown", name, "--mode", "initctl", check=False)
        assert r.returncode != 0 and "not supported" in r.stderr, r.stderr
        assert vc.state(path)[0] == "running"
        check_change_media(home, proxyd.rw_uri, name, path, first)
        check_floppy_media(home, proxyd.rw_uri, name, path, uuid, first_floppy)
        stop(path)
        bc.virsh(home, proxyd.rw_uri, "undefine", name, "--keep-tpm")
        assert os.path.isdir(tpm_state_dir(uuid))
    finally:
        proxyd.stop()


def test_serial_on_a_unix_socket_with_a_log_file():
    root = h.env("VS_TEST_ROOT")
    name = vc.unique("unixserial")
    sock_path = os.path.join(root, f"{name}.sock")
    log_path = os.path.join(root, f"{name}.log")
    xml = vc.domain_xml(name).replace(
        "<serial type='pty'/>",
        f"<serial type='unix'><source mode='bind' path='{sock_path}'/>"
        f"<log file='{log_path}' append='off'/></serial>")
    path = vc.define(xml)
    start(path)
    # The shim bound the socket (QEMU, unprivileged, holds only the fd) and opened the
    # log; the guest's console reaches both.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock_path)
        s.settimeout(vc.TIMEOUT)
        received = b""
        while b"VIRTSWARM-GUEST-READY" not in received:
            chunk = s.recv(65536)  # the guest waits for us: a console nobody reads stalls
            assert chunk, "the serial socket closed"
            received += chunk
    vc.wait_file_contains(log_path, "VIRTSWARM-GUEST-READY")
    # The <log> goes through logd, into the file the shim opened with the definer's
    # rights: logd lists the stream without a path of its own, and does not read it.
    uuid = str(vc.prop(path, "UUID")).lower()
    streams = {s[2]: s for s in lg.streams() if s[0] == uuid}
    assert streams["serial0"][1:4] == (name, "serial0", "")
    assert streams["serial0"][4] >= len("VIRTSWARM-GUEST-READY")
    with pytest.raises(dbus.exceptions.DBusException) as e:
        lg.read_log(uuid, "serial0")
    assert e.value.get_dbus_name() == "org.virtswarm.Error.NotSupported"
    # QEMU's ends of the pipes (stdout, stderr, the <log>) are non-blocking: a console
    # faster than logd loses output rather than stalling the guest.
    pid_file = os.path.join(h.env("VIRTSWARM_RUNTIME_DIR"), "hypervisor", "domains",
                            path.rsplit("_", 1)[1], "qemu.pid")
    with open(pid_file) as f:
        qemu = int(f.read())
    written_pipes = []
    for fd in os.listdir(f"/proc/{qemu}/fd"):
        if not os.readlink(f"/proc/{qemu}/fd/{fd}").startswith("pipe:"):
            continue
        with open(f"/proc/{qemu}/fdinfo/{fd}") as f:
            flags = int(f.read().split("flags:")[1].split()[0], 8)
        if flags & os.O_ACCMODE == os.O_WRONLY:
            written_pipes.append((fd, flags))
    assert len(written_pipes) >= 3, written_pipes
    assert all(flags & os.O_NONBLOCK for _, flags in written_pipes), written_pipes
    stop(path)


def test_the_guest_agent_answers_through_the_bridge():
    """The real qemu-guest-agent in the test guest: the channel connects, virsh domifaddr
    --source agent lists the guest's DHCP address, virsh domtime reads and sets the guest's
    clock (to a time, and from its RTC), virsh domhostname names it, reboot --mode agent
    reboots it (the
    guest's own reboot: it boots again and stays running) and shutdown --mode agent
    powers it off from inside (shut off, reason shutdown)."""
    name = vc.unique("real-agent")
    console = os.path.join(h.env("VS_TEST_ROOT"), f"{name}.serial")
    nic = "<interface type='user'><mac address='52:54:00:6a:00:01'/><model type='virtio'/></interface>"
    path = vc.define(tool_domain_xml(name, agent=True, serial=console, extra=nic))
    proxyd = bc.Bridge("bridge-agent")
    home = bc.virsh_home(proxyd.root)
    try:
        start(path)
        vc.wait_file_contains(console, "VIRTSWARM-AGENT-STARTED")
        vc.wait_file_contains(console, "VIRTSWARM-GUEST-IP 10.0.2.15")
        h.wait_until(lambda: live(path).find("devices/channel/target").get("state") ==
                     "connected", vc.TIMEOUT, 0.1, "the agent channel to connect")
        out = bc.virsh(home, proxyd.rw_uri, "domifaddr", name, "--source", "agent").stdout
        rows = [line.split() for line in out.splitlines() if "ipv4" in line]
        assert ["eth0", "52:54:00:6a:00:01", "ipv4", "10.0.2.15/24"] in rows, out
        assert any(row[0] == "lo" and row[3] == "127.0.0.1/8" for row in rows), out

        # The guest's clock and host name, through the agent.
        def guest_time():
            out = bc.virsh(home, proxyd.rw_uri, "domtime", name).stdout
            return int(out.split(":", 1)[1])
        assert abs(guest_time() - time.time()) < 300
        bc.virsh(home, proxyd.rw_uri, "domtime", name, "--sync")  # from the guest's RTC
        assert abs(guest_time() - time.time()) < 300
        # A time (qemu-ga also writes it to the guest's RTC), then the host's time again.
        bc.virsh(home, proxyd.rw_uri, "domtime", name, "--time", "2000000000")
        assert 2000000000 <= guest_time() < 2000000000 + 300
        bc.virsh(home, proxyd.rw_uri, "domtime", name, "--now")
        assert abs(guest_time() - time.time()) < 300
        r = bc.virsh(home, proxyd.rw_uri, "domtime", name, "--time", "-5", check=False)
        assert r.returncode != 0, r.stdout
        assert bc.virsh(home, proxyd.rw_uri, "domhostname", name).stdout.strip() == \
            "virtswarm-guest"
        r = bc.virsh(home, proxyd.rw_uri, "domhostname", name, "--source", "lease", check=False)
        assert r.returncode != 0 and "not supported" in r.stderr, r.stderr

        # A shim killed with -9 is replaced; the new one asks QEMU whether the guest side
        # of the channel is open (no event comes for it) and talks to the agent again.
        vc.kill_shim(path)
        h.wait_until(lambda: bc.virsh(home, proxyd.rw_uri, "domhostname", name,
                                      check=False).stdout.strip() == "virtswarm-guest",
                     vc.TIMEOUT, 0.2, "the new shim to reach the agent")

        with open(console, errors="replace") as f:
            boots = f.read().count("Linux version")
        bc.virsh(home, proxyd.rw_uri, "reboot", name, "--mode", "agent")

        def booted_again():
            with open(console, errors="replace") as f:
                return f.read().count("Linux version") > boots
        h.wait_until(booted_again, vc.TIMEOUT, 0.2, "the guest to reboot itself")
        assert vc.state(path)[0] == "running"
        vc.wait_file_contains(console, "VIRTSWARM-AGENT-STARTED")
        h.wait_until(lambda: live(path).find("devices/channel/target").get("state") ==
                     "connected", vc.TIMEOUT, 0.1, "the agent to connect after the reboot")

        bc.virsh(home, proxyd.rw_uri, "shutdown", name, "--mode", "agent")
        vc.wait_state(path, "shutoff")
        assert vc.state(path) == ("shutoff", "shutdown")
    finally:
        if vc.state(path)[0] != "shutoff":
            stop(path)
        proxyd.stop()


def test_interface_addresses_come_from_the_agent():
    path = vc.define(tool_domain_xml(vc.unique("ifaddr")))
    dom = vc.domain(path)
    assert vc.error_name(dom.InterfaceAddresses, vc.no_options()) == \
        "org.virtswarm.Error.InvalidState"  # not running
    start(path)
    # No agent runs in this guest; another source is not one virtswarm has.
    assert vc.error_name(dom.InterfaceAddresses, vc.no_options()) == \
        "org.virtswarm.Error.HypervisorGone"
    assert vc.error_name(dom.InterfaceAddresses, {"source": "lease"}) == \
        "org.virtswarm.Error.NotSupported"
    stop(path)
