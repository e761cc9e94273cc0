// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "rotating_file.hpp"
#include "virtswarm/result.hpp"

#include <cstdint>
#include <string>

namespace virtswarm::log_daemon {

// logd.conf in logd's configuration directory: "key = value" lines, '#' comments.
//   max_size     bytes a log file grows to before it is rotated (virtlogd's max_size)
//   max_backups  rotated files kept (virtlogd's max_backups)
//   rate_limit   bytes per second copied from one stream; a faster writer is not read
//                until the next second, and what does not fit in its pipe meanwhile is
//                its own loss (0: no limit)
//   journal_socket  where the journal's native socket is
struct LogdConfig {
    RotationPolicy rotation;
    uint64_t rateLimit = 1024 * 1024;
    std::string journalSocket = "/run/systemd/journal/socket";
};

// An unknown key or a bad value is an error naming its line: a mistyped limit must not
// silently be the default.
Result<LogdConfig> parseLogdConfig(const std::string& text);

} // namespace virtswarm::log_daemon
