// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_holders.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <sstream>

namespace virtswarm::storage {
namespace {

// More holds than any host runs disks: a bound on what a caller can make us record.
constexpr size_t kMaxHolds = 65536;
constexpr size_t kMaxField = 4096;

bool plain(const std::string& s) {
    return !s.empty() && s.size() <= kMaxField &&
           std::none_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\n'; });
}

} // namespace

Result<void> checkHold(const VolumeHolders::Hold& hold) {
    bool busName = hold.holder.size() >= 2 && hold.holder[0] == ':' && plain(hold.holder) &&
                   std::all_of(hold.holder.begin() + 1, hold.holder.end(),
                               [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
    if (!busName) {
        return Error(Code::InvalidArgs, "a volume holder must be a unique bus name");
    }
    bool uuid = hold.domain.size() >= 32 && hold.domain.size() <= 36 &&
                std::all_of(hold.domain.begin(), hold.domain.end(), [](char c) {
                    return std::isxdigit(static_cast<unsigned char>(c)) || c == '-';
                });
    if (!uuid) {
        return Error(Code::InvalidArgs, "option 'domain' must be the domain's UUID");
    }
    if (hold.path.empty() || hold.path.size() > kMaxField || hold.path[0] != '/' ||
        hold.path.find('\n') != std::string::npos) {
        return Error(Code::InvalidArgs, "a held volume must have an absolute path");
    }
    return success();
}

VolumeHolders::VolumeHolders(std::string file)
    : m_file(std::move(file)) {}

void VolumeHolders::load() {
    if (m_file.empty()) {
        return;
    }
    auto text = readFile(m_file, kMaxHolds * 3 * (kMaxField + 1));
    if (!text) {
        return; // none recorded
    }
    std::istringstream lines(text.value());
    std::string line;
    while (std::getline(lines, line) && m_holds.size() < kMaxHolds) {
        // "<holder> <domain> <path>": the path is the rest of the line (it may have spaces).
        std::istringstream fields(line);
        Hold hold;
        bool read = static_cast<bool>(fields >> hold.holder >> hold.domain);
        if (read && fields.get() == ' ') {
            std::getline(fields, hold.path);
        }
        if (!read || !checkHold(hold)) {
            log::warning("ignoring a malformed volume hold in " + m_file);
            continue;
        }
        m_holds.insert(std::move(hold));
    }
}

void VolumeHolders::save() {
    if (m_file.empty()) {
        return;
    }
    std::string text;
    for (const auto& hold : m_holds) {
        text += hold.holder + " " + hold.domain + " " + hold.path + "\n";
    }
    if (auto r = writeFileAtomic(m_file, text, 0600); !r) {
        log::warning("cannot record volume holds: " + r.error().message());
    }
}

Result<void> VolumeHolders::add(Hold hold) {
    if (auto r = checkHold(hold); !r) {
        return r;
    }
    if (m_holds.size() >= kMaxHolds && m_holds.count(hold) == 0) {
        return Error(Code::LimitsExceeded, "too many volumes in use");
    }
    if (m_holds.insert(std::move(hold)).second) {
        save();
    }
    return success();
}

size_t VolumeHolders::release(const std::string& holder, const std::string& domain,
                              const std::string& path) {
    size_t n = std::erase_if(m_holds, [&](const Hold& h) {
        return h.holder == holder && h.domain == domain && (path.empty() || h.path == path);
    });
    if (n > 0) {
        save();
    }
    return n;
}

size_t VolumeHolders::forget(const std::string& holder) {
    size_t n = std::erase_if(m_holds, [&](const Hold& h) { return h.holder == holder; });
    if (n > 0) {
        save();
    }
    return n;
}

std::vector<std::string> VolumeHolders::holders() const {
    std::set<std::string> names;
    for (const auto& hold : m_holds) {
        names.insert(hold.holder);
    }
    return {names.begin(), names.end()};
}

bool VolumeHolders::inUse(const std::string& path) const {
    return std::any_of(m_holds.begin(), m_holds.end(),
                       [&](const Hold& h) { return h.path == path; });
}

Result<void> VolumeHolders::checkNotInUse(const std::string& path,
                                          const std::string& volumeName) const {
    if (inUse(path)) {
        // libvirt: VIR_ERR_OPERATION_INVALID, "storage volume '%s' is in use".
        return Error(Code::InvalidState, "storage volume '" + volumeName + "' is in use");
    }
    return success();
}

} // namespace virtswarm::storage
