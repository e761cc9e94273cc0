// SPDX-License-Identifier: LGPL-2.1-or-later
// The devices management tools add: parsing, refusals and QEMU argv, on pc and q35.
#include "qemu_command.hpp"
#include "virtswarm/domain_devices.hpp"

#include <algorithm>
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

std::string domainXml(const std::string& devices, const std::string& machine = "pc",
                      const std::string& extra = "") {
    return "<domain type='qemu'><name>vm</name><uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
           "<memory unit='MiB'>128</memory><os><type machine='" +
           machine + "'>hvm</type>" + (extra.empty() ? "" : "<smbios mode='sysinfo'/>") + "</os>" +
           extra + "<devices>" + withoutDefaultBalloon(devices) + "</devices></domain>";
}

Result<DomainXml> parse(const std::string& devices, const std::string& machine = "pc",
                        const std::string& extra = "") {
    return parseDomainXml(domainXml(devices, machine, extra));
}

std::vector<std::string> argvFor(const std::string& devices, const std::string& machine = "pc",
                                 QemuLaunch launch = {}, const std::string& extra = "") {
    auto r = parse(devices, machine, extra);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? buildQemuArgv(r.value().def, launch) : std::vector<std::string>{};
}

// Every value that follows `option`.
std::vector<std::string> valuesOf(const std::vector<std::string>& argv, const std::string& option) {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < argv.size(); ++i) {
        if (argv[i] == option) {
            out.push_back(argv[i + 1]);
        }
    }
    return out;
}

bool hasValue(const std::vector<std::string>& argv, const std::string& option,
              const std::string& value) {
    auto values = valuesOf(argv, option);
    return std::find(values.begin(), values.end(), value) != values.end();
}

void expectRefused(const std::string& devices, Code code, const std::string& words,
                   const std::string& machine = "pc") {
    auto r = parse(devices, machine);
    ASSERT_FALSE(r) << devices;
    EXPECT_EQ(r.error().code(), code) << r.error().message();
    EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
}

const char* kAgentChannel = "<channel type='unix'><source mode='bind'/>"
                            "<target type='virtio' name='org.qemu.guest_agent.0'/></channel>";
const char* kSpice = "<graphics type='spice' port='-1' tls-port='-1' autoport='yes'>"
                     "<image compression='off'/></graphics>";

} // namespace

TEST(QemuDevices, GuestAgentChannelAddsItsVirtioSerialController) {
    QemuLaunch launch;
    launch.socketFds["charchannel0"] = 7;
    for (const char* machine : {"pc", "q35"}) {
        auto argv = argvFor(kAgentChannel, machine, launch);
        EXPECT_TRUE(hasValue(argv, "-device", "virtio-serial-pci,id=virtio-serial0"));
        EXPECT_TRUE(hasValue(argv, "-chardev", "socket,id=charchannel0,fd=7,server=on,wait=off"));
        EXPECT_TRUE(hasValue(argv, "-device",
                             "virtserialport,bus=virtio-serial0.0,nr=1,chardev=charchannel0,"
                             "id=channel0,name=org.qemu.guest_agent.0"));
    }
}

TEST(QemuDevices, ChannelsKeepLibvirtsPortsAndUseAnExplicitController) {
    auto argv = argvFor(std::string("<controller type='virtio-serial' index='0'/>") +
                        "<channel type='unix'><target type='virtio' name='a.0'/>"
                        "<address type='virtio-serial' controller='0' bus='0' port='1'/></channel>"
                        "<channel type='spicevmc'><target type='virtio' name='com.redhat.spice.0'/>"
                        "</channel>" +
                        kSpice);
    // The explicit controller, once: none is added for the channels.
    auto devices = valuesOf(argv, "-device");
    EXPECT_EQ(std::count_if(devices.begin(), devices.end(),
                            [](const std::string& d) {
                                return d.rfind("virtio-serial-pci,id=virtio-serial0", 0) == 0;
                            }),
              1);
    EXPECT_TRUE(hasValue(argv, "-chardev", "spicevmc,id=charchannel1,name=vdagent"));
    EXPECT_TRUE(hasValue(argv, "-device",
                         "virtserialport,bus=virtio-serial0.0,nr=2,chardev=charchannel1,"
                         "id=channel1,name=com.redhat.spice.0"));
}

