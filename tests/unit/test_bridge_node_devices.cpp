// SPDX-License-Identifier: LGPL-2.1-or-later
// The bridge's copy of nodedevd's devices: keyed by path and name (node devices have no
// UUID), filled from the properties nodedevd announces, in name order.
#include "node_device_client.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::bridge;

namespace {

PropertyMap device(const std::string& name, const std::string& parent,
                   std::vector<std::string> caps) {
    return PropertyMap{{"Name", sdbus::Variant(name)},
                       {"Parent", sdbus::Variant(parent)},
                       {"Capabilities", sdbus::Variant(caps)},
                       {"VendorId", sdbus::Variant(std::string("0x8086"))}};
}

const std::string kPath = "/org/virtswarm/NodeDevice1/device/";

TEST(NodeDeviceCache, DevicesAreFoundByNameInNameOrder) {
    NodeDeviceCache cache;
    cache.update(kPath + "pci_0000_00_02_0", device("pci_0000_00_02_0", "computer", {"pci"}));
    cache.update(kPath + "computer", device("computer", "", {"system"}));
    ASSERT_EQ(cache.size(), 2u);
    const auto* pci = cache.byName("pci_0000_00_02_0");
    ASSERT_NE(pci, nullptr);
    EXPECT_EQ(pci->parent, "computer");
    EXPECT_EQ(pci->capabilities, std::vector<std::string>{"pci"});
    EXPECT_EQ(pci->vendorId, "0x8086");
    auto all = cache.all();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0]->name, "computer");
    EXPECT_EQ(all[1]->name, "pci_0000_00_02_0");
}

TEST(NodeDeviceCache, ChangedPropertiesAndRemovalsFollow) {
    NodeDeviceCache cache;
    cache.update(kPath + "pci_0000_00_02_0", device("pci_0000_00_02_0", "computer", {"pci"}));
    cache.update(kPath + "pci_0000_00_02_0",
                 PropertyMap{{"Capabilities",
                              sdbus::Variant(std::vector<std::string>{"pci", "mdev_types"})}});
    EXPECT_EQ(cache.byName("pci_0000_00_02_0")->capabilities.size(), 2u);
    cache.remove(kPath + "pci_0000_00_02_0");
    EXPECT_EQ(cache.byName("pci_0000_00_02_0"), nullptr);
    EXPECT_EQ(cache.size(), 0u);
}

TEST(NodeDeviceCache, AnObjectWithoutANameIsNoDevice) {
    NodeDeviceCache cache;
    cache.update(kPath + "x", PropertyMap{{"Parent", sdbus::Variant(std::string("computer"))}});
    EXPECT_EQ(cache.size(), 0u);
    EXPECT_FALSE(cache.contains(kPath + "x"));
}

} // namespace
