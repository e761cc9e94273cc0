// SPDX-License-Identifier: LGPL-2.1-or-later
#include "sysfs.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace fs = std::filesystem;

namespace virtswarm::nodedev {
namespace {

constexpr size_t kMaxAttribute = 64 * 1024;

} // namespace

Sysfs::Sysfs(std::string root)
    : m_root(std::move(root)) {
    std::error_code ec;
    fs::path resolved = fs::canonical(m_root, ec);
    m_resolvedRoot = ec ? m_root : resolved.string();
}

std::string Sysfs::absolute(const std::string& relative) const {
    return relative.empty() ? m_resolvedRoot : m_resolvedRoot + "/" + relative;
}

std::optional<std::string> Sysfs::read(const std::string& relative) const {
    int fd = ::open(absolute(relative).c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return std::nullopt;
    }
    std::string out(kMaxAttribute, '\0');
    size_t used = 0;
    while (used < out.size()) {
        ssize_t n = ::read(fd, out.data() + used, out.size() - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += static_cast<size_t>(n);
    }
    ::close(fd);
    out.resize(used);
    while (!out.empty() && (out.back() == '\n' || out.back() == '\0')) {
        out.pop_back();
    }
    return out;
}

std::optional<long long> Sysfs::readNumber(const std::string& relative) const {
    auto text = read(relative);
    if (!text || text->empty()) {
        return std::nullopt;
    }
    errno = 0;
    char* end = nullptr;
    long long value = std::strtoll(text->c_str(), &end, 0);
    if (errno != 0 || end == text->c_str()) {
        return std::nullopt;
    }
    return value;
}

std::string Sysfs::linkName(const std::string& relative) const {
    std::error_code ec;
    fs::path target = fs::read_symlink(absolute(relative), ec);
    return ec ? std::string() : target.filename().string();
}

bool Sysfs::exists(const std::string& relative) const {
    std::error_code ec;
    return fs::exists(absolute(relative), ec);
}

std::vector<std::string> Sysfs::list(const std::string& relative) const {
    std::vector<std::string> out;
    std::error_code ec;
    for (fs::directory_iterator it(absolute(relative), ec), end; !ec && it != end;
         it.increment(ec)) {
        out.push_back(it->path().filename().string());
    }
    std::sort(out.begin(), out.end());
    return out;
}

std::string Sysfs::resolve(const std::string& relative) const {
    std::error_code ec;
    fs::path resolved = fs::canonical(absolute(relative), ec);
    if (ec) {
        return {};
    }
    std::string text = resolved.string();
    if (text.compare(0, m_resolvedRoot.size() + 1, m_resolvedRoot + "/") != 0) {
        return {};
    }
    return text.substr(m_resolvedRoot.size() + 1);
}

Result<void> Sysfs::write(const std::string& relative, const std::string& value) const {
    std::string path = absolute(relative);
    // O_TRUNC as a shell's `echo > file`: sysfs ignores it, a plain file (the tests' fake
    // tree) then holds exactly the value.
    int fd = ::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return Error(Code::OperationFailed,
                     "cannot open " + path + " for writing: " + std::strerror(errno));
    }
    ssize_t n;
    do {
        n = ::write(fd, value.data(), value.size());
    } while (n < 0 && errno == EINTR);
    int writeErrno = errno;
    ::close(fd);
    if (n != static_cast<ssize_t>(value.size())) {
        return Error(Code::OperationFailed,
                     "cannot write '" + value + "' to " + path + ": " +
                         (n < 0 ? std::strerror(writeErrno) : "short write"));
    }
    return success();
}

} // namespace virtswarm::nodedev
