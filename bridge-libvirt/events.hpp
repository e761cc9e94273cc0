// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "network_client.hpp"
#include "registry_client.hpp"
#include "storage_client.hpp"

#include <algorithm>
#include <cstdint>
#include <functional>

namespace virtswarm::bridge {

class Client;

// Lifecycle events: Manager.DomainEvent signals of the registry become
// DOMAIN_EVENT_CALLBACK_LIFECYCLE messages to every client callback registered for domain
// event id 0, and networkd's Manager.NetworkEvent becomes NETWORK_EVENT_LIFECYCLE for
// network event id 0, storaged's Manager.PoolEvent becomes STORAGE_POOL_EVENT_LIFECYCLE
// for pool event id 0, and nodedevd's Manager.NodeDeviceEvent NODE_DEVICE_EVENT_LIFECYCLE
// for node device event id 0 (in each case only for the one object, when the registration
// named one).
class EventForwarder {
public:
    using ForEachClient = std::function<void(const std::function<void(Client&)>&)>;

    EventForwarder(const DomainCache& cache, ForEachClient forEachClient)
        : m_cache(cache)
        , m_forEachClient(std::move(forEachClient)) {}

    void forward(const DomainEventSignal& event);
    void forward(const NetworkEventSignal& event);
    void forward(const StoragePoolEventSignal& event);
    // storaged's Manager.PoolRefreshed: STORAGE_POOL_EVENT_REFRESH for pool event id 1.
    void forwardRefresh(const RemoteStoragePool& pool);
    // DOMAIN_EVENT_CALLBACK_REBOOT (event id 1) and _DEVICE_REMOVED (event id 15).
    void forward(const DomainNoticeSignal& notice);
    // nodedevd's Manager.NodeDeviceEvent: NODE_DEVICE_EVENT_LIFECYCLE for node device
    // event id 0 (event: created 0, deleted 1).
    void forwardNodeDevice(const std::string& name, int32_t event, int32_t detail);

    // Callback ids are unique per bridge, never reused.
    int32_t nextCallbackId() { return m_nextCallbackId++; }
    // After a re-exec: the connections taken over use IDs up to `last`.
    void skipCallbackIdsTo(int32_t last) {
        m_nextCallbackId = std::max(m_nextCallbackId, last + 1);
    }

private:
    const DomainCache& m_cache;
    ForEachClient m_forEachClient;
    int32_t m_nextCallbackId = 1;
};

} // namespace virtswarm::bridge
