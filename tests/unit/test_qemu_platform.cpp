// SPDX-License-Identifier: LGPL-2.1-or-later
// The machine, CPU, features, clock, pm, firmware, controllers, inputs and balloon of
// virt-install's and libvirtd's domain XML, as QEMU arguments, on pc and q35.
#include "qemu_command.hpp"
#include "virtswarm/firmware.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>

using namespace virtswarm;
using virtswarm::shim::buildQemuArgv;
using virtswarm::shim::QemuLaunch;

namespace {

// These tests look at other devices: unless they give a balloon of their own they say
// none, or the one libvirt adds by default would be in every argv (the default itself is
// test_domain_canonical.cpp's).
std::string withoutDefaultBalloon(const std::string& devices) {
    return devices.find("<memballoon") == std::string::npos ? devices + "<memballoon model='none'/>"
                                                            : devices;
}

std::string domainXml(const std::string& machine, const std::string& devices,
                      const std::string& extra = "", const std::string& os = "") {
    return "<domain type='qemu'><name>vm</name>"
           "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
           "<memory unit='MiB'>256</memory><os" +
           os + "><type arch='x86_64' machine='" + machine + "'>hvm</type></os>" + extra +
           "<devices>" + withoutDefaultBalloon(devices) + "</devices></domain>";
}

Result<DomainXml> parseFor(const std::string& machine, const std::string& devices,
                           const std::string& extra = "", const std::string& os = "") {
    return parseDomainXml(domainXml(machine, devices, extra, os));
}

std::vector<std::string> argvFor(const std::string& machine, const std::string& devices,
                                 const std::string& extra = "") {
    auto r = parseFor(machine, devices, extra);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? buildQemuArgv(r.value().def, QemuLaunch{}) : std::vector<std::string>{};
}

std::vector<std::string> valuesOf(const std::vector<std::string>& argv, const std::string& opt) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == opt) {
            out.push_back(argv[i + 1]);
        }
    }
    return out;
}

std::string valueOf(const std::vector<std::string>& argv, const std::string& opt) {
    auto v = valuesOf(argv, opt);
    return v.empty() ? "<missing>" : v.front();
}

bool hasValue(const std::vector<std::string>& argv, const std::string& opt,
              const std::string& value) {
    auto v = valuesOf(argv, opt);
    return std::find(v.begin(), v.end(), value) != v.end();
}

void expectRefused(const Result<DomainXml>& r, Code code, const std::string& mentions) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), code);
    EXPECT_NE(r.error().message().find(mentions), std::string::npos) << r.error().message();
}

} // namespace

TEST(QemuPlatform, MachineTypesAndFeatures) {
    const std::string features =
        "<features><acpi/><apic/><pae/><vmport state='off'/><smm state='on'/>"
        "<ioapic driver='qemu'/></features>"
        "<clock offset='utc'><timer name='rtc' tickpolicy='catchup'/>"
        "<timer name='pit' tickpolicy='delay'/><timer name='hpet' present='no'/></clock>"
        "<pm><suspend-to-mem enabled='no'/><suspend-to-disk enabled='no'/></pm>";
    auto q35 = argvFor("pc-q35-7.2", "", features);
    EXPECT_EQ(valueOf(q35, "-machine"), "pc-q35-7.2,vmport=off,smm=on,hpet=off");
    EXPECT_EQ(valueOf(q35, "-rtc"), "base=utc,driftfix=slew");
    EXPECT_TRUE(hasValue(q35, "-global", "ICH9-LPC.disable_s3=1"));
    EXPECT_TRUE(hasValue(q35, "-global", "ICH9-LPC.disable_s4=1"));
    auto pc = argvFor("pc-i440fx-7.2", "",
                      "<clock offset='localtime'/><pm><suspend-to-mem enabled='yes'/></pm>");
    EXPECT_EQ(valueOf(pc, "-machine"), "pc-i440fx-7.2,acpi=off");
    EXPECT_EQ(valueOf(pc, "-rtc"), "base=localtime");
    EXPECT_TRUE(hasValue(pc, "-global", "PIIX4_PM.disable_s3=0"));
    EXPECT_EQ(valueOf(argvFor("q35", ""), "-machine"), "q35,acpi=off");

    expectRefused(parseFor("microvm", ""), Code::ConfigUnsupported, "microvm");
    expectRefused(parseFor("pc", "", "<features><gic/></features>"), Code::ConfigUnsupported,
                  "gic");
    expectRefused(parseFor("pc", "", "<clock offset='variable'/>"), Code::ConfigUnsupported,
                  "variable");
    expectRefused(parseFor("pc", "", "<features><vmport state='maybe'/></features>"),
                  Code::InvalidXML, "vmport");
}

