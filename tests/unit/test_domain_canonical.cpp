// SPDX-License-Identifier: LGPL-2.1-or-later
// libvirt's inactive form of a definition (domain_def_canonical.hpp), checked against
// what libvirt 9.0 prints for the same input (its tests/qemuxml2xmloutdata/ files).
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_def_canonical.hpp"
#include "virtswarm/xml.hpp"

#include <gtest/gtest.h>
#include <string>
#include <utility>
#include <vector>

using namespace virtswarm;

namespace {

constexpr const char* kMachineHelp =
    "Supported machines are:\n"
    "microvm              microvm (i386)\n"
    "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
    "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
    "pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)\n"
    "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
    "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
    "none                 empty machine\n";

std::string domain(const std::string& body, const std::string& devices,
                   const std::string& machine = "") {
    std::string m = machine.empty() ? "" : " machine='" + machine + "'";
    return "<domain type='qemu'><name>vm</name>" + body + "<os><type" + m +
           ">hvm</type><kernel>/k</kernel></os><devices>" + devices + "</devices></domain>";
}

DomainXml parsed(const std::string& text) {
    auto r = parseDomainXml(text);
    EXPECT_TRUE(r) << (r ? "" : r.error().message());
    return r ? r.value() : DomainXml{};
}

xml::Document doc(const std::string& text) {
    auto d = xml::Document::parse(text);
    EXPECT_TRUE(d);
    return std::move(d).value();
}

void expectTarget(xml::Node device, const std::string& type, const std::string& port) {
    xml::Node target = xml::firstChild(device, "target");
    ASSERT_NE(target, nullptr);
    EXPECT_EQ(xml::attribute(target, "type").value_or(""), type);
    EXPECT_EQ(xml::attribute(target, "port").value_or(""), port);
}

// The machine types of this test, not of whatever QEMU the machine has; restored after.
class WithMachineAliases : public ::testing::Test {
protected:
    void SetUp() override { setMachineAliases(parseMachineHelp(kMachineHelp)); }
    void TearDown() override { setMachineAliases(std::nullopt); }
};

} // namespace

TEST(MachineHelp, AliasesAndTheDefault) {
    MachineAliases a = parseMachineHelp(kMachineHelp);
    EXPECT_EQ(a.canonical.at("pc"), "pc-i440fx-7.2");
    EXPECT_EQ(a.canonical.at("q35"), "pc-q35-7.2");
    EXPECT_EQ(a.canonical.count("pc-i440fx-7.1"), 0U);
    EXPECT_EQ(a.defaultMachine, "pc-i440fx-7.2");
    EXPECT_TRUE(parseMachineHelp("").canonical.empty());
}

TEST(CanonicalXml, MemoryInKiBWithCurrentMemoryAndStaticVcpus) {
    DomainXml d = parsed(domain("<memory unit='MiB'>128</memory>", ""));
    xml::Document out = doc(d.xml);
    xml::Node memory = xml::firstChild(out.root(), "memory");
    ASSERT_NE(memory, nullptr);
    EXPECT_EQ(xml::attribute(memory, "unit").value_or(""), "KiB");
    EXPECT_EQ(xml::text(memory), "131072");
    xml::Node current = xml::firstChild(out.root(), "currentMemory");
    ASSERT_NE(current, nullptr);
    EXPECT_EQ(xml::attribute(current, "unit").value_or(""), "KiB");
    EXPECT_EQ(xml::text(current), "131072");
    xml::Node vcpu = xml::firstChild(out.root(), "vcpu");
    ASSERT_NE(vcpu, nullptr);
    EXPECT_EQ(xml::attribute(vcpu, "placement").value_or(""), "static");
    EXPECT_EQ(xml::text(vcpu), "1");
}

TEST(CanonicalXml, ABalloonedCurrentMemoryKeepsItsValue) {
    DomainXml d = parsed(domain("<memory unit='GiB'>1</memory>"
                                "<currentMemory unit='MiB'>512</currentMemory><vcpu>2</vcpu>",
                                ""));
    xml::Document out = doc(d.xml);
    EXPECT_EQ(xml::text(xml::firstChild(out.root(), "memory")), "1048576");
    EXPECT_EQ(xml::text(xml::firstChild(out.root(), "currentMemory")), "524288");
    EXPECT_EQ(xml::text(xml::firstChild(out.root(), "vcpu")), "2");
}

