// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry_client.hpp"

#include "virtswarm/definer.hpp"
#include "virtswarm/uuid.hpp"

namespace virtswarm::bridge {
namespace {

Options defineOptions(uid_t definer, bool validate) {
    Options options{{kDefinerUidOption, sdbus::Variant(static_cast<uint32_t>(definer))}};
    if (validate) {
        options.emplace("validate", sdbus::Variant(true));
    }
    return options;
}

} // namespace

RegistryClient::RegistryClient(sdbus::IConnection& bus, EventLoop& loop)
    : OwnedService(bus, loop, serviceNamesOf<DomainKind>())
    , ObjectClient<DomainKind>(ownService) {
    ownService.onSignal("DomainRebooted", [this](sdbus::Message& m) {
        onNotice(m, DomainNoticeSignal::Kind::Rebooted);
    });
    ownService.onSignal("DomainDeviceRemoved", [this](sdbus::Message& m) {
        onNotice(m, DomainNoticeSignal::Kind::DeviceRemoved);
    });
    ownService.onSignal("DomainMetadataChanged", [this](sdbus::Message& m) {
        onNotice(m, DomainNoticeSignal::Kind::MetadataChanged);
    });
}

void RegistryClient::onNotice(sdbus::Message& message, DomainNoticeSignal::Kind kind) {
    DomainNoticeSignal notice;
    notice.kind = kind;
    sdbus::ObjectPath path;
    std::string uuid;
    try {
        message >> path >> notice.name >> uuid;
        if (kind == DomainNoticeSignal::Kind::DeviceRemoved) {
            message >> notice.alias;
        } else if (kind == DomainNoticeSignal::Kind::MetadataChanged) {
            message >> notice.metadataType >> notice.uri;
        }
    } catch (const sdbus::Error&) {
        return;
    }
    auto parsed = parseUuid(uuid);
    if (!parsed || !m_onNotice) {
        return;
    }
    notice.uuid = parsed.value();
    m_onNotice(notice);
}

void RegistryClient::defineXml(const std::string& xml, uid_t definer, bool validate,
                               Then<std::string> done) {
    defineOrCreate("DefineXML", xml, defineOptions(definer, validate), kCallTimeout,
                   std::move(done));
}

void RegistryClient::createXml(const std::string& xml, uid_t definer, bool validate,
                               Then<std::string> done) {
    defineOrCreate("CreateXML", xml, defineOptions(definer, validate), kStartTimeout,
                   std::move(done));
}

void RegistryClient::getCapabilities(Then<std::string> done) {
    ownService.callReturning<std::string>(
        DomainKind::kBus.rootPath, DomainKind::kBus.managerInterface, "GetCapabilities",
        kCallTimeout, [](sdbus::MethodCall&) {}, std::move(done));
}

void RegistryClient::getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done) {
    ownService.callReturning<AllStats>(
        DomainKind::kBus.rootPath, DomainKind::kBus.managerInterface, "GetAllStats",
        deadline + kCallTimeout,
        [deadline](sdbus::MethodCall& m) {
            m << Options{{"timeout", sdbus::Variant(static_cast<uint32_t>(deadline.count()))}};
        },
        std::move(done));
}

void RegistryClient::interfaceAddresses(const std::string& path,
                                        Then<std::vector<GuestInterfaceWire>> done) {
    call<std::vector<GuestInterfaceWire>>(
        path, "InterfaceAddresses", kCallTimeout,
        [](sdbus::MethodCall& m) {
            m << Options{{"source", sdbus::Variant(std::string("agent"))}};
        },
        std::move(done));
}

void RegistryClient::changeDevice(const std::string& path, const std::string& method,
                                  const std::string& xml, const Options& options, Done done) {
    ownService.callVoid(
        path, DomainKind::kBus.interface, method, kCallTimeout,
        [&xml, &options](sdbus::MethodCall& m) { m << xml << options; }, std::move(done));
}

void RegistryClient::domainCall(const std::string& path, const std::string& method,
                                const ServiceClient::Fill& fill, Done done) {
    ownService.callVoid(path, DomainKind::kBus.interface, method, kCallTimeout, fill,
                        std::move(done));
}

void RegistryClient::saveDomain(const std::string& path, const std::string& file,
                                const Options& options, Done done) {
    ownService.callVoid(
        path, DomainKind::kBus.interface, "Save", kSaveTimeout,
        [&file, &options](sdbus::MethodCall& m) { m << file << options; }, std::move(done));
}