TEST(QemuDevices, ChannelRefusals) {
    expectRefused("<channel type='pty'><target type='virtio' name='x'/></channel>",
                  Code::ConfigUnsupported, "channel type 'pty'");
    expectRefused("<channel type='unix'><target type='guestfwd'/></channel>",
                  Code::ConfigUnsupported, "channel target type 'guestfwd'");
    expectRefused("<channel type='spicevmc'><target type='virtio'/></channel>", Code::InvalidXML,
                  "needs <graphics type='spice'>");
}

TEST(QemuDevices, SpiceWithAllocatedPortAndNoPasswordOnTheCommandLine) {
    QemuLaunch launch;
    launch.spicePort = 5931;
    auto argv = argvFor(kSpice, "pc", launch);
    EXPECT_TRUE(hasValue(argv, "-spice",
                         "port=5931,addr=127.0.0.1,disable-ticketing=on,seamless-migration=on,"
                         "image-compression=off"));
    EXPECT_TRUE(valuesOf(argv, "-vnc").empty());
    EXPECT_TRUE(hasValue(argv, "-device", "VGA,id=video0")); // libvirt's default video
    expectRefused("<graphics type='spice' tls-port='5902'/>", Code::ConfigUnsupported, "tls-port");
    expectRefused("<graphics type='spice'><gl enable='yes'/></graphics>", Code::ConfigUnsupported,
                  "<gl>");
}

// With a password, ticketing stays on (QEMU refuses every client until the shim sets the
// password over QMP), and the password itself is nowhere on the command line.
TEST(QemuDevices, SpicePasswordKeepsTicketingOnAndOffTheCommandLine) {
    QemuLaunch launch;
    launch.spicePort = 5932;
    auto argv = argvFor("<graphics type='spice' autoport='yes' passwd='s3cr3t' "
                        "passwdValidTo='2040-01-01T00:00:00'/>",
                        "pc", launch);
    EXPECT_TRUE(hasValue(argv, "-spice", "port=5932,addr=127.0.0.1,seamless-migration=on"));
    for (const auto& arg : argv) {
        EXPECT_EQ(arg.find("s3cr3t"), std::string::npos) << arg;
    }
}

TEST(QemuDevices, SpiceListenElementAndVncBeside) {
    auto argv = argvFor("<graphics type='vnc' autoport='yes'/>"
                        "<graphics type='spice' port='5999' autoport='no'>"
                        "<listen type='address' address='0.0.0.0'/></graphics>");
    EXPECT_TRUE(hasValue(argv, "-spice",
                         "port=5999,addr=0.0.0.0,disable-ticketing=on,seamless-migration=on"));
    EXPECT_TRUE(hasValue(argv, "-vnc", "127.0.0.1:0,to=99"));
}

TEST(QemuDevices, VideoModels) {
    auto qxl = argvFor("<video><model type='qxl' ram='65536' vram='65536' vgamem='16384' "
                       "heads='1' primary='yes'/><address type='pci' domain='0x0000' "
                       "bus='0x00' slot='0x02' function='0x0'/></video>");
    EXPECT_TRUE(hasValue(qxl, "-device",
                         "qxl-vga,id=video0,ram_size=67108864,vram_size=67108864,vgamem_mb=16,"
                         "max_outputs=1,bus=pci.0,addr=0x2.0x0"));
    auto virtio = argvFor("<video><model type='virtio' heads='1' primary='yes'/></video>", "q35");
    EXPECT_TRUE(hasValue(virtio, "-device", "virtio-vga,id=video0,max_outputs=1"));
    EXPECT_TRUE(hasValue(argvFor("<video><model type='vga' vram='16384'/></video>"), "-device",
                         "VGA,id=video0,vgamem_mb=16"));
    EXPECT_TRUE(hasValue(argvFor("<video><model type='bochs'/></video>"), "-device",
                         "bochs-display,id=video0"));
    EXPECT_TRUE(
        hasValue(argvFor("<video><model type='ramfb'/></video>"), "-device", "ramfb,id=video0"));
    // Secondary first in the XML, the primary one still becomes QEMU's first.
    auto two = argvFor("<video><model type='qxl'/></video><video><model type='virtio' "
                       "primary='yes'/></video>");
    EXPECT_EQ(valuesOf(two, "-device"),
              (std::vector<std::string>{"virtio-vga,id=video0,max_outputs=1",
                                        "qxl,id=video1,max_outputs=1"}));
    // none: no display device even with graphics.
    auto none = argvFor("<graphics type='vnc'/><video><model type='none'/></video>");
    EXPECT_TRUE(valuesOf(none, "-device").empty());
    expectRefused("<video><model type='cirrus'/></video>", Code::ConfigUnsupported,
                  "video model 'cirrus'");
    expectRefused("<video><model type='virtio'><acceleration accel3d='yes'/></model></video>",
                  Code::ConfigUnsupported, "accel3d");
    expectRefused("<video><model type='virtio'/></video><video><model type='vga'/></video>",
                  Code::ConfigUnsupported, "secondary");
}