TEST_F(WithMachineAliases, MachineTypeAliasesAreExpanded) {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"pc", "pc-i440fx-7.2"},
        {"q35", "pc-q35-7.2"},
        {"", "pc-i440fx-7.2"},
        {"pc-i440fx-7.1", "pc-i440fx-7.1"}};
    for (const auto& [written, expanded] : cases) {
        DomainXml d = parsed(domain("<memory>131072</memory>", "", written));
        xml::Document out = doc(d.xml);
        xml::Node type = xml::firstChild(xml::firstChild(out.root(), "os"), "type");
        EXPECT_EQ(xml::attribute(type, "machine").value_or(""), expanded) << written;
        EXPECT_EQ(xml::attribute(type, "arch").value_or(""), "x86_64");
        EXPECT_EQ(d.def.machine, expanded);
    }
}

TEST(CanonicalXml, WithoutKnownAliasesTheMachineStaysAsWritten) {
    DomainXml d = parsed(domain("<memory>131072</memory>", "", "q35"));
    xml::Document out = doc(d.xml);
    xml::Node type = xml::firstChild(xml::firstChild(out.root(), "os"), "type");
    EXPECT_EQ(xml::attribute(type, "machine").value_or(""), "q35");
}

TEST(CanonicalXml, AConsoleAloneGetsItsSerialPort) {
    DomainXml d = parsed(domain("<memory>131072</memory>", "<console type='pty'/>"));
    xml::Document out = doc(d.xml);
    xml::Node devices = xml::firstChild(out.root(), "devices");
    auto serials = xml::children(devices, "serial");
    ASSERT_EQ(serials.size(), 1U);
    EXPECT_EQ(xml::attribute(serials[0], "type").value_or(""), "pty");
    expectTarget(serials[0], "isa-serial", "0");
    expectTarget(xml::firstChild(devices, "console"), "serial", "0");
    ASSERT_EQ(d.def.serials.size(), 1U);
    EXPECT_TRUE(d.def.hasConsole);
}

TEST(CanonicalXml, TheFirstSerialPortIsTheConsole) {
    DomainXml d = parsed(domain("<memory>131072</memory>",
                                "<serial type='file'><source path='/var/log/s0'/></serial>"
                                "<serial type='pty'/><channel type='unix'><target type='virtio' "
                                "name='org.example.0'/></channel>"));
    xml::Document out = doc(d.xml);
    xml::Node devices = xml::firstChild(out.root(), "devices");
    auto consoles = xml::children(devices, "console");
    ASSERT_EQ(consoles.size(), 1U);
    EXPECT_EQ(xml::attribute(consoles[0], "type").value_or(""), "file");
    xml::Node source = xml::firstChild(consoles[0], "source");
    ASSERT_NE(source, nullptr);
    EXPECT_EQ(xml::attribute(source, "path").value_or(""), "/var/log/s0");
    expectTarget(consoles[0], "serial", "0");
    // After the serial ports, before what follows them.
    std::vector<std::string> order;
    for (xml::Node child : xml::children(devices)) {
        order.emplace_back(xml::name(child));
    }
    EXPECT_EQ(order, (std::vector<std::string>{"serial", "serial", "console", "channel", "input",
                                               "input", "memballoon"}));
    EXPECT_EQ(d.def.serials.size(), 2U);
    EXPECT_TRUE(d.def.hasConsole);
    // Defined again, it is the same domain: still two serial ports and one console.
    DomainXml again = parsed(d.xml);
    EXPECT_EQ(again.xml, d.xml);
    EXPECT_EQ(again.def.serials.size(), 2U);
}