void RegistryClient::restore(const std::string& file, const Options& options,
                             Then<std::string> done) {
    ownService.callReturning<sdbus::ObjectPath>(
        DomainKind::kBus.rootPath, DomainKind::kBus.managerInterface, "Restore", kStartTimeout,
        [&file, &options](sdbus::MethodCall& m) { m << file << options; },
        [done = std::move(done)](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void RegistryClient::saveImageGetXml(const std::string& file, const Options& options,
                                     Then<std::string> done) {
    ownService.callReturning<std::string>(
        DomainKind::kBus.rootPath, DomainKind::kBus.managerInterface, "SaveImageGetXML",
        kCallTimeout, [&file, &options](sdbus::MethodCall& m) { m << file << options; },
        std::move(done));
}

void RegistryClient::saveImageDefineXml(const std::string& file, const std::string& xml,
                                        const Options& options, Done done) {
    ownService.callVoid(
        DomainKind::kBus.rootPath, DomainKind::kBus.managerInterface, "SaveImageDefineXML",
        kCallTimeout,
        [&file, &xml, &options](sdbus::MethodCall& m) { m << file << xml << options; },
        std::move(done));
}

void RegistryClient::createSnapshot(const std::string& path, const std::string& xml,
                                    const Options& options, Then<std::string> done) {
    ownService.callReturning<sdbus::ObjectPath>(
        path, DomainKind::kBus.interface, "CreateSnapshot", kSaveTimeout,
        [&xml, &options](sdbus::MethodCall& m) { m << xml << options; },
        [done = std::move(done)](Result<sdbus::ObjectPath> r) { done(pathResult(std::move(r))); });
}

void RegistryClient::listSnapshots(const std::string& path, Then<std::vector<SnapshotInfo>> done) {
    using Entry = sdbus::Struct<sdbus::ObjectPath, std::string, std::string, std::string,
                                std::string, int64_t, bool, bool>;
    ownService.callReturning<std::vector<Entry>>(
        path, DomainKind::kBus.interface, "ListSnapshots", kCallTimeout,
        [](sdbus::MethodCall& m) { m << Options{}; },
        [done = std::move(done)](Result<std::vector<Entry>> r) {
            if (!r) {
                done(r.takeError());
                return;
            }
            std::vector<SnapshotInfo> out;
            for (const auto& e : r.value()) {
                out.push_back(SnapshotInfo{std::string(e.get<0>()), e.get<1>(), e.get<2>(),
                                           e.get<3>(), e.get<4>(), e.get<5>(), e.get<6>(),
                                           e.get<7>()});
            }
            done(std::move(out));
        });
}

void RegistryClient::snapshotXml(const std::string& snapshotPath, const Options& options,
                                 Then<std::string> done) {
    ownService.callReturning<std::string>(
        snapshotPath, names::kSnapshotInterface, "GetXML", kCallTimeout,
        [&options](sdbus::MethodCall& m) { m << options; }, std::move(done));
}

void RegistryClient::snapshotAction(const std::string& snapshotPath, const std::string& method,
                                    const Options& options, Done done) {
    ownService.callVoid(
        snapshotPath, names::kSnapshotInterface, method, kSaveTimeout,
        [&options](sdbus::MethodCall& m) { m << options; }, std::move(done));
}

void RegistryClient::getStats(const std::string& path, Then<PropertyMap> done) {
    call<PropertyMap>(
        path, "GetStats", kCallTimeout, [](sdbus::MethodCall& m) { m << Options{}; },
        std::move(done));
}

void RegistryClient::openConsole(const std::string& path, const std::string& device, bool force,
                                 Then<sdbus::UnixFd> done) {
    Options options;
    if (force) {
        options.emplace("force", sdbus::Variant(true));
    }
    call<sdbus::UnixFd>(
        path, "OpenConsole", kCallTimeout,
        [&device, &options](sdbus::MethodCall& m) { m << device << options; }, std::move(done));
}

namespace {

Options graphicsOptions(bool skipAuth) {
    Options options;
    if (skipAuth) {
        options.emplace("skip-auth", sdbus::Variant(true));
    }
    return options;
}

} // namespace

void RegistryClient::openGraphics(const std::string& path, uint32_t index, bool skipAuth,
                                  Then<sdbus::UnixFd> done) {
    call<sdbus::UnixFd>(
        path, "OpenGraphics", kCallTimeout,
        [index, skipAuth](sdbus::MethodCall& m) { m << index << graphicsOptions(skipAuth); },
        std::move(done));
}

void RegistryClient::addGraphicsClient(const std::string& path, uint32_t index,
                                       const sdbus::UnixFd& socket, bool skipAuth, Done done) {
    domainCall(
        path, "AddGraphicsClient",
        [index, &socket, skipAuth](sdbus::MethodCall& m) {
            m << index << socket << graphicsOptions(skipAuth);
        },
        std::move(done));
}

} // namespace virtswarm::bridge
