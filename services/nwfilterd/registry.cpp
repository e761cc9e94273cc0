// SPDX-License-Identifier: LGPL-2.1-or-later
#include "registry.hpp"

#include "binding_object.hpp"
#include "filter_object.hpp"
#include "nft_table.hpp"
#include "standard_filters.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/log.hpp"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <sstream>

namespace virtswarm::nwfilter {

FilterRegistry::FilterRegistry(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                               DaemonPaths paths)
    : m_connection(connection)
    , m_loop(loop)
    , m_paths(std::move(paths))
    , m_authority(connection, mode)
    , m_store(m_paths.configDir)
    , m_nft(loop, m_paths.stateDir)
    , m_filters(kFilterKind)
    , m_bindingObjects(kBindingKind)
    , m_ports(
          loop, [this](int ifindex, const std::string&) { portRemoved(ifindex); },
          [this] { dropGonePorts(); }) {}

FilterRegistry::~FilterRegistry() = default;

void FilterRegistry::start(std::function<void()> ready) {
    m_filters.loadDefinitions<FilterXml>(
        m_store, parseFilterXml, [](const FilterXml& f) { return f.def.uuid; },
        [this](FilterXml filter, bool) { return add(std::move(filter)); });
    installStandardFilters();
    bool dropped = loadBindings();
    if (m_bound.empty() && !dropped) {
        // Nothing to filter: nftables is left alone until the first binding (a host that
        // never binds a port never gets the table).
        ready();
        return;
    }
    rebuild([ready](Result<void> r) {
        if (!r) {
            log::error("cannot restore the filter bindings: " + r.error().message());
        }
        ready();
    });
}

// Once per host (a marker in the state directory): a standard filter the admin removed
// later stays removed, as with libvirt's packaged files.
void FilterRegistry::installStandardFilters() {
    std::string marker = m_paths.stateDir + "/standard-filters-installed";
    if (std::filesystem::exists(marker)) {
        return;
    }
    for (const auto& standard : standardFilters()) {
        if (m_filters.findByName(std::string(standard.name)) != nullptr) {
            continue; // the admin's own definition wins
        }
        auto parsed = parseFilterXml(standard.xml);
        if (!parsed) {
            log::error("standard filter " + std::string(standard.name) + ": " +
                       parsed.error().message());
            continue;
        }
        if (auto saved = m_store.save(parsed.value().def.uuid, parsed.value().xml); !saved) {
            log::error("cannot save standard filter: " + saved.error().message());
            return; // no marker: tried again at the next start
        }
        (void)add(std::move(parsed).value());
    }
    if (auto r = writeFileAtomic(marker, "", 0644); !r) {
        log::warning(r.error().message());
    }
    log::info("installed the standard network filters");
}

std::string FilterRegistry::bindingPath(const std::string& port) const {
    return m_paths.runtimeDir + "/bindings/" + port + ".xml";
}

// A binding whose port is gone is dropped (true: its rules are still in the table).
// A binding that cannot be compiled any more (its filter was changed while nwfilterd
// was down) is kept on record and logged; its port gets no rules until it is bound again.
bool FilterRegistry::loadBindings() {
    bool dropped = false;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(m_paths.runtimeDir + "/bindings", ec)) {
        if (entry.path().extension() != ".xml") {
            continue;
        }
        auto text = readFile(entry.path().string(), kMaxBindingXmlBytes);
        auto parsed = text ? parseBindingXml(text.value()) : Result<BindingXml>(text.takeError());
        if (!parsed || entry.path().stem().string() != parsed.value().def.portDev) {
            log::error("binding record " + entry.path().string() + " is unusable; ignored");
            continue;
        }
        std::string port = parsed.value().def.portDev;
        int ifindex = portIndex(port);
        if (ifindex == 0) {
            // The port went while no nwfilterd was there to see it.
            log::info("port " + port + " is gone; its binding with it");
            (void)removeFileDurable(entry.path().string());
            (void)removeFileDurable(learnedPath(port));
            dropped = true;
            continue;
        }
        Bound bound{std::move(parsed).value(), {}, ifindex, {}, {}, {}};
        loadLearned(port, bound);
        auto rules = compilePort(bound.binding.def, lookup(), bound.learned);
        if (!rules) {
            log::error("binding of " + port + ": " + rules.error().message());
            continue;
        }
        bound.rules = std::move(rules).value();
        startLearning(port, m_bound.emplace(port, std::move(bound)).first->second);
        addBindingObject(port);
    }
    log::info("restored " + std::to_string(m_bound.size()) + " filter bindings");
    return dropped;
}