TEST(CanonicalXml, DefaultInputsAndBalloon) {
    DomainXml d = parsed(domain("<memory>131072</memory>", "<graphics type='vnc'/>"));
    xml::Document out = doc(d.xml);
    xml::Node devices = xml::firstChild(out.root(), "devices");
    auto inputs = xml::children(devices, "input");
    ASSERT_EQ(inputs.size(), 2U);
    EXPECT_EQ(xml::attribute(inputs[0], "type").value_or(""), "mouse");
    EXPECT_EQ(xml::attribute(inputs[1], "type").value_or(""), "keyboard");
    EXPECT_EQ(xml::attribute(inputs[1], "bus").value_or(""), "ps2");
    // libvirt's order: inputs before graphics.
    auto all = xml::children(devices);
    EXPECT_EQ(xml::name(all[0]), "input");
    xml::Node balloon = xml::firstChild(devices, "memballoon");
    ASSERT_NE(balloon, nullptr);
    EXPECT_EQ(xml::attribute(balloon, "model").value_or(""), "virtio");
    EXPECT_EQ(d.def.memballoon.model, "virtio");
}

TEST(CanonicalXml, AnExplicitNoBalloonAndGivenInputsAreKept) {
    DomainXml d = parsed(domain("<memory>131072</memory>",
                                "<input type='mouse' bus='ps2'/><memballoon model='none'/>"));
    xml::Document out = doc(d.xml);
    xml::Node devices = xml::firstChild(out.root(), "devices");
    EXPECT_EQ(xml::children(devices, "input").size(), 2U); // the keyboard is added
    auto balloons = xml::children(devices, "memballoon");
    ASSERT_EQ(balloons.size(), 1U);
    EXPECT_EQ(xml::attribute(balloons[0], "model").value_or(""), "none");
    EXPECT_EQ(d.def.memballoon.model, "none");
}

// libvirt 9.0: <graphics type='vnc'/> becomes <graphics type='vnc' port='-1'
// autoport='yes'><listen type='address'/></graphics>; a listen attribute is also the
// <listen> child's address (Cockpit reads the one, virt-manager the other).
TEST(CanonicalXml, GraphicsGetPortAutoportAndListen) {
    DomainXml d = parsed(domain("<memory>131072</memory>",
                                "<graphics type='vnc'/>"
                                "<graphics type='spice' port='5930' listen='0.0.0.0'>"
                                "<image compression='off'/></graphics>"));
    xml::Document out = doc(d.xml);
    auto graphics = xml::children(xml::firstChild(out.root(), "devices"), "graphics");
    ASSERT_EQ(graphics.size(), 2U);
    EXPECT_EQ(xml::attribute(graphics[0], "port").value_or(""), "-1");
    EXPECT_EQ(xml::attribute(graphics[0], "autoport").value_or(""), "yes");
    xml::Node listen = xml::firstChild(graphics[0], "listen");
    ASSERT_NE(listen, nullptr);
    EXPECT_EQ(xml::attribute(listen, "type").value_or(""), "address");
    EXPECT_FALSE(xml::attribute(listen, "address"));

    EXPECT_EQ(xml::attribute(graphics[1], "port").value_or(""), "5930");
    EXPECT_EQ(xml::attribute(graphics[1], "autoport").value_or(""), "no");
    auto children = xml::children(graphics[1]);
    ASSERT_EQ(children.size(), 2U);
    EXPECT_EQ(xml::name(children[0]), "listen"); // before <image>, as libvirt orders them
    EXPECT_EQ(xml::attribute(children[0], "address").value_or(""), "0.0.0.0");
    EXPECT_EQ(d.def.graphics.at(1).listen, "0.0.0.0");
}

// The child form alone names the address too (virt-install writes it).
TEST(CanonicalXml, AListenChildNamesTheAddress) {
    DomainXml d =
        parsed(domain("<memory>131072</memory>", "<graphics type='vnc'><listen type='address' "
                                                 "address='192.0.2.1'/></graphics>"));
    EXPECT_EQ(d.def.graphics.at(0).listen, "192.0.2.1");
    auto r = parseDomainXml(domain("<memory>131072</memory>",
                                   "<graphics type='vnc'><listen type='network'/></graphics>"));
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::ConfigUnsupported) << r.error().message();
}

