// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "filter_graph.hpp"
#include "ip_learner.hpp"
#include "nft_runner.hpp"
#include "port_monitor.hpp"
#include "port_rules.hpp"
#include "virtswarm/definition_store.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/nwfilter_binding.hpp"
#include "virtswarm/nwfilter_def.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/service/object_registry.hpp"

#include <functional>
#include <map>
#include <sdbus-c++/sdbus-c++.h>
#include <string>
#include <vector>

namespace virtswarm::nwfilter {

class FilterObject;
class BindingObject;

inline constexpr service::ObjectKind kFilterKind{"nwfilter", names::kNWFilterPathPrefix,
                                                 Code::NWFilterExists, Code::NoSuchNWFilter};
// Bindings on the bus, keyed by their port device (escaped into a path element).
inline constexpr service::ObjectKind kBindingKind{"nwfilter binding",
                                                  names::kNWFilterBindingPathPrefix, Code::Conflict,
                                                  Code::NoSuchNWFilterBinding};

// nwfilterd's model: the filters (persistent definitions), the bindings of filters to
// ports (kept in the runtime directory: they live as long as the ports, not across a
// reboot), and the nftables table that holds what the bindings compile to.
//
// Every change is checked in full before anything changes (references, loops, and the
// compilation of every port it affects), then saved, then applied to nftables in one
// transaction; `done` is called once the rules are in place.
class FilterRegistry {
public:
    FilterRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                   DaemonPaths paths);
    ~FilterRegistry();

    // Loads the definitions (installing the standard filters on first start) and the
    // bindings, rebuilds the table from them, then calls `ready`.
    void start(std::function<void()> ready);

    void define(FilterXml filter, std::function<void(Result<FilterObject*>)> done);
    void undefine(FilterObject& filter, std::function<void(Result<void>)> done);

    void bind(BindingXml binding, std::function<void(Result<void>)> done);
    void unbind(const std::string& port, std::function<void(Result<void>)> done);
    Result<const BindingXml*> binding(const std::string& port) const;
    std::vector<std::string> boundPorts() const;
    // The addresses learned for the port's $IP (none for a port without a binding).
    std::vector<std::string> learnedIps(const std::string& port) const;

    const service::ObjectRegistry<FilterObject>& filters() const { return m_filters; }
    // The filters as they are, or with `replacement` in place of the filter of its name.
    FilterLookup lookup(const FilterDef* replacement = nullptr) const;

    sdbus::IConnection& connection() { return m_connection; }
    Authority& authority() { return m_authority; }
    static std::string objectPathFor(const UuidBytes& uuid) {
        return service::objectPath(kFilterKind.pathPrefix, uuid);
    }

private:
    struct Bound {
        BindingXml binding;
        PortRules rules;
        int ifindex = 0; // of the port's device when bound; 0: there was none
        // CTRL_IP_LEARNING=any|dhcp: the address learned ($IP): leased by DHCP, until the
        // lease ends, or (any) the first the guest used, until the binding goes.
        std::vector<std::string> learned;
        std::unique_ptr<IpLearner> learner;
        EventSource leaseEnd;
        // `any`: the guest used another address than the learned one (logged once, then its
        // frames are no longer watched).
        bool movedLogged = false;
    };

    Result<FilterObject*> add(FilterXml filter);
    void installStandardFilters();
    bool loadBindings();
    std::string bindingPath(const std::string& port) const;
    // Someone refers to `name`: another filter, or a port bound to a filter that reaches it.
    std::optional<std::string> user(const std::string& name) const;
    // Applies `transaction` (a rebuild while the table is not ready); on failure rebuilds
    // the whole table from the state.
    void applyOrRebuild(std::string transaction, std::function<void(Result<void>)> done);
    void rebuild(std::function<void(Result<void>)> done);
    // The device `ifindex` is gone: so is the binding of its port (not that of a newer
    // device with the same name).
    void portRemoved(int ifindex);
    // After lost notifications: drops the bindings whose device is gone or was replaced.
    void dropGonePorts();
    void dropBinding(const std::string& port, const std::string& why);
    // The binding of `port` (in m_bound) joins the bus / leaves it.
    void addBindingObject(const std::string& port);
    void removeBinding(const std::string& port);
    // CTRL_IP_LEARNING=dhcp|any (ip_learner.hpp), for a port whose rules use $IP: watches
    // the port for DHCPACKs. The address a trusted server leased becomes $IP (saved beside
    // the binding, so a restarted nwfilterd keeps it) until the lease ends; each change
    // recompiles the port in one transaction. With `any`, while nothing is learned, the
    // first usable address of the guest's own ARP or IPv4 becomes $IP for good (a later
    // DHCPACK replaces it; another address of the guest's is ignored, logged once).
    void startLearning(const std::string& port, Bound& bound);
    void learn(const std::string& port, const DhcpLease& lease);
    void guestUsed(const std::string& port, const std::string& address);
    // With `any`: which of the guest's frames the learner watches, after what is learned.
    void watchGuest(const std::string& port, Bound& bound);
    void setLearned(const std::string& port, std::vector<std::string> addresses, int64_t leaseEnd);
    std::string learnedPath(const std::string& port) const;
    // The address saved for `port`, if its lease has not ended.
    void loadLearned(const std::string& port, Bound& bound);
    // A timer that forgets the learned address at `leaseEnd` (wall-clock seconds; 0: never).
    void armLeaseEnd(const std::string& port, Bound& bound, int64_t leaseEnd);

    sdbus::IConnection& m_connection;
    EventLoop& m_loop;
    DaemonPaths m_paths;
    Authority m_authority;
    DefinitionStore m_store;
    NftRunner m_nft;
    service::ObjectRegistry<FilterObject> m_filters;
    std::map<std::string, Bound> m_bound; // by port device
    // The bindings' objects (each reads its Bound): gone before m_bound is.
    service::ObjectRegistry<BindingObject> m_bindingObjects;
    // The table's base (maps, hook chains) was made by this nwfilterd: updates of single
    // ports can be applied. Until then every change rebuilds the table.
    bool m_tableReady = false;
    PortMonitor m_ports; // last: its callbacks use the members above
};

} // namespace virtswarm::nwfilter
