// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_open.hpp"

#include "pool_object.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm::storage {

Result<OpenRequest> parseOpenRequest(const Options& options) {
    auto writable = boolOption(options, "writable", false);
    auto domain = stringOption(options, "domain", "");
    auto definer = uintOption(options, "definer-uid", 0);
    if (auto r = service::firstError(checkOptions(options, {"writable", "domain", "definer-uid"}),
                                     writable, domain, definer);
        !r) {
        return r.error();
    }
    OpenRequest request;
    request.writable = writable.value();
    request.domain = domain.value();
    if (request.domain.empty()) {
        return Error(Code::InvalidArgs, "option 'domain' (the domain's UUID) is required");
    }
    if (options.count("definer-uid") > 0) {
        request.definerUid = static_cast<uid_t>(definer.value());
    }
    return request;
}

Result<VolumeToOpen> volumeToOpen(StorageService& service, const std::string& pool,
                                  const std::string& volume) {
    auto found = service.pools().lookupByName(pool);
    if (!found) {
        return found.takeError();
    }
    PoolObject* object = found.value();
    if (!object->pool().active()) {
        return Error(Code::InvalidState, "storage pool '" + pool + "' is not active");
    }
    const VolumeInfo* info = object->pool().volume(volume);
    if (info == nullptr) {
        return Error(Code::NoSuchVolume,
                     "no storage volume '" + volume + "' in pool '" + pool + "'");
    }
    return VolumeToOpen{*info, object->volumeDetails(volume)};
}

Result<service::BrokeredFd> openHeldVolume(VolumeHolders& holders, const VolumeToOpen& target,
                                           const std::string& holder, const OpenRequest& request) {
    // A volume with a backing file is handed out as its top image alone: the shim opens
    // the layers below with the definer's rights, as for a file disk's chain.
    const VolumeInfo& info = target.info;
    VolumeHolders::Hold hold{holder, request.domain, info.path};
    if (auto r = checkHold(hold); !r) {
        return r.takeError();
    }
    int flags = (request.writable ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY;
    int fd = ::open(info.path.c_str(), flags);
    if (fd < 0) {
        return Error(Code::OperationFailed,
                     "cannot open storage volume '" + info.name + "': " + std::strerror(errno));
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        ::close(fd);
        return Error(Code::OperationFailed,
                     "storage volume '" + info.name + "' is not a regular file or block device");
    }
    if (auto r = holders.add(std::move(hold)); !r) {
        ::close(fd);
        return r.takeError();
    }
    return service::BrokeredFd{
        fd, info.path, {{"format", std::string(volumeFormatName(info.format))}}};
}

} // namespace virtswarm::storage
