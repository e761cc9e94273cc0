// SPDX-License-Identifier: LGPL-2.1-or-later
// ObjectRegistry: the UUID and name indexes, paths, ObjectManager signals, startup loading
// and autostart, without a bus (the signals are counted by a stand-in object).
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <unistd.h>

using namespace virtswarm;
using service::ObjectRegistry;

namespace {

struct Signals {
    std::vector<std::string> added;
    std::vector<std::string> removed;
};

struct FakeObject {
    FakeObject(Signals& sink, std::string objectPath)
        : signals(sink)
        , path(std::move(objectPath)) {}
    void emitInterfacesAddedSignal() { signals.added.push_back(path); }
    void emitInterfacesRemovedSignal() { signals.removed.push_back(path); }

    Signals& signals;
    std::string path;
    bool autostart = false;
    int starts = 0;
};

const service::ObjectKind kKind{"network", names::kNetworkPathPrefix, Code::NetworkExists,
                                Code::NoSuchNetwork};

UuidBytes uuid(const char* text) {
    return parseUuid(text).value();
}

struct ObjectRegistryTest : ::testing::Test {
    Result<FakeObject*> add(const char* uuidText, const std::string& name) {
        return registry.add(uuid(uuidText), name, [this](const std::string& path) {
            return std::make_unique<FakeObject>(signals, path);
        });
    }

    Signals signals;
    ObjectRegistry<FakeObject> registry{kKind};
};

constexpr const char* kA = "0a5f6a8e-9a50-4d52-a1b0-4c8e5d1c2f01";
constexpr const char* kB = "1b5f6a8e-9a50-4d52-a1b0-4c8e5d1c2f02";

TEST_F(ObjectRegistryTest, PathIsThePrefixAndThirtyTwoHexDigits) {
    EXPECT_EQ(registry.pathFor(uuid(kA)),
              "/org/virtswarm/Network1/network/_0a5f6a8e9a504d52a1b04c8e5d1c2f01");
    EXPECT_EQ(service::runtimeKey(uuid(kA)), "0a5f6a8e9a504d52a1b04c8e5d1c2f01");
}

TEST_F(ObjectRegistryTest, AddAnnouncesTheObjectAndIndexesBothKeys) {
    auto a = add(kA, "default");
    ASSERT_TRUE(a);
    EXPECT_EQ(a.value()->path, registry.pathFor(uuid(kA)));
    EXPECT_EQ(signals.added, std::vector<std::string>{registry.pathFor(uuid(kA))});
    EXPECT_EQ(registry.findByName("default"), a.value());
    EXPECT_EQ(registry.findByUuid(uuid(kA)), a.value());
    EXPECT_EQ(registry.lookupByUuid("0A5F6A8E9A504D52A1B04C8E5D1C2F01").value(), a.value());
}

TEST_F(ObjectRegistryTest, ATakenNameOrUuidIsRefusedBeforeAnObjectIsMade) {
    ASSERT_TRUE(add(kA, "default"));
    auto sameName = add(kB, "default");
    ASSERT_FALSE(sameName);
    EXPECT_EQ(sameName.error().code(), Code::NetworkExists);
    auto sameUuid = add(kA, "other");
    ASSERT_FALSE(sameUuid);
    EXPECT_EQ(sameUuid.error().code(), Code::NetworkExists);
    EXPECT_EQ(signals.added.size(), 1u);
    EXPECT_EQ(registry.size(), 1u);
    EXPECT_EQ(registry.findByName("other"), nullptr);
}

TEST_F(ObjectRegistryTest, LookupsOfMissingObjectsNameTheKindsError) {
    auto byName = registry.lookupByName("nope");
    ASSERT_FALSE(byName);
    EXPECT_EQ(byName.error().code(), Code::NoSuchNetwork);
    EXPECT_EQ(byName.error().message(), "no network with matching name 'nope'");
    auto byUuid = registry.lookupByUuid(kA);
    ASSERT_FALSE(byUuid);
    EXPECT_EQ(byUuid.error().code(), Code::NoSuchNetwork);
    auto bad = registry.lookupByUuid("not-a-uuid");
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().code(), Code::InvalidArgs);
}

TEST_F(ObjectRegistryTest, RenameMovesTheNameIndex) {
    ASSERT_TRUE(add(kA, "old"));
    registry.rename(uuid(kA), "new");
    EXPECT_EQ(registry.findByName("old"), nullptr);
    EXPECT_EQ(registry.findByName("new"), registry.findByUuid(uuid(kA)));
    // The old name is free again.
    EXPECT_TRUE(add(kB, "old"));
}

TEST_F(ObjectRegistryTest, RemoveAnnouncesAndForgetsBothKeys) {
    ASSERT_TRUE(add(kA, "default"));
    registry.remove(uuid(kA));
    EXPECT_EQ(signals.removed, std::vector<std::string>{registry.pathFor(uuid(kA))});
    EXPECT_EQ(registry.findByName("default"), nullptr);
    EXPECT_EQ(registry.findByUuid(uuid(kA)), nullptr);
    registry.remove(uuid(kA)); // a second removal is a no-op
    EXPECT_EQ(signals.removed.size(), 1u);
}

