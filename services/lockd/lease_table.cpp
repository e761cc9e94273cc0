// SPDX-License-Identifier: LGPL-2.1-or-later
#include "lease_table.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace virtswarm::lock {

const char* leaseModeName(LeaseMode mode) {
    return mode == LeaseMode::Exclusive ? "exclusive" : "shared";
}

const std::string* LeaseTable::conflictingDomain(const std::string& domain, const std::string& key,
                                                 LeaseMode mode) const {
    for (const auto& [other, owner] : m_owners) {
        if (other == domain) {
            continue;
        }
        auto it = owner.leases.find(key);
        if (it == owner.leases.end()) {
            continue;
        }
        if (mode == LeaseMode::Exclusive || it->second.mode == LeaseMode::Exclusive) {
            return &other;
        }
    }
    return nullptr;
}

Result<void> LeaseTable::acquire(const std::string& domain, const std::string& holder, uid_t uid,
                                 const std::vector<LeaseRequest>& requests) {
    if (requests.size() > kMaxDisksPerCall) {
        return Error(Code::LimitsExceeded,
                     "at most " + std::to_string(kMaxDisksPerCall) + " disks per request");
    }
    auto existing = m_owners.find(domain);
    // No disks is a take-over only (a re-attaching shim): with nothing held there is
    // nothing to take, and no empty entry is made.
    if (requests.empty() && existing == m_owners.end()) {
        return success();
    }
    if (existing != m_owners.end() && existing->second.holder != holder) {
        const Owner& owner = existing->second;
        // A shim re-attaching to a running QEMU takes over what its predecessor held;
        // nobody takes leases from a holder still on the bus, or from another user.
        if (!owner.holderGone || owner.uid != uid) {
            return Error(Code::ResourceBusy, "the disk leases of domain " + domain +
                                                 " are held by another process (" + owner.holder +
                                                 ")");
        }
    }
    // One image named twice by a domain (two paths, or a disk and its cdrom twin) is one
    // lease, exclusive if either use writes.
    std::map<std::string, Lease> wanted;
    for (const auto& request : requests) {
        auto [it, fresh] = wanted.emplace(request.key, Lease{request.path, request.mode});
        if (!fresh && request.mode == LeaseMode::Exclusive) {
            it->second.mode = LeaseMode::Exclusive;
        }
    }
    size_t added = 0;
    for (const auto& [key, lease] : wanted) {
        if (const std::string* other = conflictingDomain(domain, key, lease.mode)) {
            return Error(Code::ResourceBusy, "disk '" + lease.path + "' is in use by domain " +
                                                 *other + " (" + leaseModeName(lease.mode) +
                                                 " lease refused)");
        }
        if (existing == m_owners.end() || existing->second.leases.count(key) == 0) {
            ++added;
        }
    }
    if (leaseCount() + added > kMaxLeases) {
        return Error(Code::LimitsExceeded, "lockd holds too many leases");
    }
    Owner& owner = m_owners[domain];
    if (owner.holder != holder) {
        owner.holder = holder;
        owner.uid = uid;
    }
    owner.holderGone = false;
    for (auto& [key, lease] : wanted) {
        owner.leases[key] = std::move(lease);
    }
    return success();
}

Result<void> LeaseTable::release(const std::string& domain, const std::string& caller, uid_t uid,
                                 const std::vector<std::string>& paths) {
    auto it = m_owners.find(domain);
    if (it == m_owners.end()) {
        return Error(Code::InvalidArgs, "domain " + domain + " holds no disk leases");
    }
    Owner& owner = it->second;
    // The holder, root, or (as for acquire) a process of the holder's uid once the holder
    // has left the bus: a re-attached shim detaching a disk.
    bool orphanOfSameUser = owner.holderGone && owner.uid == uid;
    if (owner.holder != caller && uid != 0 && !orphanOfSameUser) {
        return Error(Code::AccessDenied,
                     "the disk leases of domain " + domain + " are held by another process");
    }
    std::vector<std::string> keys;
    for (const auto& path : paths) {
        auto lease = std::find_if(owner.leases.begin(), owner.leases.end(),
                                  [&](const auto& entry) { return entry.second.path == path; });
        if (lease == owner.leases.end()) {
            return Error(Code::InvalidArgs,
                         "domain " + domain + " holds no lease on '" + path + "'");
        }
        keys.push_back(lease->first);
    }
    if (paths.empty()) {
        m_owners.erase(it);
        return success();
    }
    for (const auto& key : keys) {
        owner.leases.erase(key);
    }
    if (owner.leases.empty()) {
        m_owners.erase(it);
    }
    return success();
}

Result<void> LeaseTable::setProcess(const std::string& domain, const std::string& caller,
                                    HeldProcess process) {
    Owner* owner = find(domain);
    if (owner == nullptr) {
        return Error(Code::InvalidArgs, "domain " + domain + " holds no disk leases");
    }
    if (owner->holder != caller) {
        return Error(Code::AccessDenied,
                     "the disk leases of domain " + domain + " are held by another process");
    }
    owner->process = process;
    return success();
}

void LeaseTable::drop(const std::string& domain) {
    m_owners.erase(domain);
}

Owner* LeaseTable::find(const std::string& domain) {
    auto it = m_owners.find(domain);
    return it == m_owners.end() ? nullptr : &it->second;
}

size_t LeaseTable::leaseCount() const {
    size_t n = 0;
    for (const auto& [domain, owner] : m_owners) {
        n += owner.leases.size();
    }
    return n;
}

std::string LeaseTable::serialize() const {
    nlohmann::json domains = nlohmann::json::array();
    for (const auto& [domain, owner] : m_owners) {
        nlohmann::json leases = nlohmann::json::array();
        for (const auto& [key, lease] : owner.leases) {
            leases.push_back(
                {{"key", key}, {"path", lease.path}, {"mode", leaseModeName(lease.mode)}});
        }
        domains.push_back({{"domain", domain},
                           {"holder", owner.holder},
                           {"uid", owner.uid},
                           {"pid", owner.process.pid},
                           {"start_time", owner.process.startTime},
                           {"leases", std::move(leases)}});
    }
    return nlohmann::json{{"version", 1}, {"domains", std::move(domains)}}.dump(1) + "\n";
}

Result<LeaseTable> LeaseTable::parse(const std::string& text) {
    LeaseTable table;
    try {
        auto json = nlohmann::json::parse(text);
        if (json.at("version").get<int>() != 1) {
            return Error(Code::NotSupported, "unknown lease file version");
        }
        for (const auto& entry : json.at("domains")) {
            Owner owner;
            owner.holder = entry.at("holder").get<std::string>();
            owner.uid = entry.at("uid").get<uid_t>();
            owner.process.pid = entry.at("pid").get<pid_t>();
            owner.process.startTime = entry.at("start_time").get<uint64_t>();
            for (const auto& lease : entry.at("leases")) {
                std::string mode = lease.at("mode").get<std::string>();
                if (mode != "exclusive" && mode != "shared") {
                    return Error(Code::InvalidArgs, "unknown lease mode '" + mode + "'");
                }
                owner.leases[lease.at("key").get<std::string>()] =
                    Lease{lease.at("path").get<std::string>(),
                          mode == "exclusive" ? LeaseMode::Exclusive : LeaseMode::Shared};
            }
            table.m_owners[entry.at("domain").get<std::string>()] = std::move(owner);
        }
    } catch (const nlohmann::json::exception& e) {
        return Error(Code::InvalidArgs, std::string("malformed lease file: ") + e.what());
    }
    return table;
}

} // namespace virtswarm::lock
