"""The domain XML real virt-install (Debian's virtinst 4.1) prints, connected to the
libvirt bridge as a user would: a Linux guest, a Windows guest, a UEFI guest and a guest
with disks on scsi and sata, a cdrom, a floppy and two NICs. Each is defined and started
through the bridge, reaches running under TCG, and QEMU runs the machine, firmware and
controllers the XML asks for.

Run through tests/harness/with-test-bus (ctest -R e2e-test_virt_install_xml).
"""

import os
import subprocess
import xml.etree.ElementTree as ET

import pytest

import bridgeclient as bc
import vsclient as vc
import vsharness as h

pytestmark = pytest.mark.skipif(not h.in_harness(), reason="needs tests/harness/with-test-bus")



@pytest.fixture(scope="module")
def bridge():
    proxyd = bc.Bridge("bridge-virt-install")
    yield {"rw": proxyd.rw_uri, "root": proxyd.root, "home": bc.virsh_home(proxyd.root)}
    proxyd.stop()


@pytest.fixture(scope="module")
def guest():
    kernel, initrd = vc.guest_files()
    return {"kernel": kernel, "initrd": initrd}


def virsh(bridge, *args, check=True):
    return bc.virsh(bridge["home"], bridge["rw"], *args, check=check, timeout=180)


def disk_file(bridge, name, mib=16):
    """A --disk option for a new raw image (mib=0: a 1.44 MB floppy). virt-install resolves
    a plain path through the storage pool API, which the bridge does not serve (it then
    drops the path): source.file sets the XML directly, as virt-install would have."""
    path = os.path.join(bridge["root"], name)
    with open(path, "wb") as f:
        f.truncate(mib << 20 if mib else 1440 << 10)
    os.chmod(path, 0o666)
    return f"type=file,source.file={path},driver.type=raw"


def virt_install(bridge, name, *options):
    """virt-install --print-xml against the bridge: the XML a user would get."""
    r = subprocess.run(
        ["virt-install", "--connect", bridge["rw"], "--print-xml", "--noautoconsole",
         "--name", name, "--virt-type", "qemu", "--memory", "256", "--vcpus", "1",
         *options],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL,
        env=dict(os.environ, HOME=bridge["home"], XDG_CACHE_HOME=bridge["home"],
                 XDG_CONFIG_HOME=bridge["home"]))
    assert r.returncode == 0, r.stderr
    return r.stdout


def define_and_start(bridge, name, xml):
    path = os.path.join(bridge["root"], f"{name}.xml")
    with open(path, "w") as f:
        f.write(xml)
    r = virsh(bridge, "define", path, check=False)
    assert r.returncode == 0, f"{r.stderr}\n{xml}"
    r = virsh(bridge, "start", name, check=False)
    assert r.returncode == 0, f"{r.stderr}\n{xml}"
    h.wait_until(lambda: virsh(bridge, "domstate", name).stdout.strip() == "running", 120, 0.2,
                 what=f"{name} running")
    return domain_path(name)


def domain_path(name):
    for p in vc.list_domains():
        if str(vc.prop(p, "Name")) == name:
            return p
    raise AssertionError(f"no domain {name}")


def qemu_argv(path):
    with open(f"/proc/{vc.qemu_pid(path)}/cmdline") as f:
        return f.read().split("\0")


def devices(argv):
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-device"]


def has_device(argv, prefix):
    return any(d.startswith(prefix) for d in devices(argv))


def test_linux_guest_boots_from_its_kernel(bridge, guest):
    serial = os.path.join(bridge["root"], "linux-serial.log")
    xml = virt_install(
        bridge, "vi-linux", "--os-variant", "debian11", "--import",
        "--disk", disk_file(bridge, "linux.raw"),
        "--network", "user", "--serial", f"file,path={serial}",
        "--boot", f"kernel={guest['kernel']},initrd={guest['initrd']},"
                  "kernel_args=console=ttyS0 panic=-1")
    root = ET.fromstring(xml)
    path = define_and_start(bridge, "vi-linux", xml)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY", 180)
    argv = qemu_argv(path)
    machine = argv[argv.index("-machine") + 1]
    # The definition names the versioned machine type its alias stood for (libvirt's form),
    # and that is what QEMU runs.
    defined = ET.fromstring(str(vc.domain(path).GetXML({"inactive": True})))
    assert machine.split(",")[0] == defined.find("os/type").get("machine")
    assert has_device(argv, "virtio-blk-pci") and has_device(argv, "virtio-net-pci")
    if root.find("devices/memballoon[@model='virtio']") is not None:
        assert has_device(argv, "virtio-balloon-pci")
    # What virt-install adds by default for a Linux guest runs too: the guest agent's
    # channel, SPICE with its USB redirection, video, audio, and a virtio rng.
    assert root.find("devices/channel/target[@name='org.qemu.guest_agent.0']") is not None
    assert root.find("devices/graphics[@type='spice']") is not None
    assert root.find("devices/redirdev") is not None and root.find("devices/rng") is not None
    assert has_device(argv, "virtserialport") and has_device(argv, "usb-redir")
    assert has_device(argv, "virtio-rng-pci") and "-spice" in argv
    # The live XML names what runs: QEMU's ids as aliases.
    live = ET.fromstring(virsh(bridge, "dumpxml", "vi-linux").stdout)
    for controller in live.findall("devices/controller[@model='pcie-root-port']"):
        assert controller.find("alias").get("name") == "pci." + controller.get("index")
    virsh(bridge, "destroy", "vi-linux")
    virsh(bridge, "undefine", "vi-linux")


