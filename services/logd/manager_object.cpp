// SPDX-License-Identifier: LGPL-2.1-or-later
#include "manager_object.hpp"

#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/reexec.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::log_daemon {
namespace {

constexpr auto kOpenStream = actions::forMethod(names::kLogManagerInterface, "OpenStream");
constexpr auto kAdoptStream = actions::forMethod(names::kLogManagerInterface, "AdoptStream");
constexpr auto kReadLog = actions::forMethod(names::kLogManagerInterface, "ReadLog");
constexpr auto kListStreams = actions::forMethod(names::kLogManagerInterface, "ListStreams");
constexpr auto kReexec = actions::forMethod(names::kLogManagerInterface, "Reexec");

// The domain's details as the registry passes them for its own methods, so one rule about
// a domain covers its log too.
PolkitDetails domainDetails(const std::string& uuidText, const std::string& name) {
    auto uuid = parseUuid(uuidText);
    return uuid ? actions::objectDetails("domain", name, uuid.value()) : PolkitDetails{};
}

} // namespace

ManagerObject::ManagerObject(LogService& service, std::function<void()> reexec)
    : AdaptorInterfaces(service.connection(), names::kLogRootPath)
    , m_service(service)
    , m_reexec(std::move(reexec))
    , m_gate(
          getObject(), service.authority(), [] { return PolkitDetails{}; },
          [] { return Error(Code::HypervisorGone, "virtswarm-logd is stopping"); }) {
    registerAdaptor();
}

ManagerObject::~ManagerObject() {
    unregisterAdaptor();
}

void ManagerObject::OpenStream(sdbus::Result<sdbus::UnixFd>&& result, std::string domainUuid,
                               std::string domainName, std::string stream, Options options) {
    // The name is checked by the service; a bad one gets no further than polkit's details.
    auto details = domainDetails(domainUuid, domainName);
    m_gate.handleFor(
        std::move(result), checkOptions(options, {}), kOpenStream, details,
        [this, domainUuid, domainName, stream](const SharedResult<sdbus::UnixFd>& shared,
                                               const service::MethodGate::AuthorizedCaller&) {
            auto fd = m_service.openStream(domainUuid, domainName, stream);
            if (!fd) {
                fail(shared, fd.error());
                return;
            }
            shared->returnResults(sdbus::UnixFd(fd.value(), sdbus::adopt_fd));
        });
}

void ManagerObject::AdoptStream(sdbus::Result<>&& result, std::string domainUuid,
                                std::string domainName, std::string stream, sdbus::UnixFd readEnd,
                                Options options) {
    // Our own copies: the message's go when this handler returns.
    auto held = std::make_shared<sdbus::UnixFd>(readEnd);
    auto file = std::make_shared<sdbus::UnixFd>();
    Result<void> fileOk = success();
    if (auto given = options.find("file"); given != options.end()) {
        try {
            *file = given->second.get<sdbus::UnixFd>();
        } catch (const sdbus::Error&) {
            fileOk = Error(Code::InvalidArgs, "option 'file' must be a file descriptor (h)");
        }
    }
    m_gate.handleFor(
        std::move(result), service::firstError(checkOptions(options, {"file"}), fileOk),
        kAdoptStream, domainDetails(domainUuid, domainName),
        [this, domainUuid, domainName, stream, held,
         file](const SharedResult<>& shared, const service::MethodGate::AuthorizedCaller&) {
            reply(shared,
                  m_service.adoptStream(domainUuid, domainName, stream, held->get(), file->get()));
        });
}

void ManagerObject::ReadLog(sdbus::Result<std::vector<uint8_t>, uint64_t>&& result,
                            std::string domainUuid, std::string stream, uint64_t offset,
                            uint32_t max, Options options) {
    // Unknown logs are refused before polkit: their details (the domain's name) are not
    // known, and a UUID names nothing secret.
    auto name = m_service.domainName(domainUuid, stream);
    Result<void> known =
        name ? success()
             : Result<void>(Error(Code::NoSuchDomain, "no log of stream '" + stream.substr(0, 64) +
                                                          "' for domain '" +
                                                          domainUuid.substr(0, 64) + "'"));
    m_gate.handleFor(std::move(result), service::firstError(checkOptions(options, {}), known),
                     kReadLog, domainDetails(domainUuid, name.value_or("")),
                     [this, domainUuid, stream, offset,
                      max](const SharedResult<std::vector<uint8_t>, uint64_t>& shared,
                           const service::MethodGate::AuthorizedCaller&) {
                         auto slice = m_service.readLog(domainUuid, stream, offset, max);
                         if (!slice) {
                             fail(shared, slice.error());
                             return;
                         }
                         const std::string& data = slice.value().data;
                         shared->returnResults(std::vector<uint8_t>(data.begin(), data.end()),
                                               slice.value().next);
                     });
}

void ManagerObject::ListStreams(sdbus::Result<std::vector<StreamRow>>&& result, Options options) {
    m_gate.handleFor(std::move(result), checkOptions(options, {}), kListStreams, {},
                     [this](const SharedResult<std::vector<StreamRow>>& shared,
                            const service::MethodGate::AuthorizedCaller&) {
                         std::vector<StreamRow> rows;
                         for (const auto& s : m_service.streams()) {
                             rows.emplace_back(s.domainUuid, s.domainName, s.stream, s.path,
                                               s.copied);
                         }
                         shared->returnResults(rows);
                     });
}

void ManagerObject::Reexec(sdbus::Result<>&& result, Options options) {
    service::handleReexecMethod(m_gate, std::move(result), options, kReexec, m_reexec);
}

std::string ManagerObject::Version() {
    return VIRTSWARM_VERSION;
}

} // namespace virtswarm::log_daemon