TEST(QemuPlatform, CpuModesUnderTcgAndKvm) {
    EXPECT_EQ(valueOf(argvFor("q35", "", "<cpu mode='host-passthrough'/>"), "-cpu"), "max");
    EXPECT_EQ(valueOf(argvFor("pc", "", "<cpu mode='host-model'/>"), "-cpu"), "max");
    EXPECT_EQ(valueOf(argvFor("pc", "", "<cpu mode='maximum'/>"), "-cpu"), "max");
    EXPECT_EQ(valueOf(argvFor("pc", "",
                              "<cpu mode='custom' match='exact'><model>Skylake-Client</model>"
                              "<feature policy='require' name='avx'/>"
                              "<feature policy='disable' name='hle'/></cpu>"),
                      "-cpu"),
              "Skylake-Client,+avx,-hle");
    // No <cpu>: the definition gets libvirt's default model for the machine.
    auto plain = parseFor("pc", "", "");
    ASSERT_TRUE(plain) << plain.error().message();
    EXPECT_NE(plain.value().xml.find("<cpu mode=\"custom\" match=\"exact\" check=\"none\">"),
              std::string::npos)
        << plain.value().xml;
    EXPECT_NE(plain.value().xml.find("<model fallback=\"forbid\">qemu64</model>"),
              std::string::npos);
    EXPECT_EQ(valueOf(argvFor("pc", ""), "-cpu"), "qemu64");
    auto kvm = parseDomainXml("<domain type='kvm'><name>k</name><memory>131072</memory>"
                              "<os><type>hvm</type></os><cpu mode='host-passthrough'/></domain>");
    ASSERT_TRUE(kvm);
    EXPECT_EQ(valueOf(buildQemuArgv(kvm.value().def, QemuLaunch{}), "-cpu"), "host");
    expectRefused(parseFor("pc", "",
                           "<cpu mode='custom'><model>qemu64</model>"
                           "<topology sockets='1' cores='2' threads='1'/></cpu>"),
                  Code::ConfigUnsupported, "cores");
}

TEST(QemuPlatform, HypervEnlightenmentsAsVirtInstallSetsThemForWindows) {
    auto argv = argvFor("q35", "",
                        "<features><acpi/><apic/><hyperv><relaxed state='on'/>"
                        "<vapic state='on'/><spinlocks state='on' retries='8191'/>"
                        "<vpindex state='on'/><synic state='on'/><stimer state='on'/>"
                        "<reset state='off'/></hyperv></features>"
                        "<cpu mode='host-passthrough'/>"
                        "<clock offset='localtime'><timer name='hypervclock' present='yes'/>"
                        "</clock>");
    // No hv-vpindex under TCG: QEMU refuses it without KVM.
    EXPECT_EQ(valueOf(argv, "-cpu"), "max,hv-relaxed=on,hv-vapic=on,hv-spinlocks=8191,"
                                     "hv-synic=on,hv-stimer=on,hv-time=on");
    // Without a <cpu>, the enlightenments go on QEMU's default model.
    EXPECT_EQ(
        valueOf(argvFor("pc", "", "<features><hyperv><relaxed/></hyperv></features>"), "-cpu"),
        "qemu64,hv-relaxed=on");
    expectRefused(parseFor("pc", "", "<features><hyperv><xyz state='on'/></hyperv></features>"),
                  Code::ConfigUnsupported, "xyz");
}

