// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string_view>

namespace virtswarm::log {

enum class Level { Error = 3, Warning = 4, Notice = 5, Info = 6, Debug = 7 };

// Set once at start-up: the program name in every line and the least important level shown
// (VIRTSWARM_DEBUG=1 in the environment shows debug lines).
void init(std::string_view programName);

// One line to stderr. Under journald (JOURNAL_STREAM set) the level travels as a
// "<N>" prefix, which journald turns into the PRIORITY field.
void write(Level level, std::string_view message);

inline void error(std::string_view m) {
    write(Level::Error, m);
}
inline void warning(std::string_view m) {
    write(Level::Warning, m);
}
inline void notice(std::string_view m) {
    write(Level::Notice, m);
}
inline void info(std::string_view m) {
    write(Level::Info, m);
}
inline void debug(std::string_view m) {
    write(Level::Debug, m);
}

} // namespace virtswarm::log
