// SPDX-License-Identifier: LGPL-2.1-or-later
#include "filter_binder.hpp"

#include "virtswarm/names.hpp"
#include "virtswarm/xml.hpp"

#include <chrono>

namespace virtswarm::network {
namespace {

using ParameterList = std::vector<sdbus::Struct<std::string, std::string>>;

// Room for nwfilterd's activation by the call, its first nft transaction (the whole table)
// and a loaded host; AcquireTap's own timeout (20 s in the interface XML) is the shim's
// bound on all of it.
constexpr std::chrono::seconds kBindTimeout{15};

Error badOption(const std::string& what) {
    return Error(Code::InvalidArgs, "AcquireTap: " + what);
}

template <typename T> Result<T> typedOption(const Options& options, const char* key) {
    auto it = options.find(key);
    if (it == options.end()) {
        return T{};
    }
    if (!it->second.containsValueOfType<T>()) {
        return badOption(std::string("option '") + key + "' has the wrong type");
    }
    return it->second.get<T>();
}

} // namespace

Result<std::optional<FilterRequest>> filterRequestFrom(const Options& options) {
    auto filter = typedOption<std::string>(options, "filter");
    auto parameters = typedOption<ParameterList>(options, "filter_parameters");
    auto ownerName = typedOption<std::string>(options, "owner_name");
    auto ownerUuid = typedOption<std::string>(options, "owner_uuid");
    if (!filter || !parameters || !ownerName || !ownerUuid) {
        return badOption("an option of the filter request has the wrong type");
    }
    if (filter.value().empty()) {
        if (!parameters.value().empty()) {
            return badOption("'filter_parameters' without 'filter'");
        }
        return std::optional<FilterRequest>();
    }
    // nwfilterd's bounds, checked before a TAP is made for a request it would refuse.
    if (filter.value().size() > nwfilter::kMaxFilterNameBytes ||
        parameters.value().size() > nwfilter::kMaxParameters || ownerName.value().size() > 1024 ||
        (!ownerUuid.value().empty() && !parseUuid(ownerUuid.value()))) {
        return badOption("filter request beyond bounds");
    }
    FilterRequest request{filter.value(), {}, ownerName.value(), ownerUuid.value()};
    for (const auto& parameter : parameters.value()) {
        const std::string& name = parameter.get<0>();
        const std::string& value = parameter.get<1>();
        if (!nwfilter::validVariableName(name) || value.size() > nwfilter::kMaxValueBytes) {
            return badOption("bad filter parameter '" + name.substr(0, 64) + "'");
        }
        request.parameters.emplace_back(name, value);
    }
    return std::optional<FilterRequest>(std::move(request));
}

std::string filterBindingXml(const FilterRequest& request, const std::string& port,
                             const std::string& mac) {
    auto doc = xml::Document::parse("<filterbinding/>");
    xml::Node root = doc.value().root();
    xml::Node owner = xml::appendChild(root, "owner");
    xml::appendChild(owner, "name", request.ownerName);
    if (!request.ownerUuid.empty()) {
        xml::appendChild(owner, "uuid", request.ownerUuid);
    }
    xml::setAttribute(xml::appendChild(root, "portdev"), "name", port);
    xml::setAttribute(xml::appendChild(root, "mac"), "address", mac);
    xml::Node ref = xml::appendChild(root, "filterref");
    xml::setAttribute(ref, "filter", request.filter);
    for (const auto& [name, value] : request.parameters) {
        xml::Node parameter = xml::appendChild(ref, "parameter");
        xml::setAttribute(parameter, "name", name);
        xml::setAttribute(parameter, "value", value);
    }
    return doc.value().serialize();
}

FilterBinder::FilterBinder(sdbus::IConnection& bus)
    : m_bus(bus) {}

FilterBinder::~FilterBinder() = default;

void FilterBinder::bind(const FilterRequest& request, const std::string& port,
                        const std::string& mac, std::function<void(Result<void>)> done) {
    try {
        if (!m_nwfilterd) {
            m_nwfilterd =
                sdbus::createProxy(m_bus, names::kNWFilterBusName, names::kNWFilterRootPath);
        }
        m_nwfilterd->callMethodAsync("CreateBinding")
            .onInterface(names::kNWFilterManagerInterface)
            .withTimeout(kBindTimeout)
            .withArguments(filterBindingXml(request, port, mac), Options{})
            .uponReplyInvoke([done, port](const sdbus::Error* error, std::string) {
                if (error == nullptr) {
                    done(success());
                    return;
                }
                Error e = fromDBusError(*error);
                done(e.prefix("filter binding of " + port));
            });
    } catch (const sdbus::Error& e) {
        done(Error(Code::OperationFailed, "cannot reach virtswarm-nwfilterd: " + e.getMessage()));
    }
}

} // namespace virtswarm::network
