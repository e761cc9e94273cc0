// SPDX-License-Identifier: LGPL-2.1-or-later
// The host <cpu>, cache and security model of <capabilities>, from /proc/cpuinfo as libvirt
// names them.
#include "capabilities.hpp"
#include "host_cpu.hpp"
#include "virtswarm/domain_def_canonical.hpp"

#include <gtest/gtest.h>

using namespace virtswarm::hypervisor;
using virtswarm::parseMachineHelp;
using virtswarm::setMachineAliases;

namespace {

// Two logical CPUs of one package, recorded on this kind of machine.
const char* kCpuinfo = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                       "model\t\t: 85\nmodel name\t: Intel(R) Xeon(R) Platinum 8259CL CPU\n"
                       "stepping\t: 7\nmicrocode\t: 0x5003901\nphysical id\t: 0\n"
                       "siblings\t: 2\ncore id\t\t: 0\ncpu cores\t: 1\n"
                       "flags\t\t: fpu sse4_1 sse4_2 constant_tsc tsc_deadline_timer vmx "
                       "pclmulqdq avx512f rep_good\n\n"
                       "processor\t: 1\nvendor_id\t: GenuineIntel\ncpu family\t: 6\n"
                       "model\t\t: 85\nstepping\t: 7\nphysical id\t: 0\nsiblings\t: 2\n"
                       "core id\t\t: 0\ncpu cores\t: 1\nflags\t\t: fpu\n\n";

} // namespace

TEST(HostCpu, CpuinfoAsLibvirtDescribesIt) {
    HostCpu cpu = parseCpuinfo(kCpuinfo);
    EXPECT_EQ(cpu.vendor, "Intel");
    EXPECT_EQ(cpu.family, "6");
    EXPECT_EQ(cpu.model, "85");
    EXPECT_EQ(cpu.stepping, "7");
    EXPECT_EQ(cpu.microcode, "0x5003901");
    EXPECT_EQ(cpu.sockets, 1);
    EXPECT_EQ(cpu.cores, 1);
    EXPECT_EQ(cpu.threads, 2);
    EXPECT_EQ(cpu.features, (std::vector<std::string>{"avx512f", "fpu", "pclmuldq", "sse4.1",
                                                      "sse4.2", "tsc-deadline", "vmx"}));
}

TEST(HostCpu, KernelSynthesisedFlagsAreNotFeatures) {
    EXPECT_EQ(libvirtFeatureName("constant_tsc"), "");
    EXPECT_EQ(libvirtFeatureName("md_clear"), "md-clear");
    EXPECT_EQ(libvirtFeatureName("lahf_lm"), "lahf_lm");
    EXPECT_EQ(libvirtFeatureName("avx2"), "avx2");
}

TEST(HostCpu, CapabilitiesOfThisHost) {
    std::string caps = hostCapabilitiesXml();
    EXPECT_NE(caps.find("<vendor>"), std::string::npos) << caps;
    EXPECT_NE(caps.find("<feature name="), std::string::npos);
    EXPECT_NE(caps.find("<model>dac</model>"), std::string::npos);
    EXPECT_NE(caps.find("<baselabel type='qemu'>+"), std::string::npos);
    EXPECT_NE(caps.find("<secmodel>\n      <model>none</model>"), std::string::npos);
}

// Once QEMU has said which machine types it has, those virtswarm runs, aliases naming
// their versioned type (what virtinst checks a domain's machine against).
TEST(HostCpu, CapabilitiesListEveryMachineType) {
    EXPECT_NE(hostCapabilitiesXml().find("<machine maxCpus='255'>pc</machine>"), std::string::npos);
    setMachineAliases(parseMachineHelp(
        "Supported machines are:\n"
        "pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)\n"
        "pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)\n"
        "q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)\n"
        "pc-q35-7.2           Standard PC (Q35 + ICH9, 2009)\n"
        "microvm              microvm (i386)\n"
        "none                 empty machine\n"));
    std::string caps = hostCapabilitiesXml();
    setMachineAliases(std::nullopt);
    EXPECT_NE(caps.find("<machine canonical='pc-i440fx-7.2' maxCpus='255'>pc</machine>"),
              std::string::npos)
        << caps;
    EXPECT_NE(caps.find("<machine maxCpus='255'>pc-i440fx-7.2</machine>"), std::string::npos);
    EXPECT_NE(caps.find("<machine canonical='pc-q35-7.2' maxCpus='288'>q35</machine>"),
              std::string::npos);
    EXPECT_NE(caps.find("<machine maxCpus='288'>pc-q35-7.2</machine>"), std::string::npos);
    // Only what virtswarm runs, QEMU's default first (virt-install takes the first).
    EXPECT_EQ(caps.find(">none</machine>"), std::string::npos);
    EXPECT_EQ(caps.find(">microvm</machine>"), std::string::npos);
    EXPECT_LT(caps.find(">pc-i440fx-7.2</machine>"), caps.find(">pc</machine>"));
    EXPECT_LT(caps.find(">pc</machine>"), caps.find(">q35</machine>"));
}
