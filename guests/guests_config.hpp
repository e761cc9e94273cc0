// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <chrono>
#include <string>
#include <string_view>

namespace virtswarm::guests {

// What happens to a running guest when the host goes down.
enum class ShutdownAction { Shutdown, Suspend, Destroy };
// What happens at boot to the guests the last host shutdown stopped.
enum class BootAction { Start, Ignore };

const char* actionName(ShutdownAction action);

// /etc/default/virtswarm-guests, named and read like libvirt-guests' file: shell-style
// KEY=value lines. Every value is checked: a typo must not silently turn a clean
// shutdown into a hard power-off.
struct GuestsConfig {
    BootAction onBoot = BootAction::Start;
    // Pause between two guests restarted at boot (libvirt's START_DELAY).
    std::chrono::seconds startDelay{0};
    ShutdownAction onShutdown = ShutdownAction::Shutdown;
    // How long one guest may take to power off after its ACPI request; 0 waits forever.
    std::chrono::seconds shutdownTimeout{300};
    // What is done to a guest still running when its timeout is over.
    ShutdownAction onShutdownTimeout = ShutdownAction::Destroy;
    // How many guests are asked to shut down at once; 0 or 1 means one after the other.
    unsigned parallelShutdown = 0;
    // Managed save writes around the host page cache (libvirt's BYPASS_CACHE).
    bool bypassCache = false;
    // How long boot waits for the autostart networks, then for the autostart domains.
    std::chrono::seconds bootTimeout{120};
};

// Parses the file's text; the first bad line is an InvalidArgs error naming the line,
// the key and the accepted values.
Result<GuestsConfig> parseGuestsConfig(std::string_view text);

// Reads and parses `path`; a missing file means all defaults, as for libvirt-guests.
Result<GuestsConfig> loadGuestsConfig(const std::string& path);

} // namespace virtswarm::guests
