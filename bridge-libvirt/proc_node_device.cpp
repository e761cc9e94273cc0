// SPDX-License-Identifier: LGPL-2.1-or-later
// Node device procedures (virsh nodedev-*), answered from nodedevd's mirrored devices
// (lists, lookups, parents, capabilities) or forwarded to nodedevd after the client's
// polkit check with the same action and details as the D-Bus method (GetXML: read;
// detach, re-attach, reset: detach; creating a mediated device: start with the parent's
// details; destroying one: stop).
#include "procedures.hpp"
#include "virtswarm/mdev_def.hpp"
#include "virtswarm/uuid.hpp"

#include <algorithm>
#include <map>

namespace virtswarm::bridge {
namespace {

constexpr auto kGetXml = actions::forMethod(names::kNodeDeviceInterface, "GetXML");
constexpr auto kDetach = actions::forMethod(names::kNodeDeviceInterface, "Detach");
constexpr auto kReAttach = actions::forMethod(names::kNodeDeviceInterface, "ReAttach");
constexpr auto kReset = actions::forMethod(names::kNodeDeviceInterface, "Reset");
constexpr auto kDestroy = actions::forMethod(names::kNodeDeviceInterface, "Destroy");
constexpr auto kCreateMdev = actions::forMethod(names::kNodeDeviceManagerInterface, "CreateMdev");

// virConnectListAllNodeDeviceFlags: one bit per capability type.
const std::map<std::string, uint32_t>& capabilityFlags() {
    static const std::map<std::string, uint32_t> flags{
        {"system", 1u << 0},      {"pci", 1u << 1},         {"usb_device", 1u << 2},
        {"usb", 1u << 3},         {"net", 1u << 4},         {"scsi_host", 1u << 5},
        {"scsi_target", 1u << 6}, {"scsi", 1u << 7},        {"storage", 1u << 8},
        {"fc_host", 1u << 9},     {"vports", 1u << 10},     {"scsi_generic", 1u << 11},
        {"drm", 1u << 12},        {"mdev_types", 1u << 13}, {"mdev", 1u << 14}};
    return flags;
}

bool hasCapability(const CachedNodeDevice& device, const std::string& capability) {
    return std::find(device.capabilities.begin(), device.capabilities.end(), capability) !=
           device.capabilities.end();
}

// No capability flag set: every device; else those with any of the capabilities asked
// for. Devices are all active (found on the host; no inactive definitions yet).
bool matchesFlags(const CachedNodeDevice& device, uint32_t flags) {
    uint32_t capabilityBits = flags & ((1u << 30) - 1);
    if (capabilityBits == 0) {
        return true;
    }
    for (const auto& [capability, bit] : capabilityFlags()) {
        if ((capabilityBits & bit) != 0 && hasCapability(device, capability)) {
            return true;
        }
    }
    return false;
}

PolkitDetails detailsOf(const CachedNodeDevice& device) {
    return actions::nodeDeviceDetails(device.name, device.vendorId, device.productId,
                                      device.deviceClass);
}

// Runs `then` with the device the client named once the cache is in sync; answers
// NO_NODE_DEVICE itself otherwise.
void withDevice(Services& services, const CallPtr& call, const std::string& name,
                std::function<void(const CachedNodeDevice&)> then) {
    whenCacheSynced(services.nodeDevices, call,
                    [call, name, then = std::move(then)](const NodeDeviceCache& cache) {
                        const auto* device = cache.byName(name);
                        if (device == nullptr) {
                            call->fail(Error(Code::NoSuchNodeDevice,
                                             "no node device with matching name '" + name + "'"));
                            return;
                        }
                        then(*device);
                    });
}

// The procedures whose only argument is the device's name.
void withNamedDevice(Services& services, const CallPtr& call, xdr::Reader& args,
                     std::function<void(const CachedNodeDevice&)> then) {
    std::string name = args.string(proto::kStringMax);
    if (argsDone(call, args)) {
        withDevice(services, call, name, std::move(then));
    }
}

void replyString(const CallPtr& call, const std::string& text) {
    xdr::Writer w;
    w.string(text);
    call->reply(w);
}

std::vector<const CachedNodeDevice*> devicesWith(const NodeDeviceCache& cache,
                                                 const std::optional<std::string>& capability) {
    std::vector<const CachedNodeDevice*> out;
    for (const auto* d : cache.all()) {
        if ((!capability || hasCapability(*d, *capability)) &&
            out.size() < proto::kNodeDeviceListMax) {
            out.push_back(d);
        }
    }
    return out;
}

void numOfDevices(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto capability = args.optionalString(proto::kStringMax);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(services.nodeDevices, call, [call, capability](const NodeDeviceCache& cache) {
        xdr::Writer w;
        w.i32(static_cast<int32_t>(devicesWith(cache, capability).size()));
        call->reply(w);
    });
}

void listDevices(Services& services, const CallPtr& call, xdr::Reader& args) {
    auto capability = args.optionalString(proto::kStringMax);
    int32_t maxNames = args.i32();
    (void)args.u32(); // flags
    if (!argsDone(call, args)) {
        return;
    }
    if (maxNames < 0 || static_cast<uint32_t>(maxNames) > proto::kNodeDeviceListMax) {
        call->fail(Error(Code::InvalidArgs, "maxnames out of range"));
        return;
    }
    whenCacheSynced(services.nodeDevices, call,
                    [call, capability, maxNames](const NodeDeviceCache& cache) {
                        auto found = devicesWith(cache, capability);
                        size_t count = std::min(found.size(), static_cast<size_t>(maxNames));
                        xdr::Writer w;
                        w.u32(static_cast<uint32_t>(count));
                        for (size_t i = 0; i < count; ++i) {
                            w.string(found[i]->name);
                        }
                        call->reply(w);
                    });
}

void listAllDevices(Services& services, const CallPtr& call, xdr::Reader& args) {
    int32_t needResults = args.i32();
    uint32_t flags = args.u32();
    if (!argsDone(call, args)) {
        return;
    }
    whenCacheSynced(
        services.nodeDevices, call, [call, needResults, flags](const NodeDeviceCache& cache) {
            std::vector<const CachedNodeDevice*> found;
            for (const auto* d : cache.all()) {
                if (matchesFlags(*d, flags) && found.size() < proto::kNodeDeviceListMax) {
                    found.push_back(d);
                }
            }
            xdr::Writer w;
            // need_results == 0 asks for the count only.
            w.u32(needResults != 0 ? static_cast<uint32_t>(found.size()) : 0);
            for (size_t i = 0; needResults != 0 && i < found.size(); ++i) {
                w.string(found[i]->name);
            }
            w.u32(static_cast<uint32_t>(found.size()));
            call->reply(w);
        });
}

void lookupByName(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args,
                    [call](const CachedNodeDevice& d) { replyString(call, d.name); });
}

void getXmlDesc(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    withDevice(services, call, name, [&services, call](const CachedNodeDevice& d) {
        authorize(services, call, actions::actionId(kGetXml), detailsOf(d),
                  [&services, call, path = d.path] {
                      services.nodeDevices.getXml(path, [call](Result<std::string> xml) {
                          if (!xml) {
                              call->fail(xml.error());
                              return;
                          }
                          replyString(call, xml.value());
                      });
                  });
    });
}

void getParent(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, [call](const CachedNodeDevice& d) {
        xdr::Writer w;
        w.optionalString(d.parent.empty() ? std::nullopt : std::optional<std::string>(d.parent));
        call->reply(w);
    });
}