def test_windows_guest_with_hyperv_and_e1000e(bridge):
    xml = virt_install(
        bridge, "vi-win", "--os-variant", "win10", "--import",
        "--disk", disk_file(bridge, "win.raw"), "--network", "user")
    root = ET.fromstring(xml)
    path = define_and_start(bridge, "vi-win", xml)
    argv = qemu_argv(path)
    # virt-install's enlightenments for Windows, and its Hyper-V clock.
    assert root.find("features/hyperv/relaxed").get("state") == "on"
    cpu = argv[argv.index("-cpu") + 1].split(",")
    assert {"hv-relaxed=on", "hv-vapic=on", "hv-spinlocks=8191", "hv-time=on"} <= set(cpu)
    model = root.find("devices/interface/model").get("type")
    assert has_device(argv, {"virtio": "virtio-net-pci"}.get(model, model))
    clock = root.find("clock")
    assert argv[argv.index("-rtc") + 1].startswith("base=" + clock.get("offset"))
    virsh(bridge, "destroy", "vi-win")
    virsh(bridge, "undefine", "vi-win")


def test_uefi_guest_keeps_its_nvram(bridge):
    xml = virt_install(
        bridge, "vi-uefi", "--os-variant", "debian11", "--import", "--boot", "uefi",
        "--disk", disk_file(bridge, "uefi.raw"), "--network", "none")
    path = define_and_start(bridge, "vi-uefi", xml)
    argv = qemu_argv(path)
    pflash = [argv[i + 1] for i, a in enumerate(argv[:-1])
              if a == "-drive" and argv[i + 1].startswith("if=pflash")]
    assert len(pflash) == 2, argv
    live = ET.fromstring(virsh(bridge, "dumpxml", "vi-uefi").stdout)
    nvram = live.find("os/nvram").text
    assert live.find("os/loader").get("type") == "pflash"
    assert nvram.endswith("/nvram/vi-uefi_VARS.fd") and os.path.exists(nvram)
    # Debian's first choice for q35 is the secure boot build: SMM and a protected flash.
    if live.find("os/loader").get("secure") == "yes":
        assert "smm=on" in argv[argv.index("-machine") + 1].split(",")
        assert "driver=cfi.pflash01,property=secure,value=on" in argv
    # The inactive definition keeps what was given.
    inactive = ET.fromstring(virsh(bridge, "dumpxml", "--inactive", "vi-uefi").stdout)
    assert inactive.find("os/nvram") is None and inactive.find("os").get("firmware") == "efi"

    # The guest's variables survive a restart: same file, not copied again.
    virsh(bridge, "destroy", "vi-uefi")
    with open(nvram, "r+b") as f:
        f.seek(-16, os.SEEK_END)
        f.write(b"VIRTSWARM-KEPT!!")
    inode = os.stat(nvram).st_ino
    virsh(bridge, "start", "vi-uefi")
    assert os.stat(nvram).st_ino == inode
    with open(nvram, "rb") as f:
        f.seek(-16, os.SEEK_END)
        assert f.read() == b"VIRTSWARM-KEPT!!"
    virsh(bridge, "destroy", "vi-uefi")

    # As libvirt: undefine must be told what becomes of the NVRAM file.
    r = virsh(bridge, "undefine", "vi-uefi", check=False)
    assert r.returncode == 1 and "cannot undefine domain with nvram" in r.stderr, r.stderr
    assert os.path.exists(nvram) and "vi-uefi" in virsh(bridge, "list", "--all", "--name").stdout
    virsh(bridge, "undefine", "--nvram", "vi-uefi")
    assert not os.path.exists(nvram)


