// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <optional>
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

// One file to write (content) or remove (no content), durably: service::CommitQueue
// makes many of them durable at once.
struct FileChange {
    std::string path;
    std::optional<std::string> content;
    mode_t mode = 0600;
};

// The pieces of writeFileAtomic, for callers that make many files durable at once
// (service::CommitQueue): the syncs of many temp files together, one directory fsync.
//
// Writes `content` to a new temp file next to `path` (".<name>.XXXXXX": loaders skip dot
// files) and returns the temp file's path. With `fsyncData` false the data is not yet on
// disk: the caller must sync it (fdatasync) before renaming it over `path`.
Result<std::string> writeTempFile(const std::string& path, std::string_view content, mode_t mode,
                                  bool fsyncData);
// fsync of a directory: the renames and unlinks in it are on disk.
Result<void> fsyncDirectory(const std::string& dir);

} // namespace virtswarm
