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
    , m_store(m_config.paths.configDir)
    , m_shims(shimConnection, loop, m_config.mode, m_config.paths.runtimeDir, m_config.shimPath,
              ShimSupervisor::Callbacks{
                  [this](const std::string& uuidHex, StateAndReason reported) {
                      if (auto* d = findByUuidHex(uuidHex)) {
                          d->model().onShimState(reported);
                      }
                  },
                  [this](const std::string& uuidHex, std::optional<Error> failure) {
                      if (auto* d = findByUuidHex(uuidHex)) {
                          d->model().onShimGone(std::move(failure));
                      }
                  }})
    , m_autostarter(*this, m_config.autostartParallel, m_config.autostartNetworkWait) {}

Registry::~Registry() = default;

std::string Registry::objectPathFor(const UuidBytes& uuid) {
    return names::kDomainPathPrefix + uuidHex(uuid);
}

Result<void> Registry::start(std::function<void()> ready) {
    for (auto& stored : m_store.loadAll()) {
        bool autostart = stored.autostart;
        auto defined = define(std::move(stored.definition), true);
        if (!defined) {
            log::error("cannot load definition: " + defined.error().message());
            continue;
        }
        defined.value()->model().setAutostartFlag(autostart);
    }
    log::info("loaded " + std::to_string(m_domains.size()) + " definitions from " +
              m_config.paths.configDir);
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
    std::string key = uuidHex(domain.def.uuid);
    if (auto it = m_domains.find(key); it != m_domains.end()) {
        return Error(Code::DomainExists,
                     "domain with uuid " + formatUuid(domain.def.uuid) + " already exists");
    }
    if (findByName(domain.def.name) != nullptr) {
        return Error(Code::DomainExists, "domain '" + domain.def.name + "' already exists");
    }
    auto object = std::make_unique<DomainObject>(*this, std::move(domain), persistent);
    DomainObject* raw = object.get();
    m_byName.emplace(raw->def().name, raw);
    m_domains.emplace(key, std::move(object));
    return raw;
}

void Registry::remove(DomainObject& domain) {
    auto it = m_domains.find(domain.uuidHex());
    if (it == m_domains.end() || it->second.get() != &domain) {
        return;
    }
    m_byName.erase(domain.def().name);
    m_removed.push_back(std::move(it->second));
    m_domains.erase(it);
    if (m_removed.size() == 1) {
        m_loop.defer([this] { m_removed.clear(); });
    }
}

DomainObject* Registry::findByName(const std::string& name) const {
    auto it = m_byName.find(name);
    return it == m_byName.end() ? nullptr : it->second;
}

DomainObject* Registry::findByUuid(const UuidBytes& uuid) const {
    return findByUuidHex(uuidHex(uuid));
}

DomainObject* Registry::findByUuidHex(const std::string& hex) const {
    auto it = m_domains.find(hex);
    return it == m_domains.end() ? nullptr : it->second.get();
}

std::vector<DomainObject*> Registry::all() const {
    std::vector<DomainObject*> out;
    out.reserve(m_domains.size());
    for (const auto& [key, d] : m_domains) {
        out.push_back(d.get());
    }
    return out;
}

void Registry::emitLifecycle(const DomainObject& domain, LifecycleEvent event) {
    if (m_emitEvent) {
        m_emitEvent(domain, event);
    }
}

} // namespace virtswarm::hypervisor
