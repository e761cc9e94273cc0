// SPDX-License-Identifier: LGPL-2.1-or-later
// Snapshot metadata: libvirt's <domainsnapshot> as clients write it and as the registry
// keeps it, the registry's per-domain set (a tree with a current snapshot, on disk before
// in memory), and the bridge's selection of snapshots for libvirt's listing flags.
#include "snapshot_list.hpp"
#include "snapshot_set.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/snapshot_def.hpp"

#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>

using namespace virtswarm;
using namespace virtswarm::hypervisor;
using virtswarm::bridge::selectSnapshots;
using virtswarm::bridge::SnapshotInfo;
namespace list = virtswarm::bridge::snapshot_list;

namespace {

const std::string kDomain = "<domain type='qemu'>\n  <name>vm</name>\n</domain>\n";

SnapshotDef snapshot(const std::string& name, const std::string& parent, int64_t created,
                     const std::string& state = "running") {
    SnapshotDef def;
    def.name = name;
    def.parent = parent;
    def.creationTime = created;
    def.state = state;
    def.memory = state == "shutoff" ? "no" : "internal";
    def.disks = {{"vda", "internal", ""}, {"hdc", "no", ""}};
    def.domainXml = kDomain;
    return def;
}

} // namespace

TEST(SnapshotRequestTest, TakesWhatClientsSend) {
    auto empty = parseSnapshotRequest("<domainsnapshot/>");
    ASSERT_TRUE(empty.ok()) << empty.error().message();
    EXPECT_EQ(empty.value().name, "");
    EXPECT_FALSE(empty.value().memory.has_value());

    // virsh snapshot-create-as --name s1 --description 'before <upgrade>'
    auto full = parseSnapshotRequest(
        "<domainsnapshot><name>s1</name><description>before &lt;upgrade&gt;</description>"
        "<memory snapshot='internal'/><disks><disk name='vda' snapshot='internal'/>"
        "<disk name='hdc' snapshot='no'/></disks></domainsnapshot>");
    ASSERT_TRUE(full.ok()) << full.error().message();
    EXPECT_EQ(full.value().name, "s1");
    EXPECT_EQ(full.value().description, "before <upgrade>");
    EXPECT_EQ(full.value().memory, "internal");
    ASSERT_EQ(full.value().disks.size(), 2u);
    EXPECT_EQ(full.value().disks[1], (SnapshotDisk{"hdc", "no", ""}));
}

TEST(SnapshotRequestTest, RefusesWhatItCannotTakeWithANamedError) {
    struct Case {
        const char* xml;
        Code code;
    } cases[] = {
        {"<domainsnapshot>", Code::MalformedXML},
        {"<domain/>", Code::InvalidXML},
        {"<domainsnapshot><name>a/b</name></domainsnapshot>", Code::InvalidXML},
        {"<domainsnapshot><name></name></domainsnapshot>", Code::InvalidXML},
        {"<domainsnapshot><memory snapshot='external' file='/tmp/m'/></domainsnapshot>",
         Code::ConfigUnsupported},
        {"<domainsnapshot><memory snapshot='sometimes'/></domainsnapshot>", Code::InvalidXML},
        {"<domainsnapshot><disks><disk name='vda' snapshot='manual'/></disks></domainsnapshot>",
         Code::ConfigUnsupported},
        // Overlays are qcow2 files at absolute paths.
        {"<domainsnapshot><disks><disk name='vda' snapshot='external' type='block'>"
         "<source dev='/dev/sdz'/></disk></disks></domainsnapshot>",
         Code::ConfigUnsupported},
        {"<domainsnapshot><disks><disk name='vda' snapshot='external'><driver type='raw'/>"
         "</disk></disks></domainsnapshot>",
         Code::ConfigUnsupported},
        {"<domainsnapshot><disks><disk name='vda' snapshot='external'>"
         "<source file='rel.qcow2'/></disk></disks></domainsnapshot>",
         Code::InvalidXML},
        {"<domainsnapshot><disks><disk snapshot='internal'/></disks></domainsnapshot>",
         Code::InvalidXML},
        {"<domainsnapshot><disks><disk name='vda'/><disk name='vda'/></disks></domainsnapshot>",
         Code::InvalidXML},
        // Entities never expand (the shared parser's rule).
        {"<!DOCTYPE d [<!ENTITY a 'aaaa'>]><domainsnapshot><name>&a;</name></domainsnapshot>",
         Code::InvalidXML},
    };
    for (const auto& c : cases) {
        auto r = parseSnapshotRequest(c.xml);
        ASSERT_FALSE(r.ok()) << c.xml;
        EXPECT_EQ(r.error().code(), c.code) << c.xml << ": " << r.error().message();
    }
    // A request is small: a huge one is refused before it is parsed.
    std::string huge = "<domainsnapshot><description>" + std::string(100 * 1024, 'x') +
                       "</description></domainsnapshot>";
    EXPECT_FALSE(parseSnapshotRequest(huge).ok());
    EXPECT_FALSE(checkSnapshotName(std::string(256, 'n')).ok());
    EXPECT_TRUE(checkSnapshotName(std::string(255, 'n')).ok());
}