TEST(QemuPlatform, PciTopologyOfLibvirtdsQ35) {
    auto argv = argvFor(
        "pc-q35-7.2",
        "<controller type='pci' index='0' model='pcie-root'/>"
        "<controller type='pci' index='1' model='pcie-root-port'><model name='pcie-root-port'/>"
        "<target chassis='1' port='0x10'/>"
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0' "
        "multifunction='on'/></controller>"
        "<controller type='pci' index='2' model='pcie-root-port'>"
        "<target chassis='2' port='0x11'/>"
        "<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x1'/></controller>"
        "<controller type='pci' index='3' model='pcie-to-pci-bridge'>"
        "<address type='pci' bus='0x02' slot='0x00' function='0x0'/></controller>"
        "<interface type='user'><mac address='52:54:00:00:00:01'/><model type='virtio'/>"
        "<address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>");
    auto devices = valuesOf(argv, "-device");
    ASSERT_GE(devices.size(), 4U);
    EXPECT_EQ(devices[0],
              "pcie-root-port,port=16,chassis=1,id=pci.1,bus=pcie.0,addr=0x2.0x0,multifunction=on");
    EXPECT_EQ(devices[1], "pcie-root-port,port=17,chassis=2,id=pci.2,bus=pcie.0,addr=0x2.0x1");
    EXPECT_EQ(devices[2], "pcie-pci-bridge,id=pci.3,bus=pci.2,addr=0x0.0x0");
    EXPECT_EQ(devices[3], "virtio-net-pci,netdev=hostnet0,id=net0,mac=52:54:00:00:00:01,"
                          "bus=pci.1,addr=0x0.0x0");

    auto pc = argvFor("pc", "<controller type='pci' index='0' model='pci-root'/>"
                            "<controller type='pci' index='1' model='pci-bridge'>"
                            "<model name='pci-bridge'/><target chassisNr='1'/>"
                            "<address type='pci' bus='0x00' slot='0x05' function='0x0'/>"
                            "</controller>");
    EXPECT_EQ(valuesOf(pc, "-device").at(0), "pci-bridge,chassis_nr=1,id=pci.1,bus=pci.0,"
                                             "addr=0x5.0x0");
    expectRefused(parseFor("pc", "<controller type='pci' index='0' model='pcie-root'/>"),
                  Code::InvalidXML, "pcie-root");
    expectRefused(parseFor("pc", "<controller type='pci' index='1' model='pcie-root-port'/>"),
                  Code::ConfigUnsupported, "q35");
    expectRefused(parseFor("q35", "<controller type='fdc' index='1'/>"), Code::ConfigUnsupported,
                  "floppy controller");
}

TEST(QemuPlatform, UsbControllersAndInputs) {
    auto q35 = argvFor("q35", "<controller type='usb' index='0' model='qemu-xhci' ports='15'>"
                              "<address type='pci' bus='0x02' slot='0x00' function='0x0'/>"
                              "</controller>"
                              "<input type='tablet' bus='usb'><address type='usb' bus='0' "
                              "port='1'/></input>"
                              "<input type='mouse' bus='ps2'/><input type='keyboard' bus='ps2'/>"
                              "<input type='keyboard' bus='virtio'/>");
    EXPECT_EQ(valuesOf(q35, "-device"),
              (std::vector<std::string>{"qemu-xhci,p2=15,p3=15,id=usb,bus=pci.2,addr=0x0.0x0",
                                        "usb-tablet,id=input0,bus=usb.0,port=1",
                                        "virtio-keyboard-pci,id=input3"}));

    auto ehci =
        argvFor("pc", "<controller type='usb' index='0' model='ich9-ehci1'>"
                      "<address type='pci' bus='0' slot='0x05' function='0x7'/></controller>"
                      "<controller type='usb' index='0' model='ich9-uhci1'><master startport='0'/>"
                      "<address type='pci' bus='0' slot='0x05' function='0x0' multifunction='on'/>"
                      "</controller>"
                      "<controller type='usb' index='0' model='ich9-uhci2'><master startport='2'/>"
                      "<address type='pci' bus='0' slot='0x05' function='0x1'/></controller>");
    EXPECT_EQ(valuesOf(ehci, "-device"),
              (std::vector<std::string>{
                  "ich9-usb-ehci1,id=usb,bus=pci.0,addr=0x5.0x7",
                  "ich9-usb-uhci1,masterbus=usb.0,firstport=0,bus=pci.0,addr=0x5.0x0,"
                  "multifunction=on",
                  "ich9-usb-uhci2,masterbus=usb.0,firstport=2,bus=pci.0,addr=0x5.0x1"}));

    // No USB controller in the XML: the one libvirt would add for the tablet.
    EXPECT_EQ(valuesOf(argvFor("pc", "<input type='tablet' bus='usb'/>"), "-device"),
              (std::vector<std::string>{"piix3-usb-uhci,id=usb",
                                        "usb-tablet,id=input0,bus=usb.0,port=1"}));
    EXPECT_TRUE(
        valuesOf(argvFor("pc", "<controller type='usb' model='none'/>"), "-device").empty());
    expectRefused(parseFor("pc", "<controller type='usb' model='none'/>"
                                 "<input type='tablet' bus='usb'/>"),
                  Code::InvalidXML, "none");
    expectRefused(parseFor("pc", "<input type='tablet' bus='ps2'/>"), Code::ConfigUnsupported,
                  "tablet");
}