def test_disks_on_scsi_and_sata_a_cdrom_a_floppy_and_two_nics(bridge):
    xml = virt_install(
        bridge, "vi-disks", "--os-variant", "debian11", "--import",
        "--controller", "type=scsi,model=virtio-scsi",
        "--disk", disk_file(bridge, "s1.raw") + ",target.bus=scsi",
        "--disk", disk_file(bridge, "s2.raw") + ",target.bus=scsi",
        "--disk", disk_file(bridge, "sata.raw") + ",target.bus=sata",
        "--disk", "device=cdrom,target.bus=sata",
        "--disk", disk_file(bridge, "floppy.img", 0) + ",device=floppy",
        "--network", "user,model=e1000e", "--network", "user,model=rtl8139")
    assert "device=\"floppy\"" in xml and "bus=\"fdc\"" in xml, xml
    path = define_and_start(bridge, "vi-disks", xml)
    argv = qemu_argv(path)
    assert has_device(argv, "virtio-scsi-pci,id=scsi0")
    assert sum(d.startswith("scsi-hd,bus=scsi0.0") for d in devices(argv)) == 2
    assert sum(d.startswith("ide-hd") for d in devices(argv)) == 1
    assert sum(d.startswith("ide-cd") for d in devices(argv)) == 1
    # q35 has no floppy controller of its own: an isa-fdc comes with the floppy.
    assert has_device(argv, "isa-fdc,id=fdc0")
    assert has_device(argv, "floppy,unit=0,drive=drive-fda,id=fda")
    assert has_device(argv, "e1000e,") and has_device(argv, "rtl8139,")
    virsh(bridge, "destroy", "vi-disks")
    virsh(bridge, "undefine", "vi-disks")


def test_domain_capabilities_offer_uefi(bridge):
    caps = ET.fromstring(virsh(bridge, "domcapabilities", "--machine", "q35").stdout)
    firmware = [v.text for v in caps.findall("os/enum[@name='firmware']/value")]
    assert "bios" in firmware and "efi" in firmware
    assert caps.find("os/loader").get("supported") == "yes"
    assert caps.find("cpu/mode[@name='host-passthrough']").get("supported") == "yes"


def pci(bus, slot, function=0, multifunction=False):
    mf = " multifunction='on'" if multifunction else ""
    return (f"<address type='pci' domain='0x0000' bus='{bus:#04x}' slot='{slot:#04x}' "
            f"function='{function:#x}'{mf}/>")


def normalised_xml(name, machine, guest, serial, disk):
    """A virt-install guest as libvirtd 9.0 writes it back (dumpxml --inactive): every
    controller numbered, every device at its address."""
    if machine.startswith("pc-q35"):
        ports = "".join(
            f"<controller type='pci' index='{i}' model='pcie-root-port'>"
            f"<model name='pcie-root-port'/><target chassis='{i}' port='{0x0f + i:#x}'/>"
            f"{pci(0, 2, i - 1, i == 1)}</controller>" for i in range(1, 7))
        controllers = (
            "<controller type='pci' index='0' model='pcie-root'/>" + ports +
            f"<controller type='usb' index='0' model='qemu-xhci' ports='15'>{pci(2, 0)}"
            "</controller>"
            f"<controller type='sata' index='0'>{pci(0, 0x1f, 2)}</controller>"
            f"<controller type='virtio-serial' index='0'>{pci(3, 0)}</controller>"
            f"<controller type='scsi' index='0' model='virtio-scsi'>{pci(6, 0)}</controller>")
        at = {"disk": pci(4, 0), "nic": pci(1, 0), "balloon": pci(5, 0)}
        cdrom = "sata"
    else:
        controllers = (
            "<controller type='pci' index='0' model='pci-root'/>"
            f"<controller type='ide' index='0'>{pci(0, 1, 1)}</controller>"
            f"<controller type='usb' index='0' model='ich9-ehci1'>{pci(0, 5, 7)}</controller>"
            "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>"
            f"{pci(0, 5, 0, True)}</controller>"
            "<controller type='usb' index='0' model='ich9-uhci2'><master startport='2'/>"
            f"{pci(0, 5, 1)}</controller>"
            "<controller type='usb' index='0' model='ich9-uhci3'><master startport='4'/>"
            f"{pci(0, 5, 2)}</controller>"
            f"<controller type='virtio-serial' index='0'>{pci(0, 6, 0)}</controller>"
            f"<controller type='pci' index='1' model='pci-bridge'><model name='pci-bridge'/>"
            f"<target chassisNr='1'/>{pci(0, 9, 0)}</controller>")
        at = {"disk": pci(1, 1), "nic": pci(0, 3), "balloon": pci(0, 8)}
        cdrom = "ide"
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <memory unit='KiB'>262144</memory><currentMemory unit='KiB'>262144</currentMemory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='{machine}'>hvm</type>
    <kernel>{guest['kernel']}</kernel><initrd>{guest['initrd']}</initrd>
    <cmdline>console=ttyS0 panic=-1</cmdline><boot dev='hd'/></os>
  <features><acpi/><apic/><vmport state='off'/></features>
  <cpu mode='custom' match='exact' check='none'><model fallback='forbid'>qemu64</model></cpu>
  <clock offset='utc'><timer name='rtc' tickpolicy='catchup'/>
    <timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'><driver name='qemu' type='raw'/>
      <source file='{disk}'/><target dev='vda' bus='virtio'/>{at['disk']}</disk>
    <disk type='file' device='cdrom'><driver name='qemu' type='raw'/>
      <target dev='{'sda' if cdrom == 'sata' else 'hdc'}' bus='{cdrom}'/><readonly/>
      <address type='drive' controller='0' bus='{0 if cdrom == 'sata' else 1}' target='0'
               unit='0'/></disk>
    {controllers}
    <interface type='user'><mac address='52:54:00:6b:3c:58'/><model type='virtio'/>
      {at['nic']}</interface>
    <serial type='file'><source path='{serial}'/>
      <target type='isa-serial' port='0'><model name='isa-serial'/></target></serial>
    <console type='file'><source path='{serial}'/><target type='serial' port='0'/></console>
    <input type='tablet' bus='usb'><address type='usb' bus='0' port='1'/></input>
    <input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>
    <memballoon model='virtio'><stats period='5'/>{at['balloon']}</memballoon>
  </devices>
