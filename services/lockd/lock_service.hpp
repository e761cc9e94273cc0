// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "lease_table.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"

#include <functional>
#include <map>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::lock {

// The host's lease table, kept on disk and kept honest: every change is written atomically
// before it is answered (a kill -9 or a re-exec loses nothing), and a domain's leases go
// when both its holder has left the bus (NameOwnerChanged from the bus driver) and its
// recorded process is gone (pidfd).
class LockService {
public:
    LockService(sdbus::IConnection& bus, EventLoop& loop, BusMode mode, const DaemonPaths& paths);
    ~LockService();
    LockService(const LockService&) = delete;
    LockService& operator=(const LockService&) = delete;

    // Reads the persisted table (a file that does not parse is kept aside and lockd starts
    // empty: refusing to start would block every VM) and subscribes to the bus driver.
    Result<void> load();
    // Once the bus name is ours: which holders and processes of the loaded table are
    // still there (nothing of the table is changed before, so a second lockd that loses
    // the race for the name has touched nothing).
    void reconcile();

    Result<void> acquire(const std::string& domain, const std::string& holder, uid_t uid,
                         const std::vector<LeaseRequest>& requests);
    Result<void> release(const std::string& domain, const std::string& caller, uid_t uid,
                         const std::vector<std::string>& paths);
    // `pidfd` is the caller's; lockd keeps a copy of it.
    Result<void> setProcess(const std::string& domain, const std::string& caller, int pidfd);
    const LeaseTable& table() const { return m_table; }

    Authority& authority() { return m_authority; }
    sdbus::IConnection& connection() { return m_bus; }
    EventLoop& loop() { return m_loop; }

private:
    // Applies `change` to a copy of the table, writes it, and only then makes it current.
    Result<void> commit(const std::function<Result<void>(LeaseTable&)>& change);
    void onNameOwnerChanged(sdbus::Message& message);
    void holderLeft(const std::string& holder);
    // Watches the domain's recorded process; false if it is already gone.
    bool watchProcess(const std::string& domain, const HeldProcess& process);
    void processEnded(const std::string& domain);
    // Drops the domain's leases if its holder and its process are both gone.
    void releaseIfAbandoned(const std::string& domain);

    sdbus::IConnection& m_bus;
    EventLoop& m_loop;
    Authority m_authority;
    std::string m_file;
    LeaseTable m_table;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::vector<sdbus::Slot> m_matches;
    struct ProcessWatch {
        int pidfd = -1;
        EventSource source;
    };
    std::map<std::string, ProcessWatch> m_processes; // by domain
    Lifetime m_lifetime;
};

} // namespace virtswarm::lock