TEST(QemuDevices, AudioAndSound) {
    auto argv = argvFor(std::string(kSpice) + "<audio id='1' type='spice'/>"
                                              "<sound model='ich9'><audio id='1'/></sound>",
                        "q35");
    EXPECT_TRUE(hasValue(argv, "-audiodev", "spice,id=audio1"));
    EXPECT_TRUE(hasValue(argv, "-device", "ich9-intel-hda,id=sound0"));
    EXPECT_TRUE(hasValue(argv, "-device",
                         "hda-duplex,id=sound0-codec0,bus=sound0.0,cad=0,"
                         "audiodev=audio1"));
    auto ich6 = argvFor("<sound model='ich6'/>");
    EXPECT_TRUE(hasValue(ich6, "-audiodev", "none,id=audio1")); // implicit, as libvirt
    EXPECT_TRUE(hasValue(ich6, "-device", "intel-hda,id=sound0"));
    auto ac97 = argvFor("<audio id='2' type='none'/><sound model='ac97'/>");
    EXPECT_TRUE(hasValue(ac97, "-device", "AC97,id=sound0,audiodev=audio2"));
    expectRefused("<audio id='1' type='pulseaudio'/>", Code::ConfigUnsupported, "audio type");
    expectRefused("<audio id='1' type='spice'/>", Code::InvalidXML, "needs <graphics");
    expectRefused("<sound model='sb16'/>", Code::ConfigUnsupported, "sound model 'sb16'");
    expectRefused("<audio id='1' type='none'/><sound model='ich9'><audio id='3'/></sound>",
                  Code::InvalidXML, "audio id='3'");
}

TEST(QemuDevices, Rng) {
    auto argv = argvFor("<rng model='virtio'><rate bytes='1024' period='2000'/>"
                        "<backend model='random'>/dev/random</backend></rng>");
    EXPECT_TRUE(hasValue(argv, "-object", "rng-random,id=objrng0,filename=/dev/random"));
    EXPECT_TRUE(
        hasValue(argv, "-device", "virtio-rng-pci,rng=objrng0,id=rng0,max-bytes=1024,period=2000"));
    expectRefused("<rng model='virtio'><backend model='egd' type='tcp'/></rng>",
                  Code::ConfigUnsupported, "rng backend model 'egd'");
    expectRefused("<rng model='virtio'><backend model='random'>/etc/shadow</backend></rng>",
                  Code::ConfigUnsupported, "/etc/shadow");
}

TEST(QemuDevices, TpmEmulator) {
    QemuLaunch launch;
    launch.tpmFd = 9;
    auto argv = argvFor("<tpm model='tpm-crb'><backend type='emulator' version='2.0'/></tpm>",
                        "q35", launch);
    EXPECT_TRUE(hasValue(argv, "-chardev", "socket,id=chrtpm,fd=9"));
    EXPECT_TRUE(hasValue(argv, "-tpmdev", "emulator,id=tpm-tpm0,chardev=chrtpm"));
    EXPECT_TRUE(hasValue(argv, "-device", "tpm-crb,tpmdev=tpm-tpm0,id=tpm0"));
    auto tis = argvFor("<tpm model='tpm-tis'><backend type='emulator'/></tpm>", "pc", launch);
    EXPECT_TRUE(hasValue(tis, "-device", "tpm-tis,tpmdev=tpm-tpm0,id=tpm0"));
    expectRefused("<tpm model='tpm-tis'><backend type='passthrough'/></tpm>",
                  Code::ConfigUnsupported, "tpm backend type 'passthrough'");
    expectRefused("<tpm model='tpm-tis'><backend type='emulator' version='1.2'/></tpm>",
                  Code::ConfigUnsupported, "version '1.2'");
    expectRefused("<tpm model='tpm-spapr'><backend type='emulator'/></tpm>",
                  Code::ConfigUnsupported, "tpm model 'tpm-spapr'");
}

