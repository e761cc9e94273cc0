// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_devices.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

std::string domainXml(const std::string& devices = "", const std::string& extra = "",
                      const std::string& type = "qemu") {
    return "<domain type='" + type + "'>\n  <name>web1</name>\n" + extra +
           "  <memory unit='MiB'>256</memory>\n  <vcpu>2</vcpu>\n"
           "  <os><type arch='x86_64' machine='pc'>hvm</type><kernel>/k</kernel>"
           "<initrd>/i</initrd><cmdline>console=ttyS0</cmdline><boot dev='hd'/></os>\n"
           "  <features><acpi/></features>\n  <devices>" +
           devices + "</devices>\n</domain>\n";
}

Code errorCode(const std::string& xml) {
    auto r = parseDomainXml(xml);
    EXPECT_FALSE(r) << "expected an error for:\n" << xml;
    return r ? Code::Internal : r.error().code();
}

} // namespace

TEST(DomainXml, ParsesTheSupportedSubset) {
    auto r = parseDomainXml(domainXml(
        "<emulator>/usr/bin/qemu-system-x86_64</emulator>"
        "<disk type='file' device='disk'><driver name='qemu' type='qcow2'/>"
        "<source file='/img/a.qcow2'/><target dev='vda' bus='virtio'/></disk>"
        "<disk type='file' device='cdrom'><target dev='sda' bus='sata'/></disk>"
        "<serial type='pty'/><console type='pty'/>"
        "<interface type='user'><mac address='52:54:00:AA:bb:cc'/><model type='e1000'/></interface>"
        "<graphics type='vnc' port='5905' autoport='no'/>"));
    ASSERT_TRUE(r) << r.error().message();
    const DomainDef& d = r.value().def;
    EXPECT_EQ(d.virtType, "qemu");
    EXPECT_EQ(d.name, "web1");
    EXPECT_EQ(d.memoryKiB, 256u * 1024);
    EXPECT_EQ(d.currentMemoryKiB, 256u * 1024);
    EXPECT_EQ(d.vcpus, 2u);
    EXPECT_EQ(d.machine, "pc");
    EXPECT_EQ(d.kernel, "/k");
    EXPECT_EQ(d.initrd, "/i");
    EXPECT_EQ(d.cmdline, "console=ttyS0");
    EXPECT_EQ(d.bootDevices, std::vector<std::string>{"hd"});
    EXPECT_TRUE(d.acpi);
    ASSERT_EQ(d.disks.size(), 2u);
    EXPECT_EQ(d.disks[0].format, "qcow2");
    EXPECT_EQ(d.disks[0].bus, "virtio");
    EXPECT_EQ(d.disks[1].device, "cdrom");
    EXPECT_TRUE(d.disks[1].readonly);
    ASSERT_EQ(d.serials.size(), 1u);
    EXPECT_TRUE(d.hasConsole);
    ASSERT_EQ(d.interfaces.size(), 1u);
    EXPECT_EQ(d.interfaces[0].mac, "52:54:00:aa:bb:cc");
    EXPECT_EQ(d.interfaces[0].model, "e1000");
    ASSERT_EQ(d.graphics.size(), 1u);
    EXPECT_EQ(d.graphics[0].port, 5905);
    EXPECT_FALSE(d.graphics[0].autoport);
}

TEST(DomainXml, GeneratesAndStoresUuidAndMac) {
    auto r = parseDomainXml(domainXml("<interface type='user'/>"));
    ASSERT_TRUE(r) << r.error().message();
    const auto& xml = r.value().xml;
    EXPECT_NE(xml.find("<uuid>" + formatUuid(r.value().def.uuid) + "</uuid>"), std::string::npos);
    EXPECT_NE(xml.find(r.value().def.interfaces[0].mac), std::string::npos);
    // Parsing the normalised XML again is stable: same UUID, same MAC.
    auto again = parseDomainXml(xml);
    ASSERT_TRUE(again);
    EXPECT_EQ(again.value().def.uuid, r.value().def.uuid);
    EXPECT_EQ(again.value().def.interfaces[0].mac, r.value().def.interfaces[0].mac);
}