TEST(SnapshotRequestTest, ExternalDisksAsVirshWritesThem) {
    // virsh snapshot-create-as --disk-only --diskspec vda,file=/i/o.qcow2 --diskspec vdb
    auto r = parseSnapshotRequest(
        "<domainsnapshot><disks><disk name='vda' snapshot='external' type='file'>"
        "<source file='/i/o.qcow2'/></disk><disk name='vdb' snapshot='external'/>"
        "<disk name='hdc' snapshot='no'/></disks></domainsnapshot>");
    ASSERT_TRUE(r.ok()) << r.error().message();
    ASSERT_EQ(r.value().disks.size(), 3u);
    EXPECT_EQ(r.value().disks[0], (SnapshotDisk{"vda", "external", "/i/o.qcow2"}));
    EXPECT_EQ(r.value().disks[1], (SnapshotDisk{"vdb", "external", ""}));
}

TEST(SnapshotDefTest, AnExternalSnapshotKeepsItsOverlays) {
    SnapshotDef def = snapshot("disks", "", 1764000000, "disk-snapshot");
    def.memory = "no";
    def.disks = {{"vda", "external", "/i/vm.disks"}, {"hdc", "no", ""}};
    EXPECT_TRUE(isExternal(def));
    EXPECT_FALSE(isExternal(snapshot("internal", "", 1)));
    std::string xml = formatSnapshotDef(def, def.domainXml);
    EXPECT_NE(xml.find("<state>disk-snapshot</state>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("<disk name='vda' snapshot='external' type='file'>\n"
                       "      <driver type='qcow2'/>\n      <source file='/i/vm.disks'/>\n"
                       "    </disk>"),
              std::string::npos)
        << xml;
    auto back = parseSnapshotDef(xml);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back.value().state, "disk-snapshot");
    EXPECT_EQ(back.value().disks, def.disks);
}

TEST(SnapshotDefTest, StoredFormReadsBackAndLooksLikeLibvirts) {
    SnapshotDef def = snapshot("before & after", "root", 1764000000);
    def.description = "quoted 'text'";
    std::string xml = formatSnapshotDef(def, def.domainXml);
    EXPECT_NE(xml.find("<name>before &amp; after</name>"), std::string::npos) << xml;
    EXPECT_NE(xml.find("<parent>\n    <name>root</name>\n  </parent>"), std::string::npos);
    EXPECT_NE(xml.find("<state>running</state>"), std::string::npos);
    EXPECT_NE(xml.find("<creationTime>1764000000</creationTime>"), std::string::npos);
    EXPECT_NE(xml.find("<memory snapshot='internal'/>"), std::string::npos);
    EXPECT_NE(xml.find("<disk name='hdc' snapshot='no'/>"), std::string::npos);
    EXPECT_NE(xml.find("  <domain type='qemu'>\n    <name>vm</name>"), std::string::npos) << xml;

    auto back = parseSnapshotDef(xml);
    ASSERT_TRUE(back.ok()) << back.error().message();
    EXPECT_EQ(back.value().name, def.name);
    EXPECT_EQ(back.value().description, def.description);
    EXPECT_EQ(back.value().parent, "root");
    EXPECT_EQ(back.value().state, "running");
    EXPECT_EQ(back.value().creationTime, 1764000000);
    EXPECT_EQ(back.value().memory, "internal");
    EXPECT_EQ(back.value().disks, def.disks);
    // The definition as it was kept, its indentation too (libxml2 quotes attributes its way).
    EXPECT_EQ(back.value().domainXml, "<domain type=\"qemu\">\n  <name>vm</name>\n</domain>\n");
    // Formatting what was read gives the same document again.
    EXPECT_EQ(formatSnapshotDef(back.value(), back.value().domainXml),
              formatSnapshotDef(back.value(), back.value().domainXml));

    EXPECT_FALSE(parseSnapshotDef("<domainsnapshot><name>x</name></domainsnapshot>").ok());
}