TEST(QemuPlatform, ScsiSataIdeDisksAndCdroms) {
    auto q35 = argvFor(
        "q35",
        "<controller type='scsi' index='0' model='virtio-scsi'>"
        "<address type='pci' bus='0x03' slot='0x00' function='0x0'/></controller>"
        "<controller type='sata' index='0'/>"
        "<disk type='file' device='disk'><source file='/img/a'/><target dev='sda' bus='scsi'/>"
        "<address type='drive' controller='0' bus='0' target='0' unit='0'/></disk>"
        "<disk type='file' device='disk'><source file='/img/b'/><target dev='sdb' bus='scsi'/>"
        "</disk>"
        "<disk type='file' device='cdrom'><target dev='sdc' bus='sata'/></disk>"
        "<disk type='file' device='cdrom'><source file='/iso'/><target dev='sdd' bus='scsi'/>"
        "</disk>");
    EXPECT_EQ(valuesOf(q35, "-device"),
              (std::vector<std::string>{
                  "virtio-scsi-pci,id=scsi0,bus=pci.3,addr=0x0.0x0",
                  "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=0,drive=drive-sda,id=sda",
                  "scsi-hd,bus=scsi0.0,channel=0,scsi-id=0,lun=1,drive=drive-sdb,id=sdb",
                  // q35's built-in AHCI is "ide"; sdc is unit 2.
                  "ide-cd,bus=ide.2,drive=drive-sdc,id=sdc",
                  "scsi-cd,bus=scsi0.0,channel=0,scsi-id=0,lun=3,drive=drive-sdd,id=sdd"}));
    // The empty cdrom: a drive with no file.
    EXPECT_TRUE(hasValue(q35, "-drive", "if=none,id=drive-sdc,media=cdrom,readonly=on"));

    auto pc = argvFor("pc", "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>"
                            "<disk type='file'><source file='/img/a'/><target dev='sda' "
                            "bus='scsi'/></disk>");
    EXPECT_EQ(valuesOf(pc, "-device"),
              (std::vector<std::string>{"lsi53c895a,id=scsi0",
                                        "ide-cd,bus=ide.1,unit=0,"
                                        "drive=drive-hdc,id=hdc",
                                        "scsi-hd,bus=scsi0.0,scsi-id=0,drive=drive-sda,id=sda"}));
    expectRefused(parseFor("q35", "<disk type='file' device='cdrom'><target dev='hdc' "
                                  "bus='ide'/></disk>"),
                  Code::ConfigUnsupported, "ide");
}

