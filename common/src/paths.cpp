// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/paths.hpp"

#include "virtswarm/atomic_file.hpp"

#include <cstdlib>
#include <pwd.h>
#include <unistd.h>

namespace virtswarm {
namespace {

std::string envOr(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return (v != nullptr && v[0] != '\0') ? std::string(v) : fallback;
}

std::string homeDir() {
    const char* home = std::getenv("HOME");
    if (home != nullptr && home[0] != '\0') {
        return home;
    }
    const passwd* pw = getpwuid(getuid());
    return pw != nullptr ? pw->pw_dir : "/tmp";
}

} // namespace

const char* busModeName(BusMode mode) {
    return mode == BusMode::System ? "system" : "session";
}

DaemonPaths daemonPaths(const std::string& daemon, BusMode mode) {
    std::string config, runtime, state, logs;
    if (mode == BusMode::System) {
        config = "/etc/virtswarm";
        runtime = "/run/virtswarm";
        state = "/var/lib/virtswarm";
        logs = "/var/log/virtswarm";
    } else {
        std::string home = homeDir();
        config = envOr("XDG_CONFIG_HOME", home + "/.config") + "/virtswarm";
        runtime =
            envOr("XDG_RUNTIME_DIR", "/tmp/virtswarm-" + std::to_string(getuid())) + "/virtswarm";
        state = envOr("XDG_DATA_HOME", home + "/.local/share") + "/virtswarm";
        logs = envOr("XDG_STATE_HOME", home + "/.local/state") + "/virtswarm/log";
    }
    return DaemonPaths{
        envOr("VIRTSWARM_CONFIG_DIR", config) + "/" + daemon,
        envOr("VIRTSWARM_RUNTIME_DIR", runtime) + "/" + daemon,
        envOr("VIRTSWARM_STATE_DIR", state) + "/" + daemon,
        envOr("VIRTSWARM_LOG_DIR", logs) + "/" + daemon,
    };
}

Result<void> createDaemonPaths(const DaemonPaths& paths, BusMode mode) {
    mode_t m = mode == BusMode::System ? 0755 : 0700;
    for (const auto* dir : {&paths.configDir, &paths.runtimeDir, &paths.stateDir, &paths.logDir}) {
        if (auto r = makeDirectories(*dir, m); !r) {
            return r;
        }
    }
    return success();
}

} // namespace virtswarm
