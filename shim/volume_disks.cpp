// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_disks.hpp"

#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"

#include <unistd.h>
#include <virtswarm/gen/org.virtswarm.Storage1.Manager_proxy.h>

namespace virtswarm::shim {

void closeVolumeFds(VolumeFds& fds) {
    for (auto& [path, list] : fds) {
        for (int fd : list) {
            ::close(fd);
        }
    }
    fds.clear();
}

// storaged's Manager through the generated async proxy (the timeout in the interface XML
// leaves room for storaged's activation by the call). Never registered: no PoolEvent
// signals wanted, only replies.
class VolumeBroker::StoragedProxy final
    : public sdbus::ProxyInterfaces<org::virtswarm::Storage1::Manager_proxy> {
public:
    StoragedProxy(sdbus::IConnection& bus, service::FdRequests& requests)
        : ProxyInterfaces(bus, names::kStorageBusName, names::kStorageRootPath)
        , m_requests(requests) {}
    ~StoragedProxy() { unregisterProxy(); }

private:
    void onPoolEvent(const sdbus::ObjectPath&, const std::string&, const std::string&,
                     const int32_t&, const int32_t&) override {}
    void onPoolRefreshed(const sdbus::ObjectPath&, const std::string&,
                         const std::string&) override {}
    void onOpenVolumeReply(const sdbus::UnixFd& fd, const std::string& path,
                           const std::map<std::string, std::string>& attributes,
                           const sdbus::Error* error) override {
        m_requests.complete(error, fd, path, attributes);
    }
    void onReleaseVolumesReply(const uint32_t&, const sdbus::Error* error) override {
        if (error != nullptr) {
            log::warning("releasing volumes: " + error->getMessage());
        }
    }

    service::FdRequests& m_requests;
};

VolumeBroker::VolumeBroker(SystemBusLink& systemBus, std::string domainUuid, uid_t definer)
    : m_systemBus(systemBus)
    , m_domainUuid(std::move(domainUuid))
    , m_definer(definer) {}

VolumeBroker::~VolumeBroker() = default;

Result<VolumeBroker::StoragedProxy*> VolumeBroker::storaged() {
    if (!m_storaged) {
        auto bus = m_systemBus.connection("reaching virtswarm-storaged");
        if (!bus) {
            return bus.takeError();
        }
        m_storaged = std::make_unique<StoragedProxy>(*bus.value(), m_requests);
    }
    return m_storaged.get();
}

void VolumeBroker::openOne(const DiskDef& disk, bool writable,
                           std::function<void(Result<service::BrokeredFd>)> done) {
    auto proxy = storaged();
    if (!proxy) {
        m_systemBus.loop().defer([done, error = proxy.error()] { done(error); });
        return;
    }
    Options options{{"writable", sdbus::Variant(writable)},
                    {"domain", sdbus::Variant(m_domainUuid)}};
    if (m_systemBus.shimOnSystemBus()) {
        options.emplace("definer-uid", sdbus::Variant(static_cast<uint32_t>(m_definer)));
    }
    m_requests.request([proxy = proxy.value(), pool = disk.volumePool, volume = disk.volumeName,
                        options] { proxy->OpenVolume(pool, volume, options); },
                       std::move(done));
}

void VolumeBroker::open(const DiskDef& disk, std::function<void(Result<OpenedVolume>)> done) {
    std::string what = "volume '" + disk.volumeName + "' of pool '" + disk.volumePool + "'";
    // A writable disk gets a read-write and a read-only fd, a read-only disk one.
    bool writable = !disk.readonly;
    openOne(disk, writable, [this, disk, what, writable, done](Result<service::BrokeredFd> first) {
        if (!first) {
            Error e = first.error();
            done(e.prefix(what));
            return;
        }
        OpenedVolume opened;
        opened.path = first.value().name;
        auto format = first.value().attributes.find("format");
        opened.format = format == first.value().attributes.end() ? "" : format->second;
        opened.fds.push_back(first.value().fd);
        if (opened.format != "raw" && opened.format != "qcow2") {
            ::close(opened.fds.front());
            done(Error(Code::OperationFailed, what + ": storaged gave no usable format"));
            return;
        }
        if (!writable) {
            done(std::move(opened));
            return;
        }
        openOne(disk, false, [what, opened, done](Result<service::BrokeredFd> second) mutable {
            if (!second) {
                ::close(opened.fds.front());
                Error e = second.error();
                done(e.prefix(what));
                return;
            }
            opened.fds.push_back(second.value().fd);
            done(std::move(opened));
        });
    });
}

void VolumeBroker::release(const std::vector<std::string>& paths) {
    auto proxy = storaged();
    if (!proxy) {
        return;
    }
    try {
        proxy.value()->ReleaseVolumes(m_domainUuid, paths);
    } catch (const sdbus::Error& e) {
        log::warning("releasing volumes: " + e.getMessage());
    }
}

} // namespace virtswarm::shim
