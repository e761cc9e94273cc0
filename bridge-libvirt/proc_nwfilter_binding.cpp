// SPDX-License-Identifier: LGPL-2.1-or-later
// Network filter binding procedures (virsh nwfilter-binding-*), forwarded to nwfilterd's
// binding methods (keyed by port device). Creating, reading and deleting are checked for the
// client with the same actions and details (port_dev, nwfilter_name) as the D-Bus methods;
// listing and lookups are not, as ListBindings is not: port names are not secret.
#include "procedures.hpp"
#include "virtswarm/nwfilter_binding.hpp"

#include <memory>

namespace virtswarm::bridge {
namespace {

constexpr auto kCreate = actions::forMethod(names::kNWFilterManagerInterface, "CreateBinding");
constexpr auto kDelete = actions::forMethod(names::kNWFilterManagerInterface, "DeleteBinding");
constexpr auto kRead = actions::forMethod(names::kNWFilterManagerInterface, "GetBindingXML");

// remote_nonnull_nwfilter_binding
struct RemoteBinding {
    std::string portDev;
    std::string filterName;
};

RemoteBinding readBinding(xdr::Reader& args) {
    RemoteBinding b;
    b.portDev = args.string(proto::kStringMax);
    b.filterName = args.string(proto::kStringMax);
    return b;
}

void writeBinding(xdr::Writer& w, const RemoteBinding& b) {
    w.string(b.portDev);
    w.string(b.filterName);
}

void replyBinding(const CallPtr& call, const RemoteBinding& b) {
    xdr::Writer w;
    writeBinding(w, b);
    call->reply(w);
}

// The binding of `port` as the protocol names it (port and filter), from nwfilterd's XML.
void lookup(Services& services, const std::string& port,
            std::function<void(Result<RemoteBinding>)> done) {
    services.nwfilters.bindingXml(port, [port, done](Result<std::string> xml) {
        if (!xml) {
            done(xml.takeError());
            return;
        }
        auto parsed = nwfilter::parseBindingXml(xml.value());
        if (!parsed) {
            done(Error(Code::Internal, "nwfilterd's binding of " + port + " does not parse"));
            return;
        }
        done(RemoteBinding{port, parsed.value().def.filter.filter});
    });
}

// `then(port)` once polkit allowed `action` on the binding nwfilterd has for `port`: the
// details are nwfilterd's (the filter actually bound), not what the client says.
void withAuthorizedBinding(Services& services, const CallPtr& call, const std::string& port,
                           actions::MethodAction action,
                           std::function<void(const std::string&)> then) {
    lookup(services, port, [&services, call, action, then](Result<RemoteBinding> b) {
        if (!b) {
            call->fail(b.error());
            return;
        }
        authorize(services, call, actions::actionId(action),
                  actions::bindingDetails(b.value().portDev, b.value().filterName),
                  [then, port = b.value().portDev] { then(port); });
    });
}

void lookupByPortDev(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string port = args.string(proto::kStringMax);
    if (!argsDone(call, args)) {
        return;
    }
    lookup(services, port, [call](Result<RemoteBinding> b) {
        if (!b) {
            call->fail(b.error());
            return;
        }
        replyBinding(call, b.value());
    });
}

// Looks up each port in turn (one call to nwfilterd at a time), then answers the list.
void collect(Services& services, const CallPtr& call,
             std::shared_ptr<std::vector<std::string>> ports,
             std::shared_ptr<std::vector<RemoteBinding>> found) {
    if (found->size() == ports->size()) {
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(found->size()));
        for (const auto& b : *found) {
            writeBinding(w, b);
        }
        w.u32(static_cast<uint32_t>(found->size()));
        call->reply(w);
        return;
    }
    std::string port = (*ports)[found->size()];
    lookup(services, port, [&services, call, ports, found, port](Result<RemoteBinding> b) {
        if (b) {
            found->push_back(b.value());
        } else {
            // Unbound in the meantime (its TAP went): not listed.
            ports->erase(ports->begin() + static_cast<std::ptrdiff_t>(found->size()));
        }
        collect(services, call, ports, found);
    });
}

void listAll(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    services.nwfilters.listBindings(
        [&services, call, needResults](Result<std::vector<std::string>> ports) {
            if (!ports) {
                call->fail(ports.error());
                return;
            }
            auto listed = std::make_shared<std::vector<std::string>>(std::move(ports).value());
            if (listed->size() > proto::kNWFilterBindingListMax) {
                listed->resize(proto::kNWFilterBindingListMax);
            }
            if (needResults == 0) {
                // The count only.
                xdr::Writer w;
                w.u32(0);
                w.u32(static_cast<uint32_t>(listed->size()));
                call->reply(w);
                return;
            }
            collect(services, call, listed, std::make_shared<std::vector<RemoteBinding>>());
        });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteBinding named = readBinding(args);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    withAuthorizedBinding(services, call, named.portDev, kRead,
                          [&services, call](const std::string& port) {
                              services.nwfilters.bindingXml(port, [call](Result<std::string> xml) {
                                  replyStringOrFail(call, xml);
                              });
                          });
}

// CREATE_XML: parsed here with nwfilterd's own parser for the polkit details.
void createXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    if (!flagsKnown(call, flags)) {
        return;
    }
    auto parsed = nwfilter::parseBindingXml(xml);
    if (!parsed) {
        call->fail(parsed.error());
        return;
    }
    RemoteBinding binding{parsed.value().def.portDev, parsed.value().def.filter.filter};
    authorize(services, call, actions::actionId(kCreate),
              actions::bindingDetails(binding.portDev, binding.filterName),
              [&services, call, binding, xml = std::move(parsed.value().xml)] {
                  services.nwfilters.createBinding(xml, [call, binding](Result<std::string> port) {
                      if (!port) {
                          call->fail(port.error());
                          return;
                      }
                      replyBinding(call, binding);
                  });
              });
}

void deleteBinding(Services& services, const CallPtr& call, xdr::Reader& args) {
    RemoteBinding named = readBinding(args);
    if (!argsDone(call, args)) {
        return;
    }
    withAuthorizedBinding(services, call, named.portDev, kDelete,
                          [&services, call](const std::string& port) {
                              services.nwfilters.deleteBinding(
                                  port, [call](Result<void> r) { replyVoidOrFail(call, r); });
                          });
}

constexpr Procedure kProcedures[] = {
    {proto::NWFilterBindingLookupByPortDev, "virNWFilterBindingLookupByPortDev", Access::Read,
     lookupByPortDev},
    {proto::NWFilterBindingGetXmlDesc, "virNWFilterBindingGetXMLDesc", Access::Read, getXmlDesc},
    {proto::NWFilterBindingCreateXml, "virNWFilterBindingCreateXML", Access::Write, createXml},
    {proto::NWFilterBindingDelete, "virNWFilterBindingDelete", Access::Write, deleteBinding},
    {proto::ConnectListAllNWFilterBindings, "virConnectListAllNWFilterBindings", Access::Read,
     listAll},
};

} // namespace

std::span<const Procedure> nwfilterBindingProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