TEST(QemuPlatform, Floppies) {
    const std::string floppies =
        "<controller type='fdc' index='0'/>"
        "<disk type='file' device='floppy'><source file='/img/boot.img'/>"
        "<target dev='fda'/></disk>"
        "<disk type='file' device='floppy'><target dev='fdb' bus='fdc'/><readonly/>"
        "<address type='drive' controller='0' bus='0' target='0' unit='1'/></disk>";
    // pc has its own floppy controller; q35 gets an isa-fdc for them (libvirt's layout).
    auto pc = argvFor("pc", floppies);
    EXPECT_EQ(valuesOf(pc, "-device"),
              (std::vector<std::string>{"floppy,unit=0,drive=drive-fda,id=fda",
                                        "floppy,unit=1,drive=drive-fdb,id=fdb"}));
    auto q35 = argvFor("q35", floppies);
    EXPECT_EQ(valuesOf(q35, "-device"),
              (std::vector<std::string>{"isa-fdc,id=fdc0", "floppy,unit=0,drive=drive-fda,id=fda",
                                        "floppy,unit=1,drive=drive-fdb,id=fdb"}));
    // A floppy is writable unless <readonly/>, and may be empty; it is no cdrom.
    EXPECT_TRUE(hasValue(pc, "-drive", "if=none,id=drive-fda,file=/img/boot.img,format=raw"));
    EXPECT_TRUE(hasValue(pc, "-drive", "if=none,id=drive-fdb,readonly=on"));
    std::string bootFromFloppy = domainXml("pc", floppies);
    bootFromFloppy.replace(bootFromFloppy.find("</os>"), 5,
                           "<boot dev='fd'/><boot dev='hd'/></os>");
    auto boot = parseDomainXml(bootFromFloppy);
    ASSERT_TRUE(boot) << boot.error().message();
    EXPECT_TRUE(hasValue(buildQemuArgv(boot.value().def, QemuLaunch{}), "-boot", "order=ac"));

    expectRefused(parseFor("pc", "<disk type='file' device='floppy'><source file='/f'/>"
                                 "<target dev='sda' bus='sata'/></disk>"),
                  Code::ConfigUnsupported, "bus 'fdc'");
    expectRefused(parseFor("pc", "<disk type='file' device='disk'><source file='/f'/>"
                                 "<target dev='fda' bus='fdc'/></disk>"),
                  Code::ConfigUnsupported, "only a floppy");
    expectRefused(parseFor("pc", "<disk type='file' device='floppy'><target dev='fdc'/></disk>"),
                  Code::InvalidXML, "units 0 and 1");
    expectRefused(parseFor("pc", "<disk type='file' device='floppy'><target dev='fda'/></disk>"
                                 "<disk type='file' device='floppy'><target dev='fdb'/>"
                                 "<address type='drive' unit='0'/></disk>"),
                  Code::InvalidXML, "two floppies at unit 0");
}

TEST(QemuPlatform, NicModelsBalloonAndVirtioSerial) {
    auto argv =
        argvFor("q35", "<interface type='user'><mac address='52:54:00:00:00:02'/>"
                       "<model type='e1000e'/></interface>"
                       "<controller type='virtio-serial' index='0'>"
                       "<address type='pci' bus='0x04' slot='0' function='0'/></controller>"
                       "<memballoon model='virtio'><stats period='5'/>"
                       "<address type='pci' bus='0x05' slot='0x00' function='0x0'/></memballoon>");
    auto devices = valuesOf(argv, "-device");
    EXPECT_EQ(devices.at(0), "virtio-serial-pci,id=virtio-serial0,bus=pci.4,addr=0x0.0x0");
    EXPECT_EQ(devices.at(1), "e1000e,netdev=hostnet0,id=net0,mac=52:54:00:00:00:02");
    EXPECT_EQ(devices.at(2), "virtio-balloon-pci,id=balloon0,bus=pci.5,addr=0x0.0x0");
    auto parsed = parseFor("q35", "<memballoon model='virtio'><stats period='5'/></memballoon>");
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed.value().def.memballoon.statsPeriod, 5U);
    EXPECT_TRUE(valuesOf(argvFor("pc", "<memballoon model='none'/>"), "-device").empty());
    expectRefused(parseFor("pc", "<memballoon model='xen'/>"), Code::ConfigUnsupported, "xen");
}