Result<FilterObject*> FilterRegistry::add(FilterXml filter) {
    UuidBytes uuid = filter.def.uuid;
    std::string name = filter.def.name;
    return m_filters.add(uuid, name, [&](const std::string& path) {
        return std::make_unique<FilterObject>(*this, path, std::move(filter));
    });
}

FilterLookup FilterRegistry::lookup(const FilterDef* replacement) const {
    return [this, replacement](const std::string& name) -> const FilterDef* {
        if (replacement != nullptr && replacement->name == name) {
            return replacement;
        }
        FilterObject* object = m_filters.findByName(name);
        return object == nullptr ? nullptr : &object->def();
    };
}

void FilterRegistry::define(FilterXml filter, std::function<void(Result<FilterObject*>)> done) {
    if (FilterObject* named = m_filters.findByName(filter.def.name);
        named != nullptr && !filter.def.uuidGiven) {
        // A definition without <uuid> of an existing filter: the filter keeps its UUID.
        std::string made = formatUuid(filter.def.uuid);
        filter.xml.replace(filter.xml.find(made), made.size(), formatUuid(named->def().uuid));
        filter.def.uuid = named->def().uuid;
    }
    const FilterDef& def = filter.def;
    FilterObject* sameUuid = m_filters.findByUuid(def.uuid);
    FilterObject* sameName = m_filters.findByName(def.name);
    if (sameUuid != sameName) {
        const FilterObject* other = sameUuid != nullptr ? sameUuid : sameName;
        done(Error(Code::NWFilterExists, "filter '" + other->def().name +
                                             "' already exists with uuid " +
                                             formatUuid(other->def().uuid)));
        return;
    }
    auto proposed = lookup(&def);
    if (auto r = checkReferences(def, proposed); !r) {
        done(r.takeError());
        return;
    }
    // Every port the change reaches is compiled before anything changes: a port bound
    // with too few parameters for the new rules refuses the definition.
    std::vector<std::pair<Bound*, PortRules>> affected;
    for (auto& [port, bound] : m_bound) {
        const FilterDef* top = proposed(bound.binding.def.filter.filter);
        if (top == nullptr || !reaches(*top, def.name, proposed)) {
            continue;
        }
        auto rules = compilePort(bound.binding.def, proposed, bound.learned);
        if (!rules) {
            done(rules.takeError().prefix("port " + port));
            return;
        }
        affected.emplace_back(&bound, std::move(rules).value());
    }
    if (auto saved = m_store.save(def.uuid, filter.xml); !saved) {
        done(saved.takeError());
        return;
    }
    FilterObject* object = sameUuid;
    if (object != nullptr) {
        object->redefine(std::move(filter));
    } else {
        auto added = add(std::move(filter));
        if (!added) {
            done(added.takeError());
            return;
        }
        object = added.value();
    }
    log::info("defined network filter '" + object->def().name + "'");
    std::vector<PortChange> changes;
    for (auto& [bound, rules] : affected) {
        changes.push_back(PortChange{bound->rules.port, bound->rules.chainNames(), nullptr});
        bound->rules = std::move(rules);
        changes.back().now = &bound->rules;
        startLearning(bound->rules.port, *bound); // the new rules may use $IP
    }
    if (changes.empty()) {
        done(object);
        return;
    }
    auto guardUuid = object->def().uuid;
    applyOrRebuild(updateTransaction(changes), [this, guardUuid, done](Result<void> r) {
        if (!r) {
            done(r.takeError());
            return;
        }
        auto* now = m_filters.findByUuid(guardUuid);
        if (now == nullptr) {
            done(Error(Code::NoSuchNWFilter, "filter removed while its rules were applied"));
            return;
        }
        done(now);
    });
}