TEST(QemuDevices, WatchdogAndPanic) {
    auto argv = argvFor("<watchdog model='i6300esb' action='poweroff'/><panic model='isa'>"
                        "<address type='isa' iobase='0x506'/></panic>");
    EXPECT_TRUE(hasValue(argv, "-device", "i6300esb,id=watchdog0"));
    EXPECT_TRUE(hasValue(argv, "-action", "watchdog=poweroff"));
    EXPECT_TRUE(hasValue(argv, "-device", "pvpanic,ioport=1286"));
    auto itco = argvFor("<watchdog model='itco' action='reset'/><panic model='pvpanic'/>", "q35");
    EXPECT_TRUE(hasValue(itco, "-global", "ICH9-LPC.noreboot=off"));
    EXPECT_TRUE(hasValue(itco, "-action", "watchdog=reset"));
    EXPECT_TRUE(hasValue(itco, "-device", "pvpanic-pci"));
    expectRefused("<watchdog model='itco'/>", Code::ConfigUnsupported, "needs the q35");
    expectRefused("<watchdog model='i6300esb' action='dump'/>", Code::ConfigUnsupported,
                  "watchdog action 'dump'");
    expectRefused("<watchdog model='ib700'/>", Code::ConfigUnsupported, "watchdog model 'ib700'");
    expectRefused("<panic model='hyperv'/>", Code::ConfigUnsupported, "panic model 'hyperv'");
}

TEST(QemuDevices, SysinfoAppliedOnlyWithSmbiosModeSysinfo) {
    std::string sysinfo = "<sysinfo type='smbios'><bios><entry name='vendor'>Acme, Inc.</entry>"
                          "</bios><system><entry name='manufacturer'>Acme</entry>"
                          "<entry name='product'>Box</entry></system>"
                          "<oemStrings><entry>a</entry><entry>b</entry></oemStrings></sysinfo>";
    auto argv = argvFor("", "pc", {}, sysinfo);
    EXPECT_EQ(valuesOf(argv, "-smbios"),
              (std::vector<std::string>{"type=0,vendor=Acme,, Inc.",
                                        "type=1,manufacturer=Acme,product=Box",
                                        "type=11,value=a,value=b"}));
    auto bad = parseDomainXml(domainXml("", "pc",
                                        "<sysinfo type='smbios'><bios><entry "
                                        "name='colour'>x</entry></bios></sysinfo>"));
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message().find("colour"), std::string::npos);
    auto host = parseDomainXml(
        "<domain type='qemu'><name>vm</name><memory>131072</memory><os><type>hvm</type>"
        "<smbios mode='host'/></os></domain>");
    ASSERT_FALSE(host);
    EXPECT_EQ(host.error().code(), Code::ConfigUnsupported);
}

TEST(QemuDevices, SerialUnixSocketAndLogFile) {
    QemuLaunch launch;
    launch.socketFds["serial0"] = 11;
    launch.pathToFdset["/var/log/s.log"] = 4;
    auto argv = argvFor("<serial type='unix'><source mode='bind' path='/run/s.sock'/>"
                        "<log file='/var/log/s.log' append='on'/></serial>"
                        "<serial type='unix'><source mode='connect' path='/run/peer.sock'/>"
                        "</serial>",
                        "pc", launch);
    EXPECT_TRUE(hasValue(argv, "-chardev",
                         "socket,id=serial0,fd=11,server=on,wait=off,logfile=/dev/fdset/4,"
                         "logappend=on"));
    EXPECT_TRUE(hasValue(argv, "-chardev", "socket,id=serial1,path=/run/peer.sock"));
    expectRefused("<serial type='unix'><source mode='bind'/></serial>", Code::InvalidXML,
                  "absolute <source path");
    expectRefused("<serial type='tcp'/>", Code::ConfigUnsupported, "serial type 'tcp'");
}

