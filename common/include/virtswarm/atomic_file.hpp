// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>
#include <sys/types.h>

namespace virtswarm {

// Replaces `path` with `content` so that a crash at any instant leaves either the old or
// the new file, never a torn one: write a temp file in the same directory, fsync it,
// rename it over the target, fsync the directory.
Result<void> writeFileAtomic(const std::string& path, std::string_view content, mode_t mode = 0600);

Result<std::string> readFile(const std::string& path, size_t maxBytes = 16 * 1024 * 1024);

// Removes the file and fsyncs its directory so the removal survives a crash too.
Result<void> removeFileDurable(const std::string& path);

// mkdir -p with `mode` for the directories it creates.
Result<void> makeDirectories(const std::string& path, mode_t mode = 0755);

} // namespace virtswarm