std::optional<std::string> FilterRegistry::user(const std::string& name) const {
    auto current = lookup();
    for (const FilterObject* other : m_filters.all()) {
        if (other->def().name == name) {
            continue;
        }
        for (const auto& entry : other->def().entries) {
            if (entry.ref && entry.ref->filter == name) {
                return "filter '" + other->def().name + "' references it";
            }
        }
    }
    for (const auto& [port, bound] : m_bound) {
        const FilterDef* top = current(bound.binding.def.filter.filter);
        if (top != nullptr && reaches(*top, name, current)) {
            return "port " + port + " is bound to it";
        }
    }
    return std::nullopt;
}

void FilterRegistry::undefine(FilterObject& filter, std::function<void(Result<void>)> done) {
    const FilterDef& def = filter.def();
    if (auto who = user(def.name)) {
        done(Error(Code::InvalidState, "filter '" + def.name + "' is in use: " + *who));
        return;
    }
    if (auto r = m_store.remove(def.uuid); !r) {
        done(r);
        return;
    }
    log::info("undefined network filter '" + def.name + "'");
    // Called from the object's own method: destroyed on the next loop turn.
    std::shared_ptr<FilterObject> taken = m_filters.take(def.uuid);
    m_loop.defer([taken] {});
    done(success());
}

Result<const BindingXml*> FilterRegistry::binding(const std::string& port) const {
    auto it = m_bound.find(port);
    if (it == m_bound.end()) {
        return Error(Code::NoSuchNWFilterBinding, "no filter binding for port '" + port + "'");
    }
    return &it->second.binding;
}

std::vector<std::string> FilterRegistry::learnedIps(const std::string& port) const {
    auto it = m_bound.find(port);
    return it == m_bound.end() ? std::vector<std::string>{} : it->second.learned;
}

void FilterRegistry::addBindingObject(const std::string& port) {
    const BindingXml& binding = m_bound.at(port).binding;
    auto added = m_bindingObjects.addNamed(escapePathElement(port), [&](const std::string& path) {
        return std::make_unique<BindingObject>(*this, path, binding);
    });
    if (!added) {
        log::error("binding of " + port + ": " + added.error().message());
    }
}

void FilterRegistry::removeBinding(const std::string& port) {
    m_bindingObjects.removeNamed(escapePathElement(port));
    m_bound.erase(port);
}

std::vector<std::string> FilterRegistry::boundPorts() const {
    std::vector<std::string> out;
    for (const auto& [port, bound] : m_bound) {
        out.push_back(port);
    }
    return out;
}

void FilterRegistry::bind(BindingXml binding, std::function<void(Result<void>)> done) {
    m_ports.drain(); // an earlier device of this name may be gone, its binding with it
    std::string port = binding.def.portDev;
    if (m_bound.count(port) > 0) {
        done(Error(Code::Conflict, "port '" + port + "' already has a filter binding"));
        return;
    }
    auto rules = compilePort(binding.def, lookup());
    if (!rules) {
        done(rules.takeError());
        return;
    }
    // Recorded before it is applied: if nwfilterd dies in between, the restarted one
    // filters the port rather than leaving it open.
    if (auto dir = makeDirectories(m_paths.runtimeDir + "/bindings", 0700); !dir) {
        done(dir);
        return;
    }
    if (auto r = writeFileAtomic(bindingPath(port), binding.xml, 0600); !r) {
        done(r);
        return;
    }
    (void)removeFileDurable(learnedPath(port)); // a new port learns anew
    auto& bound = m_bound
                      .emplace(port, Bound{std::move(binding),
                                           std::move(rules).value(),
                                           portIndex(port),
                                           {},
                                           {},
                                           {},
                                           false})
                      .first->second;
    startLearning(port, bound);
    addBindingObject(port);
    auto applied = [this, port, done](Result<void> r) {
        if (!r) {
            // Not bound after all; the table is rebuilt without the port.
            log::error(r.error().message());
            removeBinding(port);
            (void)removeFileDurable(bindingPath(port));
            rebuild([done, r](Result<void>) { done(r); });
            return;
        }
        log::info("bound port " + port);
        done(success());
    };
    if (!m_tableReady) {
        rebuild(applied);
        return;
    }
    m_nft.apply(updateTransaction({PortChange{port, {}, &bound.rules}}), applied);
}

