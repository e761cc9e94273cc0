// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guests_config.hpp"

#include <gtest/gtest.h>

using namespace virtswarm;
using namespace virtswarm::guests;

TEST(GuestsConfig, EmptyFileMeansDefaults) {
    auto c = parseGuestsConfig("");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().onBoot, BootAction::Start);
    EXPECT_EQ(c.value().onShutdown, ShutdownAction::Shutdown);
    EXPECT_EQ(c.value().shutdownTimeout.count(), 300);
    EXPECT_EQ(c.value().onShutdownTimeout, ShutdownAction::Destroy);
    EXPECT_EQ(c.value().parallelShutdown, 0U);
    EXPECT_FALSE(c.value().bypassCache);
}

TEST(GuestsConfig, ReadsLibvirtGuestsStyleFile) {
    auto c = parseGuestsConfig("# virtswarm-guests\n"
                               "\n"
                               "ON_BOOT=ignore\n"
                               "ON_SHUTDOWN=\"suspend\"  # managed save\n"
                               "SHUTDOWN_TIMEOUT='45'\n"
                               "  PARALLEL_SHUTDOWN=3\n"
                               "export BYPASS_CACHE=1\n"
                               "START_DELAY=2 # seconds\n"
                               "ON_SHUTDOWN_TIMEOUT=suspend\n"
                               "BOOT_TIMEOUT=30\r\n");
    ASSERT_TRUE(c) << c.error().message();
    EXPECT_EQ(c.value().onBoot, BootAction::Ignore);
    EXPECT_EQ(c.value().onShutdown, ShutdownAction::Suspend);
    EXPECT_EQ(c.value().shutdownTimeout.count(), 45);
    EXPECT_EQ(c.value().parallelShutdown, 3U);
    EXPECT_TRUE(c.value().bypassCache);
    EXPECT_EQ(c.value().startDelay.count(), 2);
    EXPECT_EQ(c.value().onShutdownTimeout, ShutdownAction::Suspend);
    EXPECT_EQ(c.value().bootTimeout.count(), 30);
}

TEST(GuestsConfig, BadValuesAreRefusedWithTheLineAndTheAcceptedValues) {
    struct Case {
        const char* text;
        const char* expected;
    };
    const Case cases[] = {
        {"ON_SHUTDOWN=poweroff\n",
         "line 1: ON_SHUTDOWN='poweroff' is not valid (shutdown, suspend or destroy)"},
        {"# c\nON_BOOT=yes\n", "line 2: ON_BOOT='yes' is not valid (start or ignore)"},
        {"SHUTDOWN_TIMEOUT=-1\n",
         "line 1: SHUTDOWN_TIMEOUT='-1' is not valid (a number of seconds)"},
        {"SHUTDOWN_TIMEOUT=5m\n", "SHUTDOWN_TIMEOUT='5m' is not valid"},
        {"SHUTDOWN_TIMEOUT=\n", "SHUTDOWN_TIMEOUT='' is not valid"},
        {"PARALLEL_SHUTDOWN=many\n", "PARALLEL_SHUTDOWN='many' is not valid"},
        {"BYPASS_CACHE=yes\n", "BYPASS_CACHE='yes' is not valid (0 or 1)"},
        {"ON_SHUTDOWN_TIMEOUT=shutdown\n", "(suspend or destroy)"},
        {"ON_SHUTDWN=destroy\n", "line 1: unknown setting 'ON_SHUTDWN'"},
        {"ON_SHUTDOWN\n", "line 1: expected KEY=value"},
        {"ON_SHUTDOWN=\"destroy\n", "the value of ON_SHUTDOWN is not a plain word"},
        {"ON_SHUTDOWN=$(reboot)\n", "the value of ON_SHUTDOWN is not a plain word"},
    };
    for (const auto& c : cases) {
        auto parsed = parseGuestsConfig(c.text);
        ASSERT_FALSE(parsed) << c.text;
        EXPECT_EQ(parsed.error().code(), Code::InvalidArgs);
        EXPECT_NE(parsed.error().message().find(c.expected), std::string::npos)
            << c.text << " -> " << parsed.error().message();
    }
}

TEST(GuestsConfig, MissingFileMeansDefaults) {
    auto c = loadGuestsConfig("/nonexistent/virtswarm-guests");
    ASSERT_TRUE(c);
    EXPECT_EQ(c.value().onShutdown, ShutdownAction::Shutdown);
}