TEST(DomainXml, KeepsGivenUuidAndUnknownHarmlessElements) {
    auto r = parseDomainXml(domainXml("<memballoon model='virtio'/>",
                                      "  <uuid>C7A5FDBD-EDAF-9455-926A-D65C16DB1809</uuid>\n"
                                      "  <description>keep me</description>\n"
                                      "  <metadata><x:y xmlns:x='urn:x'>z</x:y></metadata>\n"));
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(formatUuid(r.value().def.uuid), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
    EXPECT_NE(r.value().xml.find("<description>keep me</description>"), std::string::npos);
    EXPECT_NE(r.value().xml.find("urn:x"), std::string::npos);
    EXPECT_NE(r.value().xml.find("memballoon"), std::string::npos);
}

TEST(DomainXml, MemoryUnits) {
    bool ok = false;
    EXPECT_EQ(parseMemoryKiB("1", "GiB", ok), 1024u * 1024);
    EXPECT_TRUE(ok);
    EXPECT_EQ(parseMemoryKiB("1000", "KB", ok), 977u);
    EXPECT_EQ(parseMemoryKiB("524288", "KiB", ok), 524288u);
    EXPECT_EQ(parseMemoryKiB("1", "b", ok), 1u);
    parseMemoryKiB("1", "parsec", ok);
    EXPECT_FALSE(ok);
    parseMemoryKiB("-5", "KiB", ok);
    EXPECT_FALSE(ok);
    parseMemoryKiB("18446744073709551615", "TiB", ok);
    EXPECT_FALSE(ok);
}

TEST(DomainXml, CurrentMemoryIsCappedAtMemory) {
    auto r = parseDomainXml(domainXml("", "  <currentMemory unit='MiB'>512</currentMemory>\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r.value().def.currentMemoryKiB, r.value().def.memoryKiB);
}

TEST(DomainXml, MalformedOrIncompleteIsInvalidXML) {
    // Not XML at all: libvirt's XML_DETAIL; no name: NO_NAME; the rest XML_ERROR.
    EXPECT_EQ(errorCode(""), Code::MalformedXML);
    EXPECT_EQ(errorCode("<domain type='qemu'><name>x</name>"), Code::MalformedXML);
    EXPECT_EQ(errorCode("<network/>"), Code::InvalidXML);
    EXPECT_EQ(errorCode("<domain><name>x</name></domain>"), Code::InvalidXML);
    EXPECT_EQ(errorCode("<domain type='qemu'><memory>1</memory><os><type>hvm</type></os></domain>"),
              Code::MissingName);
    EXPECT_EQ(errorCode(domainXml("", "  <uuid>not-a-uuid</uuid>\n")), Code::InvalidXML);
    EXPECT_EQ(errorCode("<domain type='qemu'><name>a/b</name><memory>1</memory>"
                        "<os><type>hvm</type></os></domain>"),
              Code::InvalidXML);
    EXPECT_EQ(errorCode("<domain type='qemu'><name>x</name><os><type>hvm</type></os></domain>"),
              Code::InvalidXML); // no memory
    EXPECT_EQ(errorCode("<domain type='qemu'><name>x</name><memory>0</memory>"
                        "<os><type>hvm</type></os></domain>"),
              Code::InvalidXML);
    EXPECT_EQ(errorCode("<domain type='qemu'><name>x</name><memory>1024</memory>"
                        "<vcpu>0</vcpu><os><type>hvm</type></os></domain>"),
              Code::InvalidXML);
    EXPECT_EQ(errorCode(domainXml("<disk type='file'><target dev='vda'/></disk>")),
              Code::InvalidXML); // disk without source
    EXPECT_EQ(
        errorCode(domainXml("<disk type='file'><source file='/a'/><target dev='vda'/></disk>"
                            "<disk type='file'><source file='/b'/><target dev='vda'/></disk>")),
        Code::InvalidXML); // duplicate target
    EXPECT_EQ(errorCode(domainXml("<interface type='user'><mac address='01:00:00:00:00:01'/>"
                                  "</interface>")),
              Code::InvalidXML); // multicast MAC
    EXPECT_EQ(errorCode(domainXml("<serial type='file'><source path='relative'/></serial>")),
              Code::InvalidXML);
}

TEST(DomainXml, ThingsWeCannotRunAreNotSupported) {
    EXPECT_EQ(errorCode(domainXml("", "", "xen")), Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<hostdev mode='subsystem' type='pci'/>")),
              Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<disk type='block'><source dev='/dev/sda'/>"
                                  "<target dev='vda'/></disk>")),
              Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<disk type='file'><driver type='vmdk'/><source file='/a'/>"
                                  "<target dev='vda'/></disk>")),
              Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<interface type='direct'/>")), Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<graphics type='sdl'/>")), Code::ConfigUnsupported);
    EXPECT_EQ(errorCode(domainXml("<serial type='tcp'/>")), Code::ConfigUnsupported);
}

