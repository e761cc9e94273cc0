// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/error.hpp"

#include <array>

namespace virtswarm {
namespace {

// virErrorNumber / virErrorDomain values from libvirt's public headers.
constexpr int VIR_ERR_INTERNAL_ERROR = 1;
constexpr int VIR_ERR_NO_SUPPORT = 3;
constexpr int VIR_ERR_INVALID_ARG = 8;
constexpr int VIR_ERR_OPERATION_FAILED = 9;
constexpr int VIR_ERR_NO_NAME = 21;
constexpr int VIR_ERR_XML_ERROR = 27;
constexpr int VIR_ERR_XML_DETAIL = 35;
constexpr int VIR_ERR_CONFIG_UNSUPPORTED = 67;
constexpr int VIR_ERR_XML_INVALID_SCHEMA = 92;
constexpr int VIR_ERR_DEVICE_MISSING = 99;
constexpr int VIR_ERR_OPERATION_DENIED = 29;
constexpr int VIR_ERR_NO_DOMAIN = 42;
constexpr int VIR_ERR_AUTH_FAILED = 45;
constexpr int VIR_ERR_OPERATION_INVALID = 55;
constexpr int VIR_ERR_OPERATION_TIMEOUT = 68;
constexpr int VIR_ERR_OPERATION_UNSUPPORTED = 84;
constexpr int VIR_ERR_AGENT_UNRESPONSIVE = 86;
// "resource is busy": libvirt's own answer to a temporary shortage the caller may retry,
// which is what a per-caller limit is; OPERATION_FAILED would read as a broken domain.
constexpr int VIR_ERR_RESOURCE_BUSY = 87;
constexpr int VIR_ERR_NO_NETWORK = 43;
constexpr int VIR_ERR_NO_STORAGE_POOL = 49;
constexpr int VIR_ERR_NO_STORAGE_VOL = 50;
constexpr int VIR_ERR_STORAGE_VOL_EXIST = 90;
constexpr int VIR_ERR_NO_NODE_DEVICE = 53;
constexpr int VIR_ERR_NO_NWFILTER = 62;
constexpr int VIR_ERR_NO_NWFILTER_BINDING = 101;
constexpr int VIR_ERR_NO_DOMAIN_METADATA = 80;
constexpr int VIR_ERR_NO_DOMAIN_SNAPSHOT = 72;
constexpr int VIR_ERR_ARGUMENT_UNSUPPORTED = 74;
constexpr int VIR_FROM_NWFILTER = 33;
constexpr int VIR_FROM_DOMAIN_SNAPSHOT = 35;
constexpr int VIR_FROM_STORAGE = 18;
constexpr int VIR_FROM_NODEDEV = 22;
constexpr int VIR_FROM_NETWORK = 19;
constexpr int VIR_FROM_NONE = 0;
constexpr int VIR_FROM_XML = 5;
constexpr int VIR_FROM_DOM = 6;
constexpr int VIR_FROM_QEMU = 10;
constexpr int VIR_FROM_DOMAIN = 20;
constexpr int VIR_FROM_ACCESS = 55;
constexpr int VIR_FROM_LOCKING = 42;

constexpr std::array<ErrorInfo, kCodeCount> kTable{{
    {Code::NoSuchDomain, "org.virtswarm.Error.NoSuchDomain", VIR_ERR_NO_DOMAIN, VIR_FROM_DOM},
    // libvirt refuses a second domain or network of the same name or UUID with
    // OPERATION_FAILED (virDomainObjListAdd, virNetworkObjAssignDef), not DOM_EXIST.
    {Code::DomainExists, "org.virtswarm.Error.DomainExists", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_DOMAIN},
    {Code::InvalidState, "org.virtswarm.Error.InvalidState", VIR_ERR_OPERATION_INVALID,
     VIR_FROM_DOMAIN},
    {Code::InvalidXML, "org.virtswarm.Error.InvalidXML", VIR_ERR_XML_ERROR, VIR_FROM_DOMAIN},
    {Code::InvalidArgs, "org.freedesktop.DBus.Error.InvalidArgs", VIR_ERR_INVALID_ARG,
     VIR_FROM_NONE},
    {Code::NotSupported, "org.virtswarm.Error.NotSupported", VIR_ERR_NO_SUPPORT, VIR_FROM_DOMAIN},
    {Code::Timeout, "org.virtswarm.Error.Timeout", VIR_ERR_OPERATION_TIMEOUT, VIR_FROM_QEMU},
    {Code::HypervisorGone, "org.virtswarm.Error.HypervisorGone", VIR_ERR_AGENT_UNRESPONSIVE,
     VIR_FROM_QEMU},
    {Code::OperationFailed, "org.virtswarm.Error.OperationFailed", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_QEMU},
    {Code::AccessDenied, "org.freedesktop.DBus.Error.AccessDenied", VIR_ERR_OPERATION_DENIED,
     VIR_FROM_ACCESS},
    {Code::InteractiveAuthorizationRequired,
     "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired", VIR_ERR_AUTH_FAILED,
     VIR_FROM_ACCESS},
    {Code::NoSuchNetwork, "org.virtswarm.Error.NoSuchNetwork", VIR_ERR_NO_NETWORK,
     VIR_FROM_NETWORK},
    {Code::NetworkExists, "org.virtswarm.Error.NetworkExists", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_NETWORK},
    {Code::Conflict, "org.virtswarm.Error.Conflict", VIR_ERR_OPERATION_INVALID, VIR_FROM_NETWORK},
    {Code::LimitsExceeded, "org.virtswarm.Error.LimitsExceeded", VIR_ERR_RESOURCE_BUSY,
     VIR_FROM_NONE},
    {Code::NoSuchPool, "org.virtswarm.Error.NoSuchPool", VIR_ERR_NO_STORAGE_POOL, VIR_FROM_STORAGE},
    // libvirt answers a second pool of the same name or UUID with OPERATION_FAILED.
    {Code::PoolExists, "org.virtswarm.Error.PoolExists", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_STORAGE},
    {Code::NoSuchVolume, "org.virtswarm.Error.NoSuchVolume", VIR_ERR_NO_STORAGE_VOL,
     VIR_FROM_STORAGE},
    {Code::VolumeExists, "org.virtswarm.Error.VolumeExists", VIR_ERR_STORAGE_VOL_EXIST,
     VIR_FROM_STORAGE},
    // What libvirt's lock managers answer for a disk leased by another domain.
    {Code::ResourceBusy, "org.virtswarm.Error.ResourceBusy", VIR_ERR_RESOURCE_BUSY,
     VIR_FROM_LOCKING},
    {Code::DeviceMissing, "org.virtswarm.Error.DeviceMissing", VIR_ERR_DEVICE_MISSING,
     VIR_FROM_DOMAIN},
    {Code::ConfigUnsupported, "org.virtswarm.Error.ConfigUnsupported", VIR_ERR_CONFIG_UNSUPPORTED,
     VIR_FROM_DOMAIN},
    {Code::MissingName, "org.virtswarm.Error.MissingName", VIR_ERR_NO_NAME, VIR_FROM_DOMAIN},
    {Code::MalformedXML, "org.virtswarm.Error.MalformedXML", VIR_ERR_XML_DETAIL, VIR_FROM_DOMAIN},
    // virXMLValidatorValidate reports it from libvirt's XML module.
    {Code::InvalidSchema, "org.virtswarm.Error.InvalidSchema", VIR_ERR_XML_INVALID_SCHEMA,
     VIR_FROM_XML},
    {Code::NoSuchNodeDevice, "org.virtswarm.Error.NoSuchNodeDevice", VIR_ERR_NO_NODE_DEVICE,
     VIR_FROM_NODEDEV},
    // libvirt answers an mdev UUID or definition that exists with OPERATION_FAILED.
    {Code::NodeDeviceExists, "org.virtswarm.Error.NodeDeviceExists", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_NODEDEV},
    {Code::OperationUnsupported, "org.virtswarm.Error.OperationUnsupported",
     VIR_ERR_OPERATION_UNSUPPORTED, VIR_FROM_DOMAIN},
    {Code::NoSuchNWFilter, "org.virtswarm.Error.NoSuchNWFilter", VIR_ERR_NO_NWFILTER,
     VIR_FROM_NWFILTER},
    // libvirt answers a name taken by another UUID (and the reverse) with OPERATION_FAILED.
    {Code::NWFilterExists, "org.virtswarm.Error.NWFilterExists", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_NWFILTER},
    {Code::NWFilterLoop, "org.virtswarm.Error.NWFilterLoop", VIR_ERR_OPERATION_FAILED,
     VIR_FROM_NWFILTER},
    {Code::NoSuchNWFilterBinding, "org.virtswarm.Error.NoSuchNWFilterBinding",
     VIR_ERR_NO_NWFILTER_BINDING, VIR_FROM_NWFILTER},
    {Code::NoDomainMetadata, "org.virtswarm.Error.NoDomainMetadata", VIR_ERR_NO_DOMAIN_METADATA,
     VIR_FROM_DOMAIN},
    {Code::NoSuchSnapshot, "org.virtswarm.Error.NoSuchSnapshot", VIR_ERR_NO_DOMAIN_SNAPSHOT,
     VIR_FROM_DOMAIN_SNAPSHOT},
    {Code::ArgumentUnsupported, "org.virtswarm.Error.ArgumentUnsupported",
     VIR_ERR_ARGUMENT_UNSUPPORTED, VIR_FROM_DOMAIN},
    {Code::Internal, "org.virtswarm.Error.Internal", VIR_ERR_INTERNAL_ERROR, VIR_FROM_NONE},
}};

// The table is indexed by Code: a missing or misplaced row fails the build.
constexpr bool tableMatchesCodes() {
    for (int i = 0; i < kCodeCount; ++i) {
        if (static_cast<int>(kTable[static_cast<size_t>(i)].code) != i) {
            return false;
        }
    }
    return true;
}
static_assert(tableMatchesCodes(), "error table rows must follow enum Code order");

} // namespace

const ErrorInfo& errorInfo(Code code) {
    return kTable[static_cast<size_t>(code)];
}

Code codeFromDBusName(std::string_view name) {
    for (const auto& row : kTable) {
        if (row.dbusName == name) {
            return row.code;
        }
    }
    if (name == "org.freedesktop.DBus.Error.NoReply" ||
        name == "org.freedesktop.DBus.Error.Timeout" ||
        name == "org.freedesktop.DBus.Error.TimedOut") {
        return Code::Timeout;
    }
    if (name == "org.freedesktop.DBus.Error.ServiceUnknown" ||
        name == "org.freedesktop.DBus.Error.NameHasNoOwner" ||
        name == "org.freedesktop.DBus.Error.Disconnected") {
        return Code::HypervisorGone;
    }
    if (name == "org.freedesktop.DBus.Error.UnknownMethod" ||
        name == "org.freedesktop.DBus.Error.NotSupported") {
        return Code::NotSupported;
    }
    return Code::OperationFailed;
}

Error& Error::prefix(std::string_view context) {
    m_message = std::string(context) + ": " + m_message;
    return *this;
}

} // namespace virtswarm
