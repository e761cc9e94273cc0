// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry.hpp"

#include "domain_object.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/shim_files.hpp"

#include <algorithm>
#include <charconv>
#include <filesystem>

namespace virtswarm::hypervisor {

Registry::Registry(sdbus::IConnection& connection, sdbus::IConnection& shimConnection,
                   EventLoop& loop, RegistryConfig config)
    : m_connection(connection)
    , m_loop(loop)
    , m_config(std::move(config))
    , m_authority(connection, m_config.mode)
    , m_store(m_config.paths.configDir, loop)
    , m_shims(shimConnection, loop, m_config.mode, m_config.paths.runtimeDir, m_config.shimPath,
              ShimSupervisor::Callbacks{
                  [this](const std::string& uuidHex, StateAndReason reported) {
                      if (auto* d = findByUuidHex(uuidHex)) {
                          d->model().onShimState(reported);
                      }
                  },
                  [this](const std::string& uuidHex, const ShimSupervisor::Notice& notice) {
                      auto* d = findByUuidHex(uuidHex);
                      if (d == nullptr) {
                          return;
                      }
                      if (notice.kind == ShimSupervisor::Notice::Kind::DeviceRemoved) {
                          d->onDeviceRemoved(notice.alias);
                      }
                      if (m_emitNotice) {
                          m_emitNotice(*d, notice);
                      }
                  },
                  [this](const std::string& uuidHex, std::optional<Error> failure) {
                      if (auto* d = findByUuidHex(uuidHex)) {
                          d->model().onShimGone(std::move(failure));
                      }
                  }})
    , m_autostarter(*this, m_config.autostartParallel, m_config.autostartNetworkWait)
    , m_domains(kDomainKind) {}

Registry::~Registry() = default;

Result<void> Registry::start(std::function<void()> ready) {
    m_domains.addLoaded<DomainXml>(
        m_store.loadAll(), [this](DomainXml domain, bool autostart) -> Result<DomainObject*> {
            auto defined = define(std::move(domain), true);
            if (defined) {
                defined.value()->model().setAutostartFlag(autostart);
            }
            return defined;
        });
    reserveRecordedIds();
    if (auto r = m_shims.subscribe(); !r) {
        return r;
    }
    m_shims.discover(
        [this](ShimSupervisor::FoundShim found) { adoptRunningShim(std::move(found)); },
        [this, ready] {
            recoverOrphanedQemus();
            std::vector<std::string> autostart;
            for (auto* d : all()) {
                if (d->autostart() && !d->active()) {
                    autostart.push_back(d->uuidHex());
                }
            }
            m_autostarter.run(autostart);
            ready();
        });
    return success();
}

int Registry::assignId(const std::string& uuidHex) {
    int id = m_nextId++;
    const std::string path = shimFiles(m_config.paths.runtimeDir, uuidHex).domainId;
    if (auto r = writeFileAtomic(path, std::to_string(id) + "\n", 0644); !r) {
        log::warning("cannot record the id of " + uuidHex + ": " + r.error().message());
    }
    return id;
}

int Registry::recoverId(const std::string& uuidHex) {
    if (auto id = recordedId(uuidHex)) {
        m_nextId = std::max(m_nextId, *id + 1);
        return *id;
    }
    return assignId(uuidHex);
}

std::optional<int> Registry::recordedId(const std::string& uuidHex) const {
    auto text = readFile(shimFiles(m_config.paths.runtimeDir, uuidHex).domainId, 64);
    if (!text) {
        return std::nullopt;
    }
    int id = 0;
    const std::string& digits = text.value();
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc() || id <= 0 || (end != digits.data() + digits.size() && *end != '\n')) {
        return std::nullopt;
    }
    return id;
}

void Registry::reserveRecordedIds() {
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(m_config.paths.runtimeDir + "/domains", ec)) {
        if (auto id = recordedId(entry.path().filename().string())) {
            m_nextId = std::max(m_nextId, *id + 1);
        }
    }
}

// A QEMU whose shim died while the registry was down too has no one on the bus to
// report it. Its runtime dir still knows it: give it a new shim.
void Registry::recoverOrphanedQemus() {
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(m_config.paths.runtimeDir + "/domains", ec)) {
        std::string uuidHex = entry.path().filename().string();
        DomainObject* domain = findByUuidHex(uuidHex);
        if ((domain != nullptr && domain->active()) || !m_shims.qemuAlive(uuidHex)) {
            continue;
        }
        if (domain == nullptr) {
            auto text = readFile(shimFiles(m_config.paths.runtimeDir, uuidHex).domainXml);
            auto parsed = text ? parseDomainXml(text.value()) : Result<DomainXml>(text.takeError());
            if (parsed) {
                parsed.value().definer = runtimeDefiner(uuidHex);
            }
            auto defined = parsed ? define(std::move(parsed).value(), false)
                                  : Result<DomainObject*>(parsed.takeError());
            if (!defined) {
                log::error("orphaned QEMU of " + uuidHex +
                           " cannot be recovered: " + defined.error().message());
                continue;
            }
            domain = defined.value();
        }
        log::warning("domain '" + domain->def().name + "' runs without a shim; re-attaching");
        domain->model().reattach();
    }
}