void FilterRegistry::unbind(const std::string& port, std::function<void(Result<void>)> done) {
    auto it = m_bound.find(port);
    if (it == m_bound.end()) {
        done(Error(Code::NoSuchNWFilterBinding, "no filter binding for port '" + port + "'"));
        return;
    }
    std::string transaction =
        updateTransaction({PortChange{port, it->second.rules.chainNames(), nullptr}});
    removeBinding(port);
    (void)removeFileDurable(bindingPath(port));
    (void)removeFileDurable(learnedPath(port));
    applyOrRebuild(std::move(transaction), [port, done](Result<void> r) {
        if (r) {
            log::info("unbound port " + port);
        }
        done(r);
    });
}

void FilterRegistry::applyOrRebuild(std::string transaction,
                                    std::function<void(Result<void>)> done) {
    if (!m_tableReady) {
        rebuild(std::move(done));
        return;
    }
    m_nft.apply(std::move(transaction), [this, done](Result<void> r) {
        if (r) {
            done(success());
            return;
        }
        // The table is not what the state says (a failed update, or someone changed it):
        // make it so again, and report the first failure.
        log::error(r.error().message());
        rebuild([done, r](Result<void>) { done(r); });
    });
}

void FilterRegistry::rebuild(std::function<void(Result<void>)> done) {
    std::vector<const PortRules*> ports;
    for (const auto& [port, bound] : m_bound) {
        ports.push_back(&bound.rules);
    }
    m_nft.apply(rebuildTransaction(ports), [this, done](Result<void> r) {
        m_tableReady = r.ok();
        done(r);
    });
}

void FilterRegistry::portRemoved(int ifindex) {
    for (const auto& [port, bound] : m_bound) {
        if (bound.ifindex != 0 && bound.ifindex == ifindex) {
            std::string name = port; // the key goes with the binding
            dropBinding(name, "its device is gone");
            return;
        }
    }
}

void FilterRegistry::dropGonePorts() {
    std::vector<std::string> gone;
    for (const auto& [port, bound] : m_bound) {
        if (bound.ifindex != 0 && portIndex(port) != bound.ifindex) {
            gone.push_back(port);
        }
    }
    for (const auto& port : gone) {
        dropBinding(port, "its device is gone");
    }
}

void FilterRegistry::dropBinding(const std::string& port, const std::string& why) {
    log::info("dropping the filter binding of " + port + ": " + why);
    unbind(port, [port](Result<void> r) {
        if (!r) {
            log::error("unbinding " + port + ": " + r.error().message());
        }
    });
}

namespace {

int64_t wallClockSeconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The end of an "infinite" lease (0xffffffff), and of an address learned from the guest's
// own traffic: no timer, the address stays until unbound.
constexpr int64_t kNoLeaseEnd = 0;

} // namespace

std::string FilterRegistry::learnedPath(const std::string& port) const {
    return m_paths.runtimeDir + "/bindings/" + port + ".learned";
}

void FilterRegistry::startLearning(const std::string& port, Bound& bound) {
    if (!bound.rules.learnsIp || bound.learner) {
        return;
    }
    auto learner =
        IpLearner::start(m_loop, port, bound.binding.def.mac,
                         {[this, port](const DhcpLease& lease) { learn(port, lease); },
                          [this, port](const std::string& address) { guestUsed(port, address); }});
    if (!learner) {
        log::warning("no IP learning on " + port + ": " + learner.error().message());
        return;
    }
    bound.learner = std::move(learner).value();
    watchGuest(port, bound);
}

void FilterRegistry::watchGuest(const std::string& port, Bound& bound) {
    auto mode = ipLearning(bound.binding.def);
    if (!bound.learner || !mode || mode.value() != IpLearning::Any) {
        return;
    }
    auto watched = bound.learned.empty() ? bound.learner->watchGuest(IpLearner::GuestWatch::All)
                   : bound.movedLogged   ? bound.learner->watchGuest(IpLearner::GuestWatch::Off)
                                         : bound.learner->watchGuest(IpLearner::GuestWatch::Others,
                                                                     bound.learned.front());
    if (!watched) {
        log::warning("port " + port + ": " + watched.error().message());
    }
}

