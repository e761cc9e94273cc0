// SPDX-License-Identifier: LGPL-2.1-or-later
#include "reexec_handover.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <systemd/sd-daemon.h>
#include <unistd.h>

namespace virtswarm::bridge {

Error execWithListeners(const service::Reexec& reexec, std::vector<HandedListener> listeners,
                        const nlohmann::json& clients) {
    // First out of the way, so placing one at 3 + i cannot close another.
    for (auto& l : listeners) {
        int parked = ::fcntl(l.fd, F_DUPFD_CLOEXEC, kParkingFd);
        if (parked < 0) {
            return Error(Code::OperationFailed, "cannot move a listening socket");
        }
        ::close(l.fd);
        l.fd = parked;
    }
    std::string names;
    for (size_t i = 0; i < listeners.size(); ++i) {
        int target = SD_LISTEN_FDS_START + static_cast<int>(i);
        // dup2's copy is not close-on-exec: it survives into the new image.
        if (::dup2(listeners[i].fd, target) < 0) {
            return Error(Code::OperationFailed, "cannot pass a listening socket on");
        }
        names += (i > 0 ? ":" : "") + std::string(listeners[i].readOnly ? "ro" : "rw");
    }
    ::setenv("LISTEN_FDS", std::to_string(listeners.size()).c_str(), 1);
    ::setenv("LISTEN_PID", std::to_string(::getpid()).c_str(), 1);
    ::setenv("LISTEN_FDNAMES", names.c_str(), 1);
    // After the listeners took their numbers: the state's memfd takes any free one.
    if (auto r = service::passState(kClientsStateVariable, {{"clients", clients}}); !r) {
        return r.error();
    }
    return reexec.exec();
}

} // namespace virtswarm::bridge
