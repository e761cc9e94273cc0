// SPDX-License-Identifier: LGPL-2.1-or-later
// CONNECT_GET_VERSION's number from what QEMU prints for --version, and
// CONNECT_GET_CPU_MODEL_NAMES' list from -cpu help.
#include "virtswarm/emulator_query.hpp"

#include <gtest/gtest.h>

using virtswarm::parseCpuModels;
using virtswarm::parseQemuVersion;

TEST(QemuVersion, DebianAndUpstreamVersionLines) {
    EXPECT_EQ(parseQemuVersion("QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
                               "Copyright (c) 2003-2022 Fabrice Bellard\n"),
              7002022U);
    EXPECT_EQ(parseQemuVersion("QEMU emulator version 8.2.0\n"), 8002000U);
    EXPECT_EQ(parseQemuVersion("QEMU emulator version 9.1\n"), 9001000U);
}

TEST(QemuVersion, AnythingElseIsNoVersion) {
    EXPECT_FALSE(parseQemuVersion("").has_value());
    EXPECT_FALSE(parseQemuVersion("qemu-system-x86_64: unknown option").has_value());
    EXPECT_FALSE(parseQemuVersion("QEMU emulator version x.y").has_value());
    EXPECT_FALSE(parseQemuVersion("QEMU emulator version 7.2000.1").has_value());
}

TEST(EmulatorQuery, CpuModelsWithoutVersionsOrModes) {
    auto models = parseCpuModels("Available CPUs:\n"
                                 "x86 486                   (alias configured by machine type)\n"
                                 "x86 486-v1                \n"
                                 "x86 Broadwell-IBRS        (alias of Broadwell-v3)\n"
                                 "x86 Skylake-Client-v4     Intel Core Processor (Skylake, IBRS)\n"
                                 "x86 Opteron_G5            (alias configured by machine type)\n"
                                 "x86 base                  base CPU model type\n"
                                 "x86 host                  KVM processor\n"
                                 "x86 max                   Enables all features\n"
                                 "\nRecognized CPUID flags:\n  3dnow 3dnowext\n");
    EXPECT_EQ(models, (std::vector<std::string>{"486", "Broadwell-IBRS", "Opteron_G5"}));
}