// A transient domain's definer survives a registry restart in its runtime dir, next to
// the definition it was started with.
uid_t Registry::runtimeDefiner(const std::string& uuidHex) const {
    ShimFiles files = shimFiles(m_config.paths.runtimeDir, uuidHex);
    auto record = readFile(files.definer, 256);
    if (!record) {
        return 0; // started before definers were recorded, which only root could do
    }
    auto xml = readFile(files.domainXml);
    auto definer =
        xml ? parseDefinerRecord(record.value(), xml.value()) : Result<uid_t>(xml.takeError());
    return definer ? definer.value() : kUnknownDefiner;
}

void Registry::adoptRunningShim(ShimSupervisor::FoundShim found) {
    DomainObject* domain = findByUuidHex(found.uuidHex);
    if (domain == nullptr) {
        // A transient domain: its definition lives only in its shim.
        auto parsed = parseDomainXml(found.xml);
        if (!parsed) {
            log::error("shim " + found.uuidHex +
                       " runs an unparsable definition: " + parsed.error().message());
            return;
        }
        parsed.value().definer = runtimeDefiner(found.uuidHex);
        auto defined = define(std::move(parsed).value(), false);
        if (!defined) {
            log::error("cannot adopt shim " + found.uuidHex + ": " + defined.error().message());
            return;
        }
        domain = defined.value();
    }
    log::info("adopted running domain '" + domain->def().name + "' (" +
              std::string(toString(found.reported.state)) + ")");
    domain->model().adoptRunning(found.reported);
}

Result<DomainObject*> Registry::define(DomainXml domain, bool persistent) {
    UuidBytes uuid = domain.def.uuid;
    std::string name = domain.def.name;
    return m_domains.add(uuid, name, [&](const std::string& path) {
        return std::make_unique<DomainObject>(*this, path, std::move(domain), persistent);
    });
}

void Registry::remove(DomainObject& domain) {
    if (findByUuid(domain.def().uuid) != &domain) {
        return;
    }
    m_removed.push_back(m_domains.take(domain.def().uuid));
    if (m_removed.size() == 1) {
        m_loop.defer([this] { m_removed.clear(); });
    }
}

std::optional<Error> Registry::conflictFor(const DomainDef& def) const {
    const std::string key = uuidHex(def.uuid);
    auto nameTaken = [&](const std::string& uuidText) {
        return Error(Code::DomainExists,
                     "domain '" + def.name + "' already exists with uuid " + uuidText);
    };
    auto uuidTaken = [&](const std::string& name) {
        return Error(Code::DomainExists,
                     "domain '" + name + "' already exists with uuid " + formatUuid(def.uuid));
    };
    if (auto* byName = findByName(def.name); byName && byName->def().uuid != def.uuid) {
        return nameTaken(byName->uuidText());
    }
    if (auto* byUuid = findByUuid(def.uuid); byUuid && byUuid->def().name != def.name) {
        return uuidTaken(byUuid->def().name);
    }
    if (auto it = m_reservedNames.find(def.name);
        it != m_reservedNames.end() && it->second.other != key) {
        auto uuid = parseUuid(it->second.other);
        return nameTaken(uuid ? formatUuid(uuid.value()) : it->second.other);
    }
    if (auto it = m_reservedUuids.find(key);
        it != m_reservedUuids.end() && it->second.other != def.name) {
        return uuidTaken(it->second.other);
    }
    return std::nullopt;
}

bool Registry::nameTaken(const std::string& name, const UuidBytes& uuid) const {
    if (auto* byName = findByName(name); byName != nullptr && byName->def().uuid != uuid) {
        return true;
    }
    auto it = m_reservedNames.find(name);
    return it != m_reservedNames.end() && it->second.other != uuidHex(uuid);
}

void Registry::reserve(const DomainDef& def) {
    const std::string key = uuidHex(def.uuid);
    auto& byName = m_reservedNames[def.name];
    byName.other = key;
    ++byName.count;
    auto& byUuid = m_reservedUuids[key];
    byUuid.other = def.name;
    ++byUuid.count;
}

void Registry::release(const DomainDef& def) {
    auto drop = [](auto& index, const std::string& key) {
        if (auto it = index.find(key); it != index.end() && --it->second.count <= 0) {
            index.erase(it);
        }
    };
    drop(m_reservedNames, def.name);
    drop(m_reservedUuids, uuidHex(def.uuid));
}

void Registry::emitLifecycle(const DomainObject& domain, LifecycleEvent event) {
    if (m_emitEvent) {
        m_emitEvent(domain, event);
    }
}

} // namespace virtswarm::hypervisor