</domain>
"""


@pytest.mark.parametrize("machine", ["pc-q35-7.2", "pc-i440fx-7.2"])
def test_libvirtd_normalised_form_runs_with_its_addresses(bridge, guest, machine):
    name = "vi-norm-" + machine.split("-")[1]
    serial = os.path.join(bridge["root"], f"{name}-serial.log")
    xml = normalised_xml(name, machine, guest, serial,
                         disk_file(bridge, f"{name}.raw").split("source.file=")[1].split(",")[0])
    path = define_and_start(bridge, name, xml)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY", 180)
    argv = qemu_argv(path)
    q35 = machine.startswith("pc-q35")
    if q35:
        assert has_device(argv, "pcie-root-port,port=16,chassis=1,id=pci.1,bus=pcie.0,"
                                "addr=0x2.0x0,multifunction=on")
        assert has_device(argv, "virtio-blk-pci,bus=pci.4,addr=0x0.0x0")
    else:
        assert has_device(argv, "ich9-usb-uhci1,masterbus=usb.0,firstport=0,bus=pci.0,"
                                "addr=0x5.0x0,multifunction=on")
        assert has_device(argv, "virtio-blk-pci,bus=pci.1,addr=0x1.0x0")
    assert has_device(argv, "virtio-balloon-pci,id=balloon0")
    # <stats period>: GetStats reads the balloon's guest statistics through QOM (this
    # guest has no balloon driver, so only their timestamp is there).
    stats = {str(k): v for k, v in
             vc.domain(path).GetStats(vc.no_options(), timeout=vc.TIMEOUT).items()}
    assert "balloon.last-update" in stats and "balloon.current" in stats
    virsh(bridge, "destroy", name)
    virsh(bridge, "undefine", name)


def test_on_poweroff_restart_brings_the_guest_back(bridge):
    name = "vi-poweroff"
    serial = os.path.join(bridge["root"], f"{name}-serial.log")
    xml = vc.domain_xml(name, serial=serial).replace(
        "<on_poweroff>destroy</on_poweroff>", "<on_poweroff>restart</on_poweroff>")
    define_and_start(bridge, name, xml)
    vc.wait_file_contains(serial, "VIRTSWARM-GUEST-READY", 180)
    pid = vc.qemu_pid(domain_path(name))
    virsh(bridge, "shutdown", name)

    def booted_twice():
        with open(serial, errors="replace") as f:
            return f.read().count("VIRTSWARM-GUEST-READY") >= 2
    h.wait_until(booted_twice, 180, 0.2, what="the guest to boot again")
    # The same QEMU, reset rather than ended, and the domain still running.
    assert vc.qemu_pid(domain_path(name)) == pid
    assert virsh(bridge, "domstate", name).stdout.strip() == "running"
    virsh(bridge, "destroy", name)
    virsh(bridge, "undefine", name)
