// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/device_address.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;

namespace {

Result<DeviceAddress> addressOf(const std::string& element) {
    auto doc = xml::Document::parse("<disk>" + element + "</disk>");
    EXPECT_TRUE(doc);
    return parseDeviceAddress(doc.value().root());
}

} // namespace

TEST(DeviceAddressTest, NoAddressLeavesThePlacementOpen) {
    auto a = addressOf("<target dev='vda'/>");
    ASSERT_TRUE(a);
    EXPECT_TRUE(std::holds_alternative<std::monostate>(a.value()));
    EXPECT_EQ(qemuPciAddressSuffix(a.value(), true), "");
}

TEST(DeviceAddressTest, PciAddressInHexAsLibvirtWritesIt) {
    auto a = addressOf("<address type='pci' domain='0x0000' bus='0x04' slot='0x00' "
                       "function='0x0'/>");
    ASSERT_TRUE(a);
    const auto& pci = std::get<PciAddress>(a.value());
    EXPECT_EQ(pci.bus, 4U);
    EXPECT_EQ(pci.slot, 0U);
    EXPECT_EQ(qemuPciAddressSuffix(a.value(), true), ",bus=pci.4,addr=0x0.0x0");
}

TEST(DeviceAddressTest, RootBusIsNamedByMachineType) {
    auto a = addressOf("<address type='pci' bus='0' slot='3' function='1' "
                       "multifunction='on'/>");
    ASSERT_TRUE(a);
    EXPECT_EQ(qemuPciAddressSuffix(a.value(), true), ",bus=pcie.0,addr=0x3.0x1,multifunction=on");
    EXPECT_EQ(qemuPciAddressSuffix(a.value(), false), ",bus=pci.0,addr=0x3.0x1,multifunction=on");
}

TEST(DeviceAddressTest, DriveAndVirtioSerialAddresses) {
    auto drive = addressOf("<address type='drive' controller='0' bus='0' target='0' unit='1'/>");
    ASSERT_TRUE(drive);
    EXPECT_EQ(std::get<DriveAddress>(drive.value()).unit, 1U);
    auto port = addressOf("<address type='virtio-serial' controller='0' bus='0' port='1'/>");
    ASSERT_TRUE(port);
    EXPECT_EQ(std::get<VirtioSerialAddress>(port.value()).port, 1U);
    auto usb = addressOf("<address type='usb' bus='0' port='1.2'/>");
    ASSERT_TRUE(usb);
    EXPECT_EQ(std::get<UsbAddress>(usb.value()).port, "1.2");
}

TEST(DeviceAddressTest, BadNumbersAndUnknownTypesAreNamedErrors) {
    for (const char* bad : {"<address type='pci' slot='0x20'/>", "<address type='pci' bus='x'/>",
                            "<address type='pci' slot=''/>", "<address type='pci' bus='0x'/>",
                            "<address type='drive' unit='-1'/>"}) {
        auto a = addressOf(bad);
        ASSERT_FALSE(a) << bad;
        EXPECT_EQ(a.error().code(), Code::InvalidXML) << bad;
    }
    auto isa = addressOf("<address type='isa' iobase='0x505'/>");
    ASSERT_FALSE(isa);
    EXPECT_EQ(isa.error().code(), Code::ConfigUnsupported);
    auto domain = addressOf("<address type='pci' domain='0x0001' bus='0'/>");
    ASSERT_FALSE(domain);
    EXPECT_EQ(domain.error().code(), Code::ConfigUnsupported);
}
