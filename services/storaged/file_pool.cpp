// SPDX-License-Identifier: LGPL-2.1-or-later
#include "file_pool.hpp"

#include "image_header.hpp"
#include "qemu_img.hpp"
#include "tools.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/command.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sstream>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace virtswarm::storage {
namespace {

Error failed(const std::string& what) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(errno));
}

// Octal escapes (\040 for a space) as /proc/self/mountinfo writes paths.
std::string unescapeMountPath(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\\' && i + 3 < text.size()) {
            out += static_cast<char>(std::stoi(text.substr(i + 1, 3), nullptr, 8));
            i += 3;
        } else {
            out += text[i];
        }
    }
    return out;
}

// Lists the volumes that only qemu-img can read (refresh reads raw and plain qcow2 images
// itself, image_header.hpp) one `qemu-img info` at a time, so a pool of a thousand volumes
// costs a thousand short children in a row, never a thousand at once.
struct VolumeScan : std::enable_shared_from_this<VolumeScan> {
    EventLoop& loop;
    std::vector<VolumeInfo> pending;
    PoolContents contents;
    std::function<void(Result<PoolContents>)> done;

    VolumeScan(EventLoop& l, std::vector<VolumeInfo> known, std::vector<VolumeInfo> p,
               PoolSizes sizes, std::function<void(Result<PoolContents>)> d)
        : loop(l)
        , pending(std::move(p))
        , done(std::move(d)) {
        contents.sizes = sizes;
        contents.volumes = std::move(known);
    }

    void next() {
        if (pending.empty()) {
            done(std::move(contents));
            return;
        }
        VolumeInfo volume = std::move(pending.back());
        pending.pop_back();
        auto self = shared_from_this();
        Command::run(loop, qemu_img::infoArgv(volume.path),
                     [self, volume](Result<std::string> out) mutable {
                         // A file that vanished or that qemu-img cannot read is left out.
                         if (out && qemu_img::parseInfo(out.value(), volume)) {
                             self->contents.volumes.push_back(std::move(volume));
                         }
                         self->next();
                     });
    }
};

} // namespace

std::string FilePool::volumePath(const std::string& name) const {
    return m_def.targetPath + "/" + name;
}

void FilePool::answer(Done done, Result<void> result) {
    // Every answer comes from the loop, as those of the backends that run programs.
    m_loop.defer([done = std::move(done), result = std::move(result)] { done(result); });
}

bool FilePool::mounted() const {
    auto text = readFile("/proc/self/mountinfo");
    if (!text) {
        return false;
    }
    std::istringstream lines(text.value());
    std::string line;
    while (std::getline(lines, line)) {
        std::istringstream fields(line);
        std::string id, parent, devno, root, mountPoint;
        fields >> id >> parent >> devno >> root >> mountPoint;
        if (unescapeMountPath(mountPoint) == m_def.targetPath) {
            return true;
        }
    }
    return false;
}

void FilePool::build(Done done) {
    if (auto r = makeDirectories(m_def.targetPath, 0711); !r) {
        answer(std::move(done), r);
        return;
    }
    if (m_def.type != PoolType::Fs) {
        answer(std::move(done), success());
        return;
    }
    if (mounted()) {
        answer(std::move(done), Error(Code::InvalidState, m_def.targetPath + " is mounted"));
        return;
    }
    std::string format = m_def.sourceFormat == "auto" ? "ext4" : m_def.sourceFormat;
    std::vector<std::string> argv{tools::kMkfs, "-t", format};
    if (format.starts_with("ext")) {
        argv.push_back("-q");
    }
    argv.push_back(m_def.sourceDevices.front());
    runSequence(m_loop, {argv}, std::move(done));
}

void FilePool::start(Done done) {
    struct stat st {};
    if (::stat(m_def.targetPath.c_str(), &st) < 0 || !S_ISDIR(st.st_mode)) {
        answer(std::move(done), Error(Code::OperationFailed, "pool directory " + m_def.targetPath +
                                                                 " does not exist (build it)"));
        return;
    }
    if (m_def.type != PoolType::Fs || mounted()) {
        answer(std::move(done), success());
        return;
    }
    std::vector<std::string> argv{tools::kMount};
    if (m_def.sourceFormat != "auto") {
        argv.insert(argv.end(), {"-t", m_def.sourceFormat});
    }
    // nodev,nosuid: a file system image brought by a user must not bring device nodes or
    // setuid programs to the host.
    argv.insert(argv.end(), {"-o", "nodev,nosuid", m_def.sourceDevices.front(), m_def.targetPath});
    runSequence(m_loop, {argv}, std::move(done));
}

