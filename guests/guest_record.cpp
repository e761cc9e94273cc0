// SPDX-License-Identifier: LGPL-2.1-or-later
#include "guest_record.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/uuid.hpp"

#include <filesystem>
#include <sstream>

namespace virtswarm::guests {

Result<void> writeGuestRecord(const std::string& path, const std::vector<std::string>& uuids) {
    if (auto r = makeDirectories(std::filesystem::path(path).parent_path().string(), 0755); !r) {
        return r;
    }
    std::string text;
    for (const auto& uuid : uuids) {
        text += uuid + "\n";
    }
    return writeFileAtomic(path, text, 0644);
}

Result<std::vector<std::string>> readGuestRecord(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
        return std::vector<std::string>{};
    }
    auto text = readFile(path, 1024 * 1024);
    if (!text) {
        return text.takeError();
    }
    std::vector<std::string> uuids;
    std::istringstream lines(text.value());
    for (std::string line; std::getline(lines, line);) {
        if (line.empty()) {
            continue;
        }
        if (!parseUuid(line)) {
            return Error(Code::InvalidArgs, path + ": '" + line + "' is not a UUID");
        }
        uuids.push_back(line);
    }
    return uuids;
}

Result<void> removeGuestRecord(const std::string& path) {
    return removeFileDurable(path);
}

} // namespace virtswarm::guests