void numOfCaps(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, [call](const CachedNodeDevice& d) {
        xdr::Writer w;
        w.i32(static_cast<int32_t>(d.capabilities.size()));
        call->reply(w);
    });
}

void listCaps(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    int32_t maxNames = args.i32();
    if (!argsDone(call, args)) {
        return;
    }
    if (maxNames < 0 || static_cast<uint32_t>(maxNames) > proto::kNodeDeviceCapsListMax) {
        call->fail(Error(Code::InvalidArgs, "maxnames out of range"));
        return;
    }
    withDevice(services, call, name, [call, maxNames](const CachedNodeDevice& d) {
        size_t count = std::min(d.capabilities.size(), static_cast<size_t>(maxNames));
        xdr::Writer w;
        w.u32(static_cast<uint32_t>(count));
        for (size_t i = 0; i < count; ++i) {
            w.string(d.capabilities[i]);
        }
        call->reply(w);
    });
}

// Detach, re-attach or reset of the device: polkit for the client, then nodedevd's method.
std::function<void(const CachedNodeDevice&)> forward(Services& services, const CallPtr& call,
                                                     const actions::MethodAction& method,
                                                     Options options = {}) {
    return [&services, call, &method, options](const CachedNodeDevice& d) {
        authorize(services, call, actions::actionId(method), detailsOf(d),
                  [&services, call, &method, options, path = d.path] {
                      services.nodeDevices.action(path, std::string(method.method), options,
                                                  [call](Result<void> r) {
                                                      if (!r) {
                                                          call->fail(r.error());
                                                          return;
                                                      }
                                                      call->replyVoid();
                                                  });
                  });
    };
}

void dettach(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, forward(services, call, kDetach));
}

void detachFlags(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string name = args.string(proto::kStringMax);
    auto driver = args.optionalString(proto::kStringMax);
    (void)args.u32(); // flags: none defined
    if (!argsDone(call, args)) {
        return;
    }
    Options options;
    if (driver) {
        options["driver"] = sdbus::Variant(*driver); // nodedevd refuses all but "vfio"
    }
    withDevice(services, call, name, forward(services, call, kDetach, std::move(options)));
}

void reAttach(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, forward(services, call, kReAttach));
}

void reset(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, forward(services, call, kReset));
}

void destroy(Services& services, const CallPtr& call, xdr::Reader& args) {
    withNamedDevice(services, call, args, forward(services, call, kDestroy));
}