TEST(DomainXml, RejectsHugeDocumentsAndExternalEntities) {
    std::string huge =
        domainXml("", "<description>" + std::string(5 << 20, 'x') + "</description>");
    EXPECT_EQ(errorCode(huge), Code::InvalidXML);
    // An external entity is never fetched or expanded into the definition.
    auto r = parseDomainXml("<!DOCTYPE d [<!ENTITY e SYSTEM 'file:///etc/shadow'>]>" +
                            domainXml("", "  <description>&e;</description>\n"));
    if (r) {
        EXPECT_EQ(r.value().xml.find("root:"), std::string::npos);
    }
}

TEST(DomainXml, LiveXmlCarriesTheId) {
    auto r = parseDomainXml(domainXml());
    ASSERT_TRUE(r);
    EXPECT_NE(liveDomainXml(r.value().xml, 7).find("id=\"7\""), std::string::npos);
    // The definition itself never carries an id.
    auto withId = parseDomainXml("<domain type='qemu' id='3'>" + domainXml().substr(20));
    ASSERT_TRUE(withId) << withId.error().message();
    EXPECT_EQ(withId.value().xml.find("id="), std::string::npos);
}

TEST(Uuid, ParsesBothFormsAndRejectsGarbage) {
    auto a = parseUuid("c7a5fdbd-edaf-9455-926a-d65c16db1809");
    auto b = parseUuid("C7A5FDBDEDAF9455926AD65C16DB1809");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_EQ(a.value(), b.value());
    EXPECT_EQ(uuidHex(a.value()), "c7a5fdbdedaf9455926ad65c16db1809");
    EXPECT_FALSE(parseUuid("c7a5fdbd-edaf-9455-926a-d65c16db180"));
    EXPECT_FALSE(parseUuid("c7a5fdbd+edaf-9455-926a-d65c16db1809"));
    EXPECT_FALSE(parseUuid("g7a5fdbdedaf9455926ad65c16db1809"));
    EXPECT_NE(randomUuid(), randomUuid());
}

TEST(DeviceXml, AddingADeviceWhoseIdIsTakenIsRefused) {
    auto domain = parseDomainXml(
        domainXml("<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
                  "<source file='/a.img'/><target dev='vda' bus='virtio'/></disk>"
                  "<interface type='user'><mac address='52:54:00:ab:00:01'/></interface>"));
    ASSERT_TRUE(domain) << domain.error().message();
    auto sameTarget = parseDeviceXml("<disk type='file' device='disk'><source file='/b.img'/>"
                                     "<target dev='vda' bus='virtio'/></disk>");
    ASSERT_TRUE(sameTarget);
    auto r = withDeviceAdded(domain.value(), sameTarget.value());
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::InvalidState);
    // The MAC is compared as libvirt does, whatever its case.
    auto sameMac = parseDeviceXml(
        "<interface type='network'><source network='n'/><mac address='52:54:00:AB:00:01'/>"
        "</interface>");
    ASSERT_TRUE(sameMac);
    EXPECT_FALSE(withDeviceAdded(domain.value(), sameMac.value()));
    auto fresh = parseDeviceXml("<disk type='file' device='disk'><source file='/b.img'/>"
                                "<target dev='vdb' bus='virtio'/></disk>");
    ASSERT_TRUE(fresh);
    auto added = withDeviceAdded(domain.value(), fresh.value());
    ASSERT_TRUE(added) << added.error().message();
    EXPECT_EQ(added.value().def.disks.size(), 2u);
}

