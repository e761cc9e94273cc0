// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/image_overlay.hpp"

#include "virtswarm/command.hpp"
#include "virtswarm/host_tools.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/qcow2_header.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace virtswarm {
namespace {

constexpr int kOverlayFdInChild = 3;

// The size the guest sees of the base: a qcow2 header's, or a raw image's length.
Result<uint64_t> virtualSize(const HostPathOpener& opener, const OverlayPlan& plan) {
    auto fd = opener.openImage(plan.base, O_RDONLY, "disk '" + plan.target + "'");
    if (!fd) {
        return fd.takeError();
    }
    Result<uint64_t> size = Error(Code::OperationFailed, "");
    if (plan.baseFormat == "qcow2") {
        auto header = readQcow2Header(fd.value());
        size = !header          ? Result<uint64_t>(header.takeError())
               : header.value() ? Result<uint64_t>(header.value()->virtualSize)
                                : Result<uint64_t>(Error(Code::ConfigUnsupported,
                                                         plan.base + " is not a qcow2 image"));
    } else {
        off_t end = ::lseek(fd.value(), 0, SEEK_END);
        size = end < 0
                   ? Result<uint64_t>(Error(Code::OperationFailed, "cannot size " + plan.base +
                                                                       ": " + std::strerror(errno)))
                   : Result<uint64_t>(static_cast<uint64_t>(end));
    }
    ::close(fd.value());
    return size;
}

Result<int> createOverlayFile(const HostPathOpener& opener, const OverlayPlan& plan) {
    int fd = -1;
    int error = 0;
    auto r = opener.withRights(plan.overlay, [&]() -> Result<void> {
        fd = ::open(plan.overlay.c_str(),
                    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
        error = errno;
        return success();
    });
    if (!r) {
        return r.takeError();
    }
    if (fd >= 0) {
        return fd;
    }
    if (error == EEXIST) {
        return Error(Code::ConfigUnsupported, "external snapshot file for disk " + plan.target +
                                                  " already exists: " + plan.overlay);
    }
    return Error(error == EACCES || error == EPERM ? Code::AccessDenied : Code::OperationFailed,
                 "cannot create " + plan.overlay + " (snapshot of disk " + plan.target +
                     "): " + std::strerror(error));
}

// REUSE_EXT: the user's own overlay, checked (it exists, the definer may write it, it is
// a qcow2 image) and left as it is.
Result<void> checkReusedOverlay(const HostPathOpener& opener, const OverlayPlan& plan) {
    bool missing = false;
    auto looked = opener.withRights(plan.overlay, [&]() -> Result<void> {
        struct stat st {};
        missing = ::stat(plan.overlay.c_str(), &st) != 0 && errno == ENOENT;
        return success();
    });
    if (!looked) {
        return looked.takeError();
    }
    if (missing) {
        return Error(Code::ConfigUnsupported,
                     "missing existing file for disk " + plan.target + ": " + plan.overlay);
    }
    auto fd = opener.openImage(plan.overlay, O_RDWR, "snapshot of disk " + plan.target);
    if (!fd) {
        return fd.takeError();
    }
    auto header = readQcow2Header(fd.value());
    ::close(fd.value());
    if (!header) {
        return header.takeError();
    }
    if (!header.value()) {
        return Error(Code::ConfigUnsupported, "existing file for disk " + plan.target +
                                                  " is not a qcow2 image: " + plan.overlay);
    }
    return success();
}

struct OverlayRun : std::enable_shared_from_this<OverlayRun> {
    EventLoop& loop;
    HostPathOpener opener;
    std::vector<OverlayPlan> plans;
    std::function<void(Result<void>)> done;

    OverlayRun(EventLoop& l, HostPathOpener o, std::vector<OverlayPlan> p,
               std::function<void(Result<void>)> d)
        : loop(l)
        , opener(std::move(o))
        , plans(std::move(p))
        , done(std::move(d)) {}

    void fail(size_t made, Error error) {
        removeOverlays(opener, {plans.begin(), plans.begin() + static_cast<std::ptrdiff_t>(made)});
        done(std::move(error));
    }

    void next(size_t index) {
        if (index == plans.size()) {
            done(success());
            return;
        }
        const OverlayPlan& plan = plans[index];
        if (plan.reuse) {
            if (auto r = checkReusedOverlay(opener, plan); !r) {
                fail(index, r.takeError());
                return;
            }
            next(index + 1);
            return;
        }
        auto size = virtualSize(opener, plan);
        if (!size) {
            fail(index, size.takeError());
            return;
        }
        auto fd = createOverlayFile(opener, plan);
        if (!fd) {
            fail(index, fd.takeError());
            return;
        }
        auto self = shared_from_this();
        Command::run(loop,
                     {host_tools::kQemuImg, "create", "-q", "-f", "qcow2", "-u", "-b", plan.base,
                      "-F", plan.baseFormat, "/dev/fd/" + std::to_string(kOverlayFdInChild),
                      std::to_string(size.value())},
                     [self, index, fd = fd.value()](Result<std::string> r) {
                         ::close(fd);
                         if (!r) {
                             // This overlay exists too (empty or half written): it goes as well.
                             self->fail(index + 1, r.takeError().prefix(
                                                       "creating " + self->plans[index].overlay));
                             return;
                         }
                         self->next(index + 1);
                     },
                     {}, {{fd.value(), kOverlayFdInChild}});
    }
};

} // namespace

std::string defaultOverlayPath(const std::string& image, const std::string& snapshot) {
    size_t slash = image.rfind('/');
    size_t dot = image.rfind('.');
    if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) {
        return image + "." + snapshot;
    }
    return image.substr(0, dot + 1) + snapshot;
}

void createOverlays(EventLoop& loop, const HostPathOpener& opener, std::vector<OverlayPlan> plans,
                    std::function<void(Result<void>)> done) {
    auto run = std::make_shared<OverlayRun>(loop, opener, std::move(plans), std::move(done));
    // From the loop: `done` is never called before this returns (reused overlays only, or
    // a refusal, need no qemu-img).
    loop.defer([run] { run->next(0); });
}

void removeOverlays(const HostPathOpener& opener, const std::vector<OverlayPlan>& plans) {
    for (const auto& plan : plans) {
        if (plan.reuse) {
            continue;
        }
        auto r = opener.withRights(plan.overlay, [&]() -> Result<void> {
            if (::unlink(plan.overlay.c_str()) < 0 && errno != ENOENT) {
                return Error(Code::OperationFailed,
                             "cannot remove " + plan.overlay + ": " + std::strerror(errno));
            }
            return success();
        });
        if (!r) {
            log::error(r.error().message());
        }
    }
}

} // namespace virtswarm