// Answers a call whose result is a device (remote_nonnull_node_device: its name) with the
// one nodedevd named by `path`: from the cache, or, for a mediated device nodedevd made
// this moment and whose InterfacesAdded has not come yet, by nodedevd's naming.
void replyDevice(Services& services, const CallPtr& call, const std::string& path,
                 const std::string& mdevUuid = {}) {
    if (const auto* d = services.nodeDevices.cache().byPath(path)) {
        replyString(call, d->name);
        return;
    }
    if (!mdevUuid.empty()) {
        std::string name = "mdev_" + mdevUuid;
        std::replace(name.begin(), name.end(), '-', '_');
        replyString(call, name);
        return;
    }
    call->fail(Error(Code::NoSuchNodeDevice, "node device " + path + " is gone"));
}

// virNodeDeviceCreateXML: only mediated devices (libvirt also makes vHBAs). The request
// is parsed (bounded) before polkit is asked; the parent must exist; a request without a
// UUID gets one, as libvirt's.
void createXml(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string xml = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    // VIR_NODE_DEVICE_CREATE_XML_VALIDATE: the request is parsed strictly either way.
    if (!argsDone(call, args) || !flagsKnown(call, flags, 1)) {
        return;
    }
    auto request = parseMdevRequest(xml);
    if (!request) {
        call->fail(request.error());
        return;
    }
    MdevRequest mdev = std::move(request).value();
    if (mdev.uuid.empty()) {
        mdev.uuid = formatUuid(randomUuid());
    }
    withDevice(
        services, call, mdev.parent, [&services, call, mdev](const CachedNodeDevice& parent) {
            authorize(services, call, actions::actionId(kCreateMdev), detailsOf(parent),
                      [&services, call, mdev] {
                          services.nodeDevices.createMdev(
                              mdev.parent, mdev.type, mdev.uuid,
                              [&services, call, uuid = mdev.uuid](Result<sdbus::ObjectPath> path) {
                                  if (!path) {
                                      call->fail(path.error());
                                      return;
                                  }
                                  replyDevice(services, call, path.value(), uuid);
                              });
                      });
        });
}

// virNodeDeviceLookupSCSIHostByWWN: a lookup, not gated (as the other lookups).
void lookupScsiHostByWwn(Services& services, const CallPtr& call, xdr::Reader& args) {
    std::string wwnn = args.string(proto::kStringMax);
    std::string wwpn = args.string(proto::kStringMax);
    uint32_t flags = args.u32();
    if (!argsDone(call, args) || !flagsKnown(call, flags)) {
        return;
    }
    whenCacheSynced(services.nodeDevices, call,
                    [&services, call, wwnn, wwpn](const NodeDeviceCache&) {
                        services.nodeDevices.lookupScsiHost(
                            wwnn, wwpn, [&services, call](Result<sdbus::ObjectPath> path) {
                                if (!path) {
                                    call->fail(path.error());
                                    return;
                                }
                                replyDevice(services, call, path.value());
                            });
                    });
}

constexpr Procedure kProcedures[] = {
    {proto::NodeNumOfDevices, "virNodeNumOfDevices", Access::Read, numOfDevices},
    {proto::NodeListDevices, "virNodeListDevices", Access::Read, listDevices},
    {proto::ConnectListAllNodeDevices, "virConnectListAllNodeDevices", Access::Read,
     listAllDevices},
    {proto::NodeDeviceLookupByName, "virNodeDeviceLookupByName", Access::Read, lookupByName},
    {proto::NodeDeviceGetXmlDesc, "virNodeDeviceGetXMLDesc", Access::Read, getXmlDesc},
    {proto::NodeDeviceGetParent, "virNodeDeviceGetParent", Access::Read, getParent},
    {proto::NodeDeviceNumOfCaps, "virNodeDeviceNumOfCaps", Access::Read, numOfCaps},
    {proto::NodeDeviceListCaps, "virNodeDeviceListCaps", Access::Read, listCaps},
    {proto::NodeDeviceDettach, "virNodeDeviceDettach", Access::Write, dettach},
    {proto::NodeDeviceDetachFlags, "virNodeDeviceDetachFlags", Access::Write, detachFlags},
    {proto::NodeDeviceReAttach, "virNodeDeviceReAttach", Access::Write, reAttach},
    {proto::NodeDeviceReset, "virNodeDeviceReset", Access::Write, reset},
    {proto::NodeDeviceCreateXml, "virNodeDeviceCreateXML", Access::Write, createXml},
    {proto::NodeDeviceDestroy, "virNodeDeviceDestroy", Access::Write, destroy},
    {proto::NodeDeviceLookupScsiHostByWwn, "virNodeDeviceLookupSCSIHostByWWN", Access::Read,
     lookupScsiHostByWwn},
};

} // namespace

std::span<const Procedure> nodeDeviceProcedures() {
    return kProcedures;
}

} // namespace virtswarm::bridge