// UpdateDevice (virsh change-media): a cdrom's media changes in place, keeping its
// address and alias; anything else is refused with libvirt's codes.
TEST(DeviceXml, MediaChangesOnlyOnACdromInPlace) {
    auto domain = parseDomainXml(
        domainXml("<disk type='file' device='disk'><source file='/a.img'/>"
                  "<target dev='vda' bus='virtio'/></disk>"
                  "<disk type='file' device='cdrom'><source file='/one.iso'/>"
                  "<target dev='hdc' bus='ide'/><address type='drive' controller='0' bus='1' "
                  "target='0' unit='0'/><alias name='ide0-1-0'/></disk>"));
    ASSERT_TRUE(domain) << domain.error().message();
    domain.value().definer = 1000;
    auto insert = parseMediaChange("<disk type='file' device='cdrom'><source file='/two.iso'/>"
                                   "<target dev='hdc' bus='ide'/></disk>",
                                   true);
    ASSERT_TRUE(insert) << insert.error().message();
    auto changed = withMediaChanged(domain.value(), insert.value(), true);
    ASSERT_TRUE(changed) << changed.error().message();
    ASSERT_EQ(changed.value().def.disks.size(), 2u);
    EXPECT_EQ(changed.value().def.disks[1].source, "/two.iso");
    EXPECT_EQ(changed.value().definer, 1000u);
    EXPECT_NE(changed.value().xml.find("<alias name=\"ide0-1-0\"/>"), std::string::npos)
        << changed.value().xml;
    EXPECT_NE(changed.value().xml.find("bus=\"1\""), std::string::npos);

    auto eject = parseMediaChange(
        "<disk type='file' device='cdrom'><target dev='hdc' bus='ide'/></disk>", true);
    ASSERT_TRUE(eject);
    auto ejected = withMediaChanged(changed.value(), eject.value(), true);
    ASSERT_TRUE(ejected) << ejected.error().message();
    EXPECT_EQ(ejected.value().def.disks[1].source, "");

    auto expectRefused = [&](const Result<DomainXml>& r, Code code, const std::string& words) {
        ASSERT_FALSE(r);
        EXPECT_EQ(r.error().code(), code);
        EXPECT_NE(r.error().message().find(words), std::string::npos) << r.error().message();
    };
    auto elsewhere = parseMediaChange(
        "<disk type='file' device='cdrom'><target dev='hdd' bus='ide'/></disk>", true);
    ASSERT_TRUE(elsewhere);
    expectRefused(withMediaChanged(domain.value(), elsewhere.value(), true), Code::DeviceMissing,
                  "hdd");
    auto sata = parseMediaChange(
        "<disk type='file' device='cdrom'><target dev='hdc' bus='sata'/></disk>", true);
    ASSERT_TRUE(sata);
    expectRefused(withMediaChanged(domain.value(), sata.value(), false), Code::ConfigUnsupported,
                  "bus cannot change");

    auto nic = parseMediaChange("<interface type='user'/>", true);
    ASSERT_FALSE(nic);
    EXPECT_EQ(nic.error().code(), Code::OperationUnsupported);
    auto nicConfig = parseMediaChange("<interface type='user'/>", false);
    ASSERT_FALSE(nicConfig);
    EXPECT_EQ(nicConfig.error().code(), Code::ConfigUnsupported);
    auto disk = parseMediaChange("<disk type='file' device='disk'><source file='/b.img'/>"
                                 "<target dev='vda' bus='virtio'/></disk>",
                                 true);
    ASSERT_FALSE(disk);
    EXPECT_EQ(disk.error().code(), Code::OperationUnsupported);
}

// A floppy's media changes as a cdrom's does; it stays writable unless <readonly/>.
TEST(DeviceXml, MediaChangesOnAFloppy) {
    auto domain = parseDomainXml(domainXml("<disk type='file' device='floppy'>"
                                           "<source file='/one.img'/><target dev='fda'/></disk>"));
    ASSERT_TRUE(domain) << domain.error().message();
    EXPECT_EQ(domain.value().def.disks.at(0).bus, "fdc");
    EXPECT_FALSE(domain.value().def.disks.at(0).readonly);
    auto insert = parseMediaChange("<disk type='file' device='floppy'><source file='/two.img'/>"
                                   "<target dev='fda' bus='fdc'/></disk>",
                                   true);
    ASSERT_TRUE(insert) << insert.error().message();
    EXPECT_FALSE(insert.value().disk.readonly);
    auto changed = withMediaChanged(domain.value(), insert.value(), true);
    ASSERT_TRUE(changed) << changed.error().message();
    EXPECT_EQ(changed.value().def.disks.at(0).source, "/two.img");
    EXPECT_EQ(changed.value().def.disks.at(0).device, "floppy");
}

TEST(DomainXml, VolumeDisksNameAPoolAndAVolume) {
    auto r = parseDomainXml(domainXml("<disk type='volume' device='disk'>"
                                      "<source pool='default' volume='guest.qcow2'/>"
                                      "<target dev='vda' bus='virtio'/></disk>"));
    ASSERT_TRUE(r) << r.error().message();
    const DiskDef& disk = r.value().def.disks.at(0);
    EXPECT_TRUE(disk.isVolume());
    EXPECT_EQ(disk.volumePool, "default");
    EXPECT_EQ(disk.volumeName, "guest.qcow2");
    EXPECT_EQ(disk.source, ""); // resolved by the shim at start
    // The element is kept as written: pool and volume, not a path.
    EXPECT_NE(r.value().xml.find("volume=\"guest.qcow2\""), std::string::npos);
    EXPECT_EQ(errorCode(domainXml("<disk type='volume'><source pool='default'/>"
                                  "<target dev='vda'/></disk>")),
              Code::InvalidXML);
    EXPECT_EQ(errorCode(domainXml("<disk type='volume'><source volume='v'/>"
                                  "<target dev='vda'/></disk>")),
              Code::InvalidXML);
    EXPECT_EQ(errorCode(domainXml("<disk type='volume'><target dev='vda'/></disk>")),
              Code::InvalidXML);
}
