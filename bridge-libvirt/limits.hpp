// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

// What one client, and one user, may cost the bridge. libvirtd's max_clients,
// max_anonymous_clients and max_client_requests are the anchors; the defaults are the
// command-line defaults of virtswarm-proxyd (docs/bridge.md, "Limits").
namespace virtswarm::bridge {

// Per connection.
struct ClientLimits {
    // Calls in flight before the client's socket stops being read (libvirtd's
    // max_client_requests does the same): a flood waits in the kernel, not in our memory.
    size_t maxPendingCalls = 16;
    // Queued output above which no new calls are read until the client catches up.
    size_t outputHighWater = 4 * 1024 * 1024;
    // Queued output at which a client that does not read its events is disconnected.
    // Replies never trip it: they are bounded by maxPendingCalls.
    size_t eventOutputLimit = 32 * 1024 * 1024;
    // Largest message before CONNECT_OPEN: the handshake needs a few hundred bytes, and a
    // stranger must not make us hold 16 MiB.
    uint32_t preOpenMessageMax = 64 * 1024;
    // A connection that has not opened by then is closed (zero: never).
    std::chrono::milliseconds openTimeout = std::chrono::seconds(30);
};

// Per server: who may connect, and how much unfinished input all clients may hold.
struct ServerLimits {
    // All connections (libvirtd's max_clients) ...
    size_t maxClients = 1024;
    // ... of which the last ones are only for root, so a user at the limit never locks
    // root out.
    size_t rootReserve = 32;
    // Connections of one uid other than root (TCP peers count as one user).
    size_t maxClientsPerUid = 64;
    // Connections of one uid other than root that have not done CONNECT_OPEN yet
    // (libvirtd's max_anonymous_clients, kept per user).
    size_t maxAnonymousClientsPerUid = 20;
    // Bytes of unfinished input (the frame being received) of one uid other than root,
    // and of all such uids together. A client that would exceed either is closed.
    size_t maxBufferPerUid = 64 * 1024 * 1024;
    size_t maxBuffer = 256 * 1024 * 1024;
    // File descriptors received and not yet handed to a call (of a *_WITH_FDS message
    // still arriving, or sent with no message announcing them), of one uid other than
    // root and of all of them: each is a descriptor of ours, which admission does not
    // count. A client that would exceed either is closed.
    size_t maxHeldFdsPerUid = 128;
    size_t maxHeldFds = 512;
};

} // namespace virtswarm::bridge
