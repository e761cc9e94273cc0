// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/nwfilter_def.hpp"
#include "virtswarm/result.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::network {

// The network filter an interface asked for (<filterref> in its domain XML), as AcquireTap's
// options carry it: "filter" (s), "filter_parameters" (a(ss)), "owner_name" (s),
// "owner_uuid" (s).
struct FilterRequest {
    std::string filter;
    nwfilter::Parameters parameters;
    std::string ownerName;
    std::string ownerUuid;
};

// The filter request in AcquireTap's options, none without "filter", or InvalidArgs for
// options of the wrong type or beyond nwfilterd's bounds (checked before any TAP exists).
Result<std::optional<FilterRequest>> filterRequestFrom(const Options& options);

// libvirt's <filterbinding> for the TAP `port` of the guest NIC with MAC `mac`.
std::string filterBindingXml(const FilterRequest& request, const std::string& port,
                             const std::string& mac);

// Binds filters to the TAPs networkd makes, through virtswarm-nwfilterd (activated by the
// first call): an async call with a timeout, so networkd never waits on nwfilterd. The
// binding goes with the TAP: nwfilterd drops it when the device disappears.
class FilterBinder {
public:
    explicit FilterBinder(sdbus::IConnection& bus);
    ~FilterBinder();

    // `done` gets nwfilterd's error as it is (NoSuchNWFilter, InvalidArgs, ...).
    void bind(const FilterRequest& request, const std::string& port, const std::string& mac,
              std::function<void(Result<void>)> done);

private:
    sdbus::IConnection& m_bus;
    std::unique_ptr<sdbus::IProxy> m_nwfilterd; // made at the first binding
};

} // namespace virtswarm::network
