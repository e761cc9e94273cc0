// SPDX-License-Identifier: LGPL-2.1-or-later
#include "connect_uri.hpp"

namespace virtswarm::bridge {
namespace {

struct Uri {
    std::string scheme;
    std::string authority;
    std::string path;
};

std::optional<Uri> split(const std::string& text) {
    size_t colon = text.find("://");
    if (colon == std::string::npos || colon == 0) {
        return std::nullopt;
    }
    Uri u;
    u.scheme = text.substr(0, colon);
    std::string rest = text.substr(colon + 3);
    rest = rest.substr(0, rest.find_first_of("?#"));
    size_t slash = rest.find('/');
    u.authority = rest.substr(0, slash);
    u.path = slash == std::string::npos ? "" : rest.substr(slash);
    while (u.path.size() > 1 && u.path.back() == '/') {
        u.path.pop_back();
    }
    return u;
}

} // namespace

std::string defaultConnectUri(BusMode mode) {
    return mode == BusMode::System ? "qemu:///system" : "qemu:///session";
}

ConnectUriVerdict acceptConnectUri(const std::optional<std::string>& name, BusMode mode) {
    if (!name || name->empty()) {
        return {true, defaultConnectUri(mode), ""};
    }
    auto uri = split(*name);
    // Only the local QEMU driver: "qemu", no host (the transport part was the client's).
    if (!uri || uri->scheme != "qemu" ||
        !(uri->authority.empty() || uri->authority == "localhost")) {
        return {false, "", "no connection driver available for " + *name};
    }
    std::string wanted = mode == BusMode::System ? "/system" : "/session";
    if (uri->path != wanted) {
        return {false, "",
                "no connection driver available for " + *name + ": this bridge serves " +
                    defaultConnectUri(mode) +
                    (mode == BusMode::System
                         ? " (a session is served by virtswarm-proxyd --session at "
                           "$XDG_RUNTIME_DIR/libvirt/libvirt-sock)"
                         : "")};
    }
    return {true, defaultConnectUri(mode), ""};
}

} // namespace virtswarm::bridge