void FilterRegistry::guestUsed(const std::string& port, const std::string& address) {
    auto it = m_bound.find(port);
    if (it == m_bound.end() || !checkAttributeValue("ip", "srcipaddr", address)) {
        return;
    }
    Bound& bound = it->second;
    if (bound.learned.empty()) {
        log::info("port " + port + " learned IP " + address + " from the guest's traffic");
        setLearned(port, {address}, kNoLeaseEnd);
        return;
    }
    if (address == bound.learned.front() || bound.movedLogged) {
        return; // queued before the learner was told
    }
    // libvirt's learner stops at the first address: the guest cannot move itself. Logged
    // once: the guest's frames are no longer watched (DHCP answers still are).
    log::warning("port " + port + ": the guest uses IP " + address + " besides its learned " +
                 bound.learned.front() + "; ignored");
    bound.movedLogged = true;
    watchGuest(port, bound);
}

void FilterRegistry::learn(const std::string& port, const DhcpLease& lease) {
    auto it = m_bound.find(port);
    if (it == m_bound.end()) {
        return;
    }
    auto trusted = trustedDhcpServers(it->second.binding.def);
    if (!trusted.empty() &&
        std::find(trusted.begin(), trusted.end(), lease.server) == trusted.end()) {
        log::warning("port " + port + ": ignored a DHCPACK from untrusted server " + lease.server);
        return;
    }
    if (!checkAttributeValue("ip", "srcipaddr", lease.address)) {
        return;
    }
    int64_t end = lease.seconds == 0xffffffffu ? kNoLeaseEnd : wallClockSeconds() + lease.seconds;
    log::info("port " + port + " learned IP " + lease.address + " from DHCP server " +
              lease.server);
    setLearned(port, {lease.address}, end);
}

void FilterRegistry::setLearned(const std::string& port, std::vector<std::string> addresses,
                                int64_t leaseEnd) {
    Bound& bound = m_bound.at(port);
    bool changed = bound.learned != addresses;
    if (addresses.empty()) {
        (void)removeFileDurable(learnedPath(port));
        bound.leaseEnd.reset();
    } else {
        if (auto r = writeFileAtomic(
                learnedPath(port), addresses.front() + " " + std::to_string(leaseEnd) + "\n", 0600);
            !r) {
            log::warning(r.error().message());
        }
        armLeaseEnd(port, bound, leaseEnd);
    }
    if (!changed) {
        return;
    }
    auto rules = compilePort(bound.binding.def, lookup(), addresses);
    if (!rules) {
        log::error("port " + port + ": " + rules.error().message());
        return;
    }
    bound.learned = std::move(addresses);
    bound.movedLogged = bound.movedLogged && !bound.learned.empty();
    watchGuest(port, bound);
    if (BindingObject* object = m_bindingObjects.findByName(escapePathElement(port))) {
        object->learnedChanged();
    }
    std::vector<std::string> before = bound.rules.chainNames();
    bound.rules = std::move(rules).value();
    applyOrRebuild(updateTransaction({PortChange{port, before, &bound.rules}}),
                   [port](Result<void> r) {
                       if (!r) {
                           log::error("port " + port + ": " + r.error().message());
                       }
                   });
}

void FilterRegistry::loadLearned(const std::string& port, Bound& bound) {
    auto text = readFile(learnedPath(port), 256);
    if (!text) {
        return;
    }
    std::istringstream in(text.value());
    std::string address;
    int64_t end = 0;
    if (!(in >> address >> end) || !checkAttributeValue("ip", "srcipaddr", address) ||
        (end != kNoLeaseEnd && end <= wallClockSeconds())) {
        (void)removeFileDurable(learnedPath(port));
        return;
    }
    bound.learned = {address};
    armLeaseEnd(port, bound, end);
}

void FilterRegistry::armLeaseEnd(const std::string& port, Bound& bound, int64_t leaseEnd) {
    bound.leaseEnd.reset();
    if (leaseEnd == kNoLeaseEnd) {
        return;
    }
    int64_t left = std::max<int64_t>(leaseEnd - wallClockSeconds(), 0);
    bound.leaseEnd = m_loop.addTimer(std::chrono::seconds(left), [this, port] {
        log::info("port " + port + ": the lease of its learned IP ended");
        setLearned(port, {}, kNoLeaseEnd);
    });
}

} // namespace virtswarm::nwfilter