TEST(QemuDevices, LiveXmlShowsSocketsPortAliasesAndAgentState) {
    auto domain = parse(std::string(kAgentChannel) + kSpice +
                        "<rng model='virtio'><backend model='random'/></rng>"
                        "<tpm model='tpm-crb'><backend type='emulator'/></tpm>");
    ASSERT_TRUE(domain);
    auto live = withToolDeviceRuntime(domain.value(), {"/run/vs/channel0.sock"}, 5907);
    ASSERT_TRUE(live);
    const std::string& xml = live.value().xml;
    EXPECT_NE(xml.find("<source mode=\"bind\" path=\"/run/vs/channel0.sock\"/>"), std::string::npos)
        << xml;
    EXPECT_NE(xml.find("state=\"disconnected\""), std::string::npos) << xml;
    EXPECT_NE(xml.find("<alias name=\"channel0\"/>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("<alias name=\"rng0\"/>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("<alias name=\"tpm0\"/>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("port=\"5907\""), std::string::npos) << xml;
    // Where the display listens, as attribute and <listen> child (libvirt's default).
    EXPECT_NE(xml.find("listen=\"127.0.0.1\""), std::string::npos) << xml;
    EXPECT_NE(xml.find("<listen type=\"address\" address=\"127.0.0.1\"/>"), std::string::npos)
        << xml;
    // The live XML parses back to the same devices (a re-attaching shim reads it).
    auto reparsed = parseDomainXml(xml);
    ASSERT_TRUE(reparsed) << reparsed.error().message();
    EXPECT_EQ(reparsed.value().def.tools.channels.at(0).path, "/run/vs/channel0.sock");

    auto connected = withChannelState(live.value(), "channel0", true);
    ASSERT_TRUE(connected);
    EXPECT_NE(connected.value().xml.find("state=\"connected\""), std::string::npos);
    EXPECT_FALSE(withChannelState(live.value(), "channel9", true));
}

// QEMU picks a VNC autoport's display; the live XML shows the port it took and stays an
// autoport definition, so a restore from it picks a free port again.
TEST(QemuDevices, LiveXmlShowsTheVncPortQemuTook) {
    auto domain = parse("<graphics type='vnc' autoport='yes'/><graphics type='spice' "
                        "autoport='yes'/>");
    ASSERT_TRUE(domain);
    auto live = withGraphicsPort(domain.value(), "vnc", 5901);
    ASSERT_TRUE(live);
    const std::string& xml = live.value().xml;
    size_t port = xml.find(" port=\"5901\"");
    ASSERT_NE(port, std::string::npos) << xml;
    EXPECT_LT(port, xml.find("type=\"spice\"")) << xml; // on the VNC element
    EXPECT_EQ(xml.find(" port=\"5901\"", port + 1), std::string::npos) << xml;
    auto reparsed = parseDomainXml(xml);
    ASSERT_TRUE(reparsed) << reparsed.error().message();
    EXPECT_TRUE(reparsed.value().def.graphics.at(0).autoport);
}

TEST(QemuDevices, SpiceUsbRedirectionOnTheUsbController) {
    std::string redirs = std::string(kSpice) +
                         "<controller type='usb' model='qemu-xhci' ports='15'/>"
                         "<redirdev bus='usb' type='spicevmc'/>"
                         "<redirdev bus='usb' type='spicevmc'><address type='usb' bus='0' "
                         "port='3'/></redirdev>";
    for (const char* machine : {"pc", "q35"}) {
        auto argv = argvFor(redirs, machine);
        EXPECT_TRUE(hasValue(argv, "-chardev", "spicevmc,id=charredir0,name=usbredir"));
        // The next free port, as libvirt assigns it at define.
        EXPECT_TRUE(
            hasValue(argv, "-device", "usb-redir,chardev=charredir0,id=redir0,bus=usb.0,port=1"));
        EXPECT_TRUE(
            hasValue(argv, "-device", "usb-redir,chardev=charredir1,id=redir1,bus=usb.0,port=3"));
    }
    expectRefused("<redirdev bus='usb' type='spicevmc'/>", Code::InvalidXML,
                  "needs <graphics type='spice'>");
    expectRefused(std::string(kSpice) + "<redirdev bus='usb' type='tcp'/>", Code::ConfigUnsupported,
                  "redirdev bus 'usb' type 'tcp'");
    expectRefused(std::string(kSpice) + "<controller type='usb' model='none'/>" +
                      "<redirdev bus='usb' type='spicevmc'/>",
                  Code::InvalidXML, "USB controller is 'none'");
}