void FilePool::stop(Done done) {
    if (m_def.type != PoolType::Fs || !mounted()) {
        answer(std::move(done), success());
        return;
    }
    runSequence(m_loop, {{tools::kUmount, m_def.targetPath}}, std::move(done));
}

void FilePool::deleteStorage(Done done) {
    // As libvirt: the directory goes, and only if it is empty (volumes are deleted one by
    // one, never by a recursive removal).
    if (::rmdir(m_def.targetPath.c_str()) < 0 && errno != ENOENT) {
        answer(std::move(done), failed("cannot remove " + m_def.targetPath));
        return;
    }
    answer(std::move(done), success());
}

void FilePool::refresh(bool removePartial, std::function<void(Result<PoolContents>)> done) {
    struct statvfs vfs {};
    if (::statvfs(m_def.targetPath.c_str(), &vfs) < 0) {
        auto error = failed("cannot read " + m_def.targetPath);
        m_loop.defer([done, error] { done(error); });
        return;
    }
    PoolSizes sizes;
    sizes.capacity = static_cast<uint64_t>(vfs.f_blocks) * vfs.f_frsize;
    sizes.available = static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
    sizes.allocation = sizes.capacity - static_cast<uint64_t>(vfs.f_bfree) * vfs.f_frsize;
    std::vector<VolumeInfo> known, found;
    std::map<std::string, KnownImage> stillThere;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(m_def.targetPath, ec)) {
        std::string name = entry.path().filename().string();
        if (name.starts_with(".partial-")) {
            if (removePartial) {
                (void)removeFileDurable(entry.path().string());
            }
            continue;
        }
        // Only regular files are volumes: not directories, not symlinks leading elsewhere.
        if (name[0] == '.' || !entry.is_regular_file(ec) || entry.is_symlink(ec)) {
            continue;
        }
        VolumeInfo volume;
        volume.name = name;
        volume.path = entry.path().string();
        if (fromHeader(volume)) {
            stillThere.insert(m_known.extract(volume.path));
            known.push_back(std::move(volume));
        } else {
            found.push_back(std::move(volume));
        }
    }
    m_known = std::move(stillThere); // forget files that are gone
    auto scan = std::make_shared<VolumeScan>(m_loop, std::move(known), std::move(found), sizes,
                                             std::move(done));
    m_loop.defer([scan] { scan->next(); });
}

bool FilePool::fromHeader(VolumeInfo& volume) {
    struct stat st {};
    if (::lstat(volume.path.c_str(), &st) != 0) {
        return false;
    }
    int64_t mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    if (auto it = m_known.find(volume.path); it != m_known.end() && it->second.inode == st.st_ino &&
                                             it->second.mtimeNs == mtimeNs &&
                                             it->second.size == st.st_size) {
        volume = it->second.info;
        return true;
    }
    if (!fillFromHeader(volume, st)) {
        m_known.erase(volume.path);
        return false;
    }
    mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    m_known[volume.path] = KnownImage{st.st_ino, mtimeNs, st.st_size, volume};
    return true;
}

void FilePool::prepareVolume(const VolumeDef& def, std::function<void(Result<std::string>)> done) {
    std::string partial = volumePath(partialName(def.name));
    // A leftover of an earlier attempt is ours to replace.
    ::unlink(partial.c_str());
    m_loop.defer([done, partial] { done(partial); });
}

void FilePool::commitVolume(const std::string& name, Done done) {
    std::string from = volumePath(partialName(name));
    std::string to = volumePath(name);
    // RENAME_NOREPLACE: a volume made meanwhile under the same name is never overwritten.
    if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) < 0) {
        Error error = errno == EEXIST ? Error(Code::VolumeExists, "volume '" + name + "' exists")
                                      : failed("cannot rename " + from);
        ::unlink(from.c_str());
        answer(std::move(done), error);
        return;
    }
    answer(std::move(done), success());
}

void FilePool::discardVolume(const std::string& name, Done done) {
    ::unlink(volumePath(partialName(name)).c_str());
    answer(std::move(done), success());
}

void FilePool::deleteVolume(const std::string& name, Done done) {
    answer(std::move(done), removeFileDurable(volumePath(name)));
}

void FilePool::resizeVolume(const VolumeInfo& volume, uint64_t capacity, Done done) {
    runSequence(m_loop, {qemu_img::resizeArgv(volume, capacity)}, std::move(done));
}

} // namespace virtswarm::storage
