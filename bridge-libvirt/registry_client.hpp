// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "domain_cache.hpp"
#include "object_client.hpp"
#include "snapshot_list.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

// The bridge's side of the registry (org.virtswarm.Hypervisor1): the domain cache and
// Manager.DomainEvent (ObjectClient), and the registry's methods beyond every kind's,
// called asynchronously with timeouts.
namespace virtswarm::bridge {

// Manager.DomainRebooted (o, s name, s uuid), Manager.DomainDeviceRemoved (the same and
// s alias) and Manager.DomainMetadataChanged (the same and s type, s uri): the domain
// events that are not lifecycle changes.
struct DomainNoticeSignal {
    enum class Kind { Rebooted, DeviceRemoved, MetadataChanged };
    Kind kind = Kind::Rebooted;
    std::string name;
    UuidBytes uuid{};
    std::string alias;        // DeviceRemoved
    std::string metadataType; // MetadataChanged (Manager.DomainMetadataChanged): its type
    std::string uri;          // and the element's namespace, or empty
};

class RegistryClient : private OwnedService, public ObjectClient<DomainKind> {
public:
    // Start and CreateXML reply once the guest runs; the registry itself waits up to 60 s.
    static constexpr std::chrono::milliseconds kStartTimeout{90000};

    RegistryClient(sdbus::IConnection& bus, EventLoop& loop);

    // Installs the signal matches and starts the first synchronisation of the cache (which
    // activates the registry).
    Result<void> start() { return ownService.start(true); }

    // Manager
    // The bridge calls as root on behalf of a libvirt client: `definer` is that client's
    // uid, which the registry records as the domain's definer (option definer-uid).
    // validate: the registry checks the XML against libvirt's schema too (option
    // "validate"), so what it stores is what was validated.
    void defineXml(const std::string& xml, uid_t definer, bool validate, Then<std::string> done);
    void createXml(const std::string& xml, uid_t definer, bool validate, Then<std::string> done);
    void getCapabilities(Then<std::string> done);
    // Manager.GetAllStats: every domain's GetStats within `deadline`, whatever the shims do.
    using AllStats = std::map<sdbus::ObjectPath, PropertyMap>;
    void getAllStats(std::chrono::milliseconds deadline, Then<AllStats> done);
    // Domain methods of the shape M(a{sv} options) -> (): Start, Shutdown, Destroy,
    // Undefine, Reboot, Reset, Suspend, Resume.
    void domainAction(const std::string& path, const std::string& method,
                      std::chrono::milliseconds timeout, Done done, Options options = {}) {
        action(path, method, timeout, std::move(options), std::move(done));
    }
    // The guest agent's view of the guest's interfaces (InterfaceAddresses, source=agent).
    void interfaceAddresses(const std::string& path, Then<std::vector<GuestInterfaceWire>> done);
    void getStats(const std::string& path, Then<PropertyMap> done);
    // AttachDevice / DetachDevice / UpdateDevice (s xml, a{sv} options: "config", "live").
    void changeDevice(const std::string& path, const std::string& method, const std::string& xml,
                      const Options& options, Done done);
    // force (VIR_DOMAIN_CONSOLE_FORCE): end another client's session on that console.
    void openConsole(const std::string& path, const std::string& device, bool force,
                     Then<sdbus::UnixFd> done);
    // The guest's graphics server `index` on a new socket (OpenGraphics), or on the
    // client's own (AddGraphicsClient). skipAuth: VIR_DOMAIN_OPEN_GRAPHICS_SKIPAUTH.
    void openGraphics(const std::string& path, uint32_t index, bool skipAuth,
                      Then<sdbus::UnixFd> done);
    void addGraphicsClient(const std::string& path, uint32_t index, const sdbus::UnixFd& socket,
                           bool skipAuth, Done done);

    // Save files: Domain.Save, Manager.Restore, SaveImageGetXML, SaveImageDefineXML. The
    // registry opens `file` itself, as the user `options` name (definer-uid).
    static constexpr std::chrono::milliseconds kSaveTimeout{11 * 60 * 1000};
    void saveDomain(const std::string& path, const std::string& file, const Options& options,
                    Done done);
    void restore(const std::string& file, const Options& options, Then<std::string> done);
    void saveImageGetXml(const std::string& file, const Options& options, Then<std::string> done);
    void saveImageDefineXml(const std::string& file, const std::string& xml, const Options& options,
                            Done done);

    // Snapshots: Domain.CreateSnapshot (the new object's path), Domain.ListSnapshots, and
    // the Snapshot object's GetXML, Revert and Delete. Taking or loading a guest's memory
    // may take as long as a save.
    void createSnapshot(const std::string& path, const std::string& xml, const Options& options,
                        Then<std::string> done);
    void listSnapshots(const std::string& path, Then<std::vector<SnapshotInfo>> done);
    void snapshotXml(const std::string& snapshotPath, const Options& options,
                     Then<std::string> done);
    void snapshotAction(const std::string& snapshotPath, const std::string& method,
                        const Options& options, Done done);

    // Any other Domain method without a result (SetMemory, SetVcpus, SendKey, InjectNMI,
    // SetMetadata): `fill` writes its arguments, options included.
    void domainCall(const std::string& path, const std::string& method,
                    const ServiceClient::Fill& fill, Done done);

    void setNoticeHandler(std::function<void(const DomainNoticeSignal&)> handler) {
        m_onNotice = std::move(handler);
    }

private:
    void onNotice(sdbus::Message& message, DomainNoticeSignal::Kind kind);

    std::function<void(const DomainNoticeSignal&)> m_onNotice;
};

} // namespace virtswarm::bridge
