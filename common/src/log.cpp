// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/log.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <unistd.h>

namespace virtswarm::log {
namespace {

std::string g_program = "virtswarm";
bool g_journal = false;
Level g_maxLevel = Level::Info;

const char* levelName(Level level) {
    switch (level) {
    case Level::Error:
        return "error";
    case Level::Warning:
        return "warning";
    case Level::Notice:
        return "notice";
    case Level::Info:
        return "info";
    case Level::Debug:
        return "debug";
    }
    return "?";
}

} // namespace

void init(std::string_view programName) {
    g_program = programName;
    g_journal = std::getenv("JOURNAL_STREAM") != nullptr;
    const char* debug = std::getenv("VIRTSWARM_DEBUG");
    if (debug != nullptr && debug[0] == '1') {
        g_maxLevel = Level::Debug;
    }
}

void write(Level level, std::string_view message) {
    if (static_cast<int>(level) > static_cast<int>(g_maxLevel)) {
        return;
    }
    std::string line;
    if (g_journal) {
        line = "<" + std::to_string(static_cast<int>(level)) + ">";
    }
    line += g_program + "[" + std::to_string(getpid()) + "]: " + levelName(level) + ": ";
    line += message;
    line += '\n';
    // One write() per line so lines of concurrent processes sharing stderr do not interleave.
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

} // namespace virtswarm::log