TEST_F(ObjectRegistryTest, AllIsInUuidOrder) {
    ASSERT_TRUE(add(kB, "b"));
    ASSERT_TRUE(add(kA, "a"));
    auto all = registry.all();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0], registry.findByName("a"));
    EXPECT_EQ(all[1], registry.findByName("b"));
}

TEST_F(ObjectRegistryTest, ClearAnnouncesEveryRemoval) {
    ASSERT_TRUE(add(kA, "a"));
    ASSERT_TRUE(add(kB, "b"));
    registry.clear();
    EXPECT_EQ(signals.removed.size(), 2u);
    EXPECT_EQ(registry.size(), 0u);
}

struct Def {
    UuidBytes uuid;
    std::string name;
};

Result<Def> parseDef(const std::string& text) {
    // "<uuid> <name>": enough of a definition to load.
    auto space = text.find(' ');
    if (space == std::string::npos) {
        return Error(Code::InvalidXML, "no name");
    }
    auto parsed = parseUuid(text.substr(0, space));
    if (!parsed) {
        return parsed.takeError();
    }
    return Def{parsed.value(), text.substr(space + 1)};
}

TEST_F(ObjectRegistryTest, LoadsStoredDefinitionsAndStartsTheAutostartOnes) {
    char tmpl[] = "/tmp/vs-registry-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    std::string dir = tmpl;
    DefinitionStore store(dir);
    ASSERT_TRUE(store.save(uuid(kA), std::string(kA) + " a"));
    ASSERT_TRUE(store.save(uuid(kB), std::string(kB) + " b"));
    ASSERT_TRUE(store.setAutostart(uuid(kB), true));

    registry.loadDefinitions<Def>(
        store, parseDef, [](const Def& d) { return d.uuid; },
        [this](Def def, bool autostart) -> Result<FakeObject*> {
            auto added = registry.add(def.uuid, def.name, [this](const std::string& path) {
                return std::make_unique<FakeObject>(signals, path);
            });
            if (added) {
                added.value()->autostart = autostart;
            }
            return added;
        });
    ASSERT_EQ(registry.size(), 2u);
    // Loaded before the daemon takes its name: nobody could follow the signals.
    EXPECT_TRUE(signals.added.empty());
    ASSERT_TRUE(add("2c5f6a8e-9a50-4d52-a1b0-4c8e5d1c2f03", "defined-later"));
    EXPECT_EQ(signals.added.size(), 1u);
    EXPECT_FALSE(registry.findByName("a")->autostart);
    EXPECT_TRUE(registry.findByName("b")->autostart);

    registry.autostart([](const FakeObject& o) { return o.autostart; },
                       [](FakeObject& o, ObjectRegistry<FakeObject>::Done done) {
                           ++o.starts;
                           done(Error(Code::OperationFailed, "logged, not fatal"));
                       });
    EXPECT_EQ(registry.findByName("a")->starts, 0);
    EXPECT_EQ(registry.findByName("b")->starts, 1);
    std::filesystem::remove_all(dir);
}

} // namespace

namespace {

// Node devices: found on the host, with a name and no UUID.
const service::ObjectKind kNamedKind{"node device", names::kNodeDevicePathPrefix,
                                     Code::NodeDeviceExists, Code::NoSuchNodeDevice};

struct NamedRegistryTest : ::testing::Test {
    Result<FakeObject*> add(const std::string& name) {
        return registry.addNamed(name, [this](const std::string& path) {
            return std::make_unique<FakeObject>(signals, path);
        });
    }

    Signals signals;
    ObjectRegistry<FakeObject> registry{kNamedKind};
};

TEST_F(NamedRegistryTest, ObjectsAreKeyedAndPlacedByName) {
    auto pci = add("pci_0000_00_02_0");
    ASSERT_TRUE(pci);
    EXPECT_EQ(pci.value()->path, "/org/virtswarm/NodeDevice1/device/pci_0000_00_02_0");
    EXPECT_EQ(signals.added, std::vector<std::string>{pci.value()->path});
    EXPECT_EQ(registry.lookupByName("pci_0000_00_02_0").value(), pci.value());
    auto again = add("pci_0000_00_02_0");
    ASSERT_FALSE(again);
    EXPECT_EQ(again.error().code(), Code::NodeDeviceExists);
    ASSERT_TRUE(add("computer"));
    // In name order, the key of named kinds.
    auto all = registry.all();
    ASSERT_EQ(all.size(), 2u);
    EXPECT_EQ(all[0]->path, "/org/virtswarm/NodeDevice1/device/computer");
}

TEST_F(NamedRegistryTest, RemovalByNameAnnouncesAndForgets) {
    ASSERT_TRUE(add("net_eth0_52_54_00_12_34_56"));
    registry.removeNamed("net_eth0_52_54_00_12_34_56");
    registry.removeNamed("never_there");
    EXPECT_EQ(signals.removed, std::vector<std::string>{
                                   "/org/virtswarm/NodeDevice1/device/net_eth0_52_54_00_12_34_56"});
    auto gone = registry.lookupByName("net_eth0_52_54_00_12_34_56");
    ASSERT_FALSE(gone);
    EXPECT_EQ(gone.error().code(), Code::NoSuchNodeDevice);
    EXPECT_EQ(registry.size(), 0u);
}

} // namespace
