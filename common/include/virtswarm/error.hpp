// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include <string>
#include <string_view>

namespace virtswarm {

// Every failure in the project is one of these codes. The table in error.cpp maps each
// to its D-Bus error name and to the libvirt virErrorNumber/virErrorDomain the
// libvirt bridge sends, so a code survives D-Bus and RPC round trips unchanged.
enum class Code {
    NoSuchDomain,
    DomainExists,
    InvalidState,
    InvalidXML,
    InvalidArgs,
    NotSupported,
    Timeout,
    HypervisorGone,
    OperationFailed,
    AccessDenied,
    InteractiveAuthorizationRequired,
    NoSuchNetwork,
    NetworkExists,
    // A shared resource (a bridge name, a subnet) is already taken by someone else.
    Conflict,
    // The caller has too many requests in flight (e.g. pending authorizations); retry later.
    LimitsExceeded,
    NoSuchPool,
    PoolExists,
    NoSuchVolume,
    VolumeExists,
    // A disk image is leased by another domain (virtswarm-lockd): a writable image to one
    // domain at a time, a shared one never to a writer.
    ResourceBusy,
    // The codes below mirror libvirt's distinctions that scripts and tools branch on.
    // A device named in a detach is not in the domain (libvirt: DEVICE_MISSING).
    DeviceMissing,
    // The definition asks for something this host or driver refuses to configure
    // (libvirt: CONFIG_UNSUPPORTED; NO_SUPPORT would mean "the API is missing").
    ConfigUnsupported,
    // The definition has no <name> (libvirt: NO_NAME).
    MissingName,
    // The text is not well-formed XML (libvirt: XML_DETAIL, with the parser's message).
    MalformedXML,
    // A definition checked on request (validate) does not match libvirt's RelaxNG schema
    // (libvirt: XML_INVALID_SCHEMA, with the schema's messages).
    InvalidSchema,
    NoSuchNodeDevice,
    // A node device (an mdev UUID, a persistent mdev definition) is already there.
    NodeDeviceExists,
    // The operation exists but not for this object as it runs (libvirt:
    // OPERATION_UNSUPPORTED, e.g. a live update of a device kind that cannot be updated).
    OperationUnsupported,
    NoSuchNWFilter,
    // A network filter of that name or UUID is already defined.
    NWFilterExists,
    // The filter's <filterref>s would make a filter reach itself (libvirt: "filter would
    // introduce a loop", OPERATION_FAILED).
    NWFilterLoop,
    // No filter is bound to that port device (libvirt: NO_NWFILTER_BINDING).
    NoSuchNWFilterBinding,
    // A domain has no such <title>, <description> or <metadata> element (libvirt:
    // NO_DOMAIN_METADATA, which virsh desc and metadata expect when there is none).
    NoDomainMetadata,
    // A domain has no snapshot of that name, or no current one (libvirt:
    // NO_DOMAIN_SNAPSHOT).
    NoSuchSnapshot,
    // An argument names something the domain is not set up for, e.g. quiescing a guest
    // with no agent channel (libvirt: ARGUMENT_UNSUPPORTED).
    ArgumentUnsupported,
    Internal,
};

inline constexpr int kCodeCount = static_cast<int>(Code::Internal) + 1;

struct ErrorInfo {
    Code code;
    std::string_view dbusName;
    int virErrorNumber;
    int virErrorDomain;
};

const ErrorInfo& errorInfo(Code code);
// Unknown names (a peer's own errors, sd-bus transport errors) map to the closest code.
Code codeFromDBusName(std::string_view name);

class Error {
public:
    Error(Code code, std::string message)
        : m_code(code)
        , m_message(std::move(message)) {}

    Code code() const { return m_code; }
    const std::string& message() const { return m_message; }
    std::string_view dbusName() const { return errorInfo(m_code).dbusName; }

    // Adds context in front of the message: "starting web1: <message>".
    Error& prefix(std::string_view context);

private:
    Code m_code;
    std::string m_message;
};

} // namespace virtswarm