namespace {

std::vector<std::string> usbPorts(const DomainXml& d) {
    xml::Document out = doc(d.xml);
    std::vector<std::string> ports;
    for (xml::Node dev : xml::children(xml::firstChild(out.root(), "devices"))) {
        if (xml::name(dev) != "input" && xml::name(dev) != "redirdev") {
            continue;
        }
        xml::Node address = xml::firstChild(dev, "address");
        if (address != nullptr && xml::attribute(address, "type").value_or("") == "usb") {
            ports.push_back(xml::attribute(address, "port").value_or("?"));
        } else if (xml::attribute(dev, "bus").value_or("") == "usb") {
            ports.emplace_back("none");
        }
    }
    return ports;
}

constexpr const char* kSpice = "<graphics type='spice'/>";
constexpr const char* kRedirdev = "<redirdev bus='usb' type='spicevmc'/>";

} // namespace

// What virt-install writes (an xHCI bus with 15 ports, a tablet, two USB redirections)
// gets libvirt's ports, in order; a port given is kept and skipped.
TEST(CanonicalXml, UsbDevicesGetTheNextFreePorts) {
    std::string devices = std::string("<controller type='usb' model='qemu-xhci' ports='15'/>") +
                          "<input type='tablet' bus='usb'/>" + kSpice + kRedirdev +
                          "<redirdev bus='usb' type='spicevmc'><address type='usb' bus='0' "
                          "port='2'/></redirdev>" +
                          kRedirdev;
    DomainXml d = parsed(domain("<memory>131072</memory>", devices, "q35"));
    EXPECT_EQ(usbPorts(d), (std::vector<std::string>{"1", "3", "2", "4"}));
    ASSERT_EQ(d.def.tools.redirdevs.size(), 3U);
    const auto* first = std::get_if<UsbAddress>(&d.def.tools.redirdevs[0].address);
    ASSERT_NE(first, nullptr);
    EXPECT_EQ(first->port, "3");
    DomainXml again = parsed(d.xml);
    EXPECT_EQ(again.xml, d.xml);
}

// A UHCI bus has two ports: a third device gets none (and QEMU, like libvirt, refuses it).
TEST(CanonicalXml, UsbPortsEndWithTheBus) {
    std::string devices = std::string("<controller type='usb' model='piix3-uhci'/>") +
                          "<input type='tablet' bus='usb'/>" + kSpice + kRedirdev + kRedirdev;
    DomainXml d = parsed(domain("<memory>131072</memory>", devices));
    EXPECT_EQ(usbPorts(d), (std::vector<std::string>{"1", "2", "none"}));
    // No controller: the machine's own (piix3-uhci on pc, qemu-xhci's four on q35).
    std::string three =
        std::string("<input type='tablet' bus='usb'/>") + kSpice + kRedirdev + kRedirdev;
    EXPECT_EQ(usbPorts(parsed(domain("<memory>131072</memory>", three, "pc"))),
              (std::vector<std::string>{"1", "2", "none"}));
    EXPECT_EQ(usbPorts(parsed(domain("<memory>131072</memory>", three, "q35"))),
              (std::vector<std::string>{"1", "2", "3"}));
}

TEST_F(WithMachineAliases, TheFormOfTheFormIsTheForm) {
    for (const std::string& text :
         {domain("<memory unit='MiB'>128</memory>", "<console type='pty'/>", "pc"),
          domain("<memory unit='G'>1</memory><vcpu>2</vcpu>",
                 "<serial type='pty'/><console type='pty'/><input type='tablet' bus='usb'/>",
                 "q35"),
          domain("<memory>131072</memory>", "<memballoon model='none'/>"),
          domain("<memory>131072</memory>", "<graphics type='vnc' listen='0.0.0.0'/>")}) {
        DomainXml once = parsed(text);
        DomainXml twice = parsed(once.xml);
        EXPECT_EQ(twice.xml, once.xml) << text;
        EXPECT_EQ(twice.def.inputs.size(), once.def.inputs.size());
        EXPECT_EQ(twice.def.serials.size(), once.def.serials.size());
        EXPECT_EQ(twice.def.machine, once.def.machine);
    }
}