TEST(QemuPlatform, LifecycleActions) {
    auto argv = argvFor("pc", "",
                        "<on_poweroff>destroy</on_poweroff><on_reboot>destroy</on_reboot>"
                        "<on_crash>preserve</on_crash>");
    EXPECT_NE(std::find(argv.begin(), argv.end(), "-no-reboot"), argv.end());
    EXPECT_EQ(valueOf(argv, "-action"), "panic=pause");
    auto normal = argvFor("pc", "", "<on_reboot>restart</on_reboot>");
    EXPECT_EQ(std::find(normal.begin(), normal.end(), "-no-reboot"), normal.end());
    expectRefused(parseFor("pc", "", "<on_poweroff>preserve</on_poweroff>"),
                  Code::ConfigUnsupported, "on_poweroff");
    expectRefused(parseFor("pc", "", "<on_crash>coredump-destroy</on_crash>"),
                  Code::ConfigUnsupported, "coredump-destroy");
}

namespace {

// A descriptor directory like Debian's ovmf package installs, in a temporary place.
struct FirmwareFixture {
    std::filesystem::path dir;
    FirmwareFixture() {
        dir = std::filesystem::temp_directory_path() /
              ("vs-fw-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
        std::filesystem::create_directories(dir / "desc");
        write("desc/50-secure.json",
              descriptor("CODE.secboot.fd", "[\"pc-q35-*\"]", "\"requires-smm\", \"secure-boot\""));
        write("desc/60-plain.json",
              descriptor("CODE.fd", "[\"pc-i440fx-*\", \"pc-q35-*\"]", "\"acpi-s3\""));
        write("desc/70-broken.json", "{ not json");
        write("VARS.fd", std::string(4096, 'v'));
    }
    ~FirmwareFixture() { std::filesystem::remove_all(dir); }
    void write(const std::string& name, const std::string& content) {
        std::ofstream(dir / name) << content;
    }
    std::string descriptor(const std::string& code, const std::string& machines,
                           const std::string& features) {
        return "{\"interface-types\": [\"uefi\"], \"mapping\": {\"device\": \"flash\", "
               "\"executable\": {\"filename\": \"" +
               (dir / code).string() +
               "\", \"format\": \"raw\"}, \"nvram-template\": {\"filename\": \"" +
               (dir / "VARS.fd").string() +
               "\", \"format\": \"raw\"}}, \"targets\": [{\"architecture\": \"x86_64\", "
               "\"machines\": " +
               machines + "}], \"features\": [" + features + "]}";
    }
};

} // namespace

TEST(QemuPlatform, UefiAutoSelectionFromDescriptors) {
    FirmwareFixture fw;
    auto images = firmwareImages({(fw.dir / "desc").string()});
    ASSERT_EQ(images.size(), 2U); // the malformed one is skipped

    // q35: the first by priority is the secure-boot build, which needs SMM.
    auto q35 = parseFor("q35", "", "", " firmware='efi'");
    ASSERT_TRUE(q35);
    DomainDef def = q35.value().def;
    ASSERT_TRUE(resolveFirmware(def, "/nv", images));
    EXPECT_EQ(def.platform.firmware.loader, (fw.dir / "CODE.secboot.fd").string());
    EXPECT_EQ(def.platform.firmware.nvram, "/nv/vm_VARS.fd");
    EXPECT_EQ(def.platform.smm, true);
    auto argv = buildQemuArgv(def, QemuLaunch{});
    EXPECT_EQ(valuesOf(argv, "-drive"),
              (std::vector<std::string>{"if=pflash,format=raw,unit=0,file=" +
                                            (fw.dir / "CODE.secboot.fd").string() + ",readonly=on",
                                        "if=pflash,format=raw,unit=1,file=/nv/vm_VARS.fd"}));
    EXPECT_TRUE(hasValue(argv, "-global", "driver=cfi.pflash01,property=secure,value=on"));
    EXPECT_EQ(valueOf(argv, "-machine"), "q35,acpi=off,smm=on");

    // pc, or secure boot not wanted: the plain build, no SMM.
    for (const auto& [machine, os] :
         {std::pair<std::string, std::string>{"pc", ""},
          {"q35", "<firmware><feature enabled='no' name='secure-boot'/></firmware>"}}) {
        auto r = parseDomainXml(
            "<domain type='qemu'><name>vm</name><memory>131072</memory><os firmware='efi'>"
            "<type machine='" +
            machine + "'>hvm</type>" + os + "</os></domain>");
        ASSERT_TRUE(r) << r.error().message();
        DomainDef d = r.value().def;
        ASSERT_TRUE(resolveFirmware(d, "/nv", images));
        EXPECT_EQ(d.platform.firmware.loader, (fw.dir / "CODE.fd").string()) << machine;
        EXPECT_FALSE(d.platform.smm.has_value());
        EXPECT_FALSE(hasValue(buildQemuArgv(d, QemuLaunch{}), "-global",
                              "driver=cfi.pflash01,property=secure,value=on"));
    }
    // Secure boot wanted on pc: nothing fits.
    auto pcSecure = parseFor("pc", "", "", " firmware='efi'");
    ASSERT_TRUE(pcSecure);
    DomainDef d = pcSecure.value().def;
    d.platform.firmware.secureBoot = true;
    auto none = resolveFirmware(d, "/nv", images);
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().code(), Code::NotSupported);
}