class SnapshotSetTest : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/snapshot-set-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        m_root = tmpl;
        m_dir = m_root + "/snapshot/0123";
    }
    void TearDown() override { std::filesystem::remove_all(m_root); }
    std::string m_root;
    std::string m_dir;
};

TEST_F(SnapshotSetTest, KeepsTheTreeAndTheCurrentSnapshotAcrossAReload) {
    {
        SnapshotSet set(m_dir);
        set.load(); // nothing there yet
        EXPECT_TRUE(set.empty());
        ASSERT_TRUE(set.put(snapshot("b", "a", 200)).ok());
        ASSERT_TRUE(set.put(snapshot("a", "", 100, "shutoff")).ok());
        ASSERT_TRUE(set.put(snapshot("c d.é", "a", 150)).ok()); // any name is a file name
        ASSERT_TRUE(set.put(snapshot("e", "b", 300)).ok());
        ASSERT_TRUE(set.setCurrent("b").ok());
    }
    SnapshotSet set(m_dir);
    set.load();
    ASSERT_EQ(set.size(), 4u);
    EXPECT_EQ(set.current(), "b");
    std::vector<std::string> order;
    for (const SnapshotDef* def : set.all()) {
        order.push_back(def->name);
    }
    EXPECT_EQ(order, (std::vector<std::string>{"a", "c d.é", "b", "e"}));
    EXPECT_EQ(set.children("a"), (std::vector<std::string>{"c d.é", "b"}));
    EXPECT_EQ(set.subtree("b"), (std::vector<std::string>{"e", "b"}));
    EXPECT_EQ(set.find("a")->state, "shutoff");

    ASSERT_TRUE(set.remove("b").ok());
    EXPECT_EQ(set.current(), ""); // a removed snapshot is not current any more
    ASSERT_TRUE(set.removeAll().ok());
    EXPECT_FALSE(std::filesystem::exists(m_dir));
}

TEST_F(SnapshotSetTest, ABadFileIsSkippedNotFatal) {
    std::filesystem::create_directories(m_dir);
    {
        SnapshotSet set(m_dir);
        ASSERT_TRUE(set.put(snapshot("good", "", 1)).ok());
    }
    FILE* f = std::fopen((m_dir + "/broken.xml").c_str(), "w");
    std::fputs("<domainsnapshot><name>", f);
    std::fclose(f);
    SnapshotSet set(m_dir);
    set.load();
    EXPECT_EQ(set.size(), 1u);
    EXPECT_NE(set.find("good"), nullptr);
}

TEST(SnapshotListTest, FlagsSelectAsLibvirtsDo) {
    // a -> b -> d, a -> c; a shut off, the others running; c current.
    std::vector<SnapshotInfo> all = {
        {"/a", "a", "", "shutoff", "no", 1, false},
        {"/b", "b", "a", "running", "internal", 2, false},
        {"/c", "c", "a", "paused", "internal", 3, true},
        {"/d", "d", "b", "running", "internal", 4, false},
    };
    auto names = [](const std::vector<SnapshotInfo>& v) {
        std::string out;
        for (const auto& s : v) {
            out += s.name;
        }
        return out;
    };
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, 0)), "abcd");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kRoots)), "a");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kLeaves)), "cd");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kNoLeaves)), "ab");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kLeaves | list::kNoLeaves)), "abcd");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kInactive)), "a");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kActive)), "bcd");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kDiskOnly)), "");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kExternal)), "");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kNoMetadata)), "");
    EXPECT_EQ(names(selectSnapshots(all, std::nullopt, list::kInternal | list::kMetadata)), "abcd");
    EXPECT_EQ(names(selectSnapshots(all, std::string("a"), 0)), "bc");
    EXPECT_EQ(names(selectSnapshots(all, std::string("a"), list::kDescendants)), "bcd");
    EXPECT_EQ(names(selectSnapshots(all, std::string("a"), list::kDescendants | list::kLeaves)),
              "cd");
    EXPECT_EQ(names(selectSnapshots(all, std::string("d"), list::kDescendants)), "");
}

TEST(SnapshotPathTest, ANameSurvivesItsObjectPathElement) {
    for (std::string name : {"s1", "1764000000", "before upgrade", "a_b", "x/../y", "é", ""}) {
        auto back = unescapePathElement(escapePathElement(name));
        ASSERT_TRUE(back.has_value()) << name;
        EXPECT_EQ(*back, name);
    }
    EXPECT_FALSE(unescapePathElement("a_4").has_value());
    EXPECT_FALSE(unescapePathElement("a_zz").has_value());
}
