// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/image_chain.hpp"

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>

namespace virtswarm {
namespace {

// The backing file a `format` image names: nullopt for raw, an unbacked qcow2, and a
// file that is no qcow2 at all (QEMU then refuses it with its own error).
Result<std::optional<Qcow2Backing>> backingOf(int fd, const std::string& format) {
    if (format != "qcow2") {
        return std::optional<Qcow2Backing>();
    }
    auto header = readQcow2Header(fd);
    if (!header) {
        return header.takeError();
    }
    if (!header.value()) {
        return std::optional<Qcow2Backing>(); // not qcow2 at all: QEMU refuses it by name
    }
    if (header.value()->version != 2 && header.value()->version != 3) {
        return Error(Code::ConfigUnsupported,
                     "qcow2 version " + std::to_string(header.value()->version));
    }
    return header.value()->backing;
}

bool isQcow2(int fd) {
    auto header = readQcow2Header(fd);
    return !header || header.value().has_value();
}

std::string directoryOf(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == std::string::npos ? "." : path.substr(0, slash == 0 ? 1 : slash);
}

// QEMU reads "proto:rest" (and "json:{...}") as a protocol when the colon comes before
// any slash: such a backing is not a file the definer's rights can be checked on.
bool namesProtocol(const std::string& name) {
    auto colon = name.find(':');
    return colon != std::string::npos && name.find('/') > colon;
}

Error unsupportedChain(const std::string& what, const std::string& why) {
    return Error(Code::ConfigUnsupported, what + ": " + why);
}

} // namespace

Result<void> requireUnbacked(int fd, const std::string& format, const std::string& what) {
    auto backing = backingOf(fd, format);
    if (!backing) {
        return backing.takeError().prefix(what);
    }
    if (backing.value()) {
        return unsupportedChain(what, "an image with a backing file ('" + backing.value()->file +
                                          "') can only be attached while the domain is off");
    }
    return success();
}

void closeLayers(std::vector<BackingLayer>& layers) {
    for (auto& layer : layers) {
        if (layer.fd >= 0) {
            ::close(layer.fd);
        }
    }
    layers.clear();
}

Result<std::vector<BackingLayer>> openBackingChain(const HostPathOpener& opener,
                                                   const std::string& path,
                                                   const std::string& format, int topFd,
                                                   const std::string& what) {
    std::vector<BackingLayer> layers;
    auto fail = [&](Error error) -> Result<std::vector<BackingLayer>> {
        closeLayers(layers);
        return error;
    };
    std::set<std::pair<dev_t, ino_t>> seen;
    auto remember = [&](int fd) {
        struct stat st {};
        return ::fstat(fd, &st) == 0 && seen.emplace(st.st_dev, st.st_ino).second;
    };
    remember(topFd);
    std::string abovePath = path;
    std::string aboveFormat = format;
    int aboveFd = topFd;
    for (;;) {
        auto backing = backingOf(aboveFd, aboveFormat);
        if (!backing) {
            return fail(backing.takeError().prefix(what + ": " + abovePath));
        }
        if (!backing.value()) {
            break;
        }
        const Qcow2Backing& named = *backing.value();
        if (layers.size() == kMaxBackingDepth) {
            return fail(unsupportedChain(what, "the backing chain of " + path + " is deeper than " +
                                                   std::to_string(kMaxBackingDepth) + " images"));
        }
        if (namesProtocol(named.file)) {
            return fail(unsupportedChain(what, "the backing file '" + named.file + "' of " +
                                                   abovePath + " is not a local file"));
        }
        BackingLayer layer;
        layer.path = named.file[0] == '/' ? named.file : directoryOf(abovePath) + "/" + named.file;
        auto fd = opener.openImage(layer.path, O_RDONLY, what + " backing image");
        if (!fd) {
            return fail(fd.takeError());
        }
        layer.fd = fd.value();
        layer.format = named.format;
        layers.push_back(layer);
        if (!remember(layer.fd)) {
            return fail(unsupportedChain(what, "the backing chain of " + path + " loops back at " +
                                                   layer.path));
        }
        if (layer.format.empty()) {
            // libvirt's rule: only a raw image may be used unrecorded.
            if (isQcow2(layer.fd)) {
                return fail(unsupportedChain(
                    what, "format of backing image '" + layer.path + "' of image '" + abovePath +
                              "' was not specified in the image metadata (see "
                              "https://libvirt.org/kbase/backing_chains.html)"));
            }
            layers.back().format = "raw";
        } else if (layer.format != "raw" && layer.format != "qcow2") {
            return fail(unsupportedChain(what, "backing image " + layer.path + " has format '" +
                                                   layer.format + "' (only raw and qcow2)"));
        }
        abovePath = layer.path;
        aboveFormat = layers.back().format;
        aboveFd = layer.fd;
    }
    return layers;
}

} // namespace virtswarm