TEST(QemuPlatform, ExplicitLoaderAndNvramKeptAcrossBoots) {
    FirmwareFixture fw;
    auto images = firmwareImages({(fw.dir / "desc").string()});
    std::string code = (fw.dir / "CODE.fd").string();
    std::string nvram = (fw.dir / "nv" / "vm_VARS.fd").string();
    auto r = parseDomainXml("<domain type='qemu'><name>vm</name><memory>131072</memory><os>"
                            "<type machine='q35'>hvm</type><loader readonly='yes' type='pflash'>" +
                            code + "</loader><nvram>" + nvram + "</nvram></os></domain>");
    ASSERT_TRUE(r) << r.error().message();
    DomainXml domain = r.value();
    std::string inactive = domain.xml;
    ASSERT_TRUE(resolveFirmware(domain.def, "/unused", images));
    // The template comes from the descriptor that pairs it with this loader.
    EXPECT_EQ(domain.def.platform.firmware.nvramTemplate, (fw.dir / "VARS.fd").string());
    EXPECT_EQ(domain.def.platform.firmware.nvram, nvram);
    ASSERT_TRUE(ensureNvram(domain.def.platform.firmware));
    ASSERT_TRUE(std::filesystem::exists(nvram));
    fw.write("nv/vm_VARS.fd", "written by the guest");
    ASSERT_TRUE(ensureNvram(domain.def.platform.firmware)); // kept, not copied again
    std::ifstream in(nvram);
    std::string content((std::istreambuf_iterator<char>(in)), {});
    EXPECT_EQ(content, "written by the guest");

    std::string live = withResolvedFirmware(inactive, domain.def.platform.firmware);
    EXPECT_NE(live.find("template=\"" + (fw.dir / "VARS.fd").string() + "\""), std::string::npos)
        << live;
    EXPECT_EQ(inactive.find("template="), std::string::npos);

    expectRefused(parseDomainXml("<domain type='qemu'><name>vm</name><memory>131072</memory>"
                                 "<os><type>hvm</type><nvram>/x</nvram></os></domain>"),
                  Code::InvalidXML, "nvram");
}

TEST(QemuPlatform, ControllersWithoutIndexAreNumberedAsLibvirtDoes) {
    // virt-install's raw q35 XML: a root and root ports, none with an index.
    auto argv = argvFor("q35", "<controller type='pci' model='pcie-root-port'/>"
                               "<controller type='pci' model='pcie-root'/>"
                               "<controller type='pci' model='pcie-root-port'/>"
                               "<controller type='scsi' model='virtio-scsi'/>"
                               "<controller type='scsi' index='0' model='virtio-scsi'/>");
    EXPECT_EQ(valuesOf(argv, "-device"),
              (std::vector<std::string>{"pcie-root-port,port=0,chassis=1,id=pci.1",
                                        "pcie-root-port,port=0,chassis=2,id=pci.2",
                                        "virtio-scsi-pci,id=scsi1", "virtio-scsi-pci,id=scsi0"}));
    // The numbers are written into the definition, so they stay.
    auto r = parseFor("q35", "<controller type='pci' model='pcie-root'/>"
                             "<controller type='pci' model='pcie-root-port'/>");
    ASSERT_TRUE(r);
    EXPECT_NE(r.value().xml.find("model=\"pcie-root-port\" index=\"1\""), std::string::npos)
        << r.value().xml;
}
