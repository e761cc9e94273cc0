// SPDX-License-Identifier: LGPL-2.1-or-later
#include "machine_object.hpp"

#include "virtswarm/names.hpp"
#include "virtswarm/service/async_reply.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <fcntl.h>

namespace virtswarm::shim {
namespace {

// Typed values from the machine model as D-Bus variants.
Options toOptions(const Stats& values) {
    Options out;
    for (const auto& [key, value] : values) {
        std::visit([&out, &key](const auto& v) { out.emplace(key, sdbus::Variant(v)); }, value);
    }
    return out;
}

// mode: "acpi" (the power button, the default) or "agent" (the guest agent's
// guest-shutdown), as libvirt's VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN / _GUEST_AGENT.
Result<Machine::PowerMode> powerMode(const Options& options) {
    auto mode = stringOption(options, "mode", "acpi");
    if (!mode) {
        return mode.takeError();
    }
    if (mode.value() == "acpi") {
        return Machine::PowerMode::Acpi;
    }
    if (mode.value() == "agent") {
        return Machine::PowerMode::Agent;
    }
    return Error(Code::NotSupported,
                 "power mode '" + mode.value() + "' is not supported (acpi, agent)");
}

} // namespace

MachineObject::MachineObject(sdbus::IConnection& connection, Machine& machine)
    : AdaptorInterfaces(connection, names::kShimPath)
    , m_machine(machine) {
    registerAdaptor();
}

MachineObject::~MachineObject() {
    unregisterAdaptor();
}

void MachineObject::announceState() {
    emitPropertiesChangedSignal(Machine_adaptor::INTERFACE_NAME, {"State", "StateReason", "Pid"});
    emitStateChanged(m_machine.state(), m_machine.reason());
}

void MachineObject::run(sdbus::Result<>&& result, const Options& options,
                        std::function<void(Machine::Done)> action) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        reply(shared, r);
        return;
    }
    action([shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::Shutdown(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    auto timeout = uintOption(options, "timeout", 0);
    auto mode = powerMode(options);
    if (auto r = checkOptions(options, {"timeout", "mode"}); !r || !timeout || !mode) {
        reply(shared, !r ? r : !timeout ? Result<void>(timeout.error()) : mode.error());
        return;
    }
    std::optional<std::chrono::seconds> grace;
    if (timeout.value() > 0) {
        grace = std::chrono::seconds(timeout.value());
    }
    m_machine.shutdown(grace, mode.value(),
                       [shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::Destroy(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.destroy(std::move(d)); });
}

void MachineObject::Reboot(sdbus::Result<>&& result, Options options) {
    auto shared = share(std::move(result));
    auto mode = powerMode(options);
    if (auto r = checkOptions(options, {"mode"}); !r || !mode) {
        reply(shared, !r ? r : mode.error());
        return;
    }
    m_machine.reboot(mode.value(), [shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::Reset(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.reset(std::move(d)); });
}

void MachineObject::Suspend(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.suspend(std::move(d)); });
}

void MachineObject::Resume(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.resume(std::move(d)); });
}

void MachineObject::ManagedSave(sdbus::Result<Options>&& result, sdbus::UnixFd file,
                                Options options) {
    if (auto r = checkOptions(options, {}); !r) {
        result.returnError(toDBusError(r.error()));
        return;
    }
    // UnixFd closes its descriptor with the message; the save outlives the call.
    int fd = fcntl(file.get(), F_DUPFD_CLOEXEC, 3);
    if (fd < 0) {
        result.returnError(toDBusError(Error(Code::OperationFailed, "no save file descriptor")));
        return;
    }
    answerValues(std::move(result), options,
                 [this, fd](Machine::ValuesDone d) { m_machine.managedSave(fd, std::move(d)); });
}

void MachineObject::AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    run(std::move(result), options,
        [this, xml](Machine::Done d) { m_machine.attachDevice(xml, std::move(d)); });
}

void MachineObject::DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    run(std::move(result), options,
        [this, xml](Machine::Done d) { m_machine.detachDevice(xml, std::move(d)); });
}

void MachineObject::UpdateDevice(sdbus::Result<>&& result, std::string xml, Options options) {
    run(std::move(result), options,
        [this, xml](Machine::Done d) { m_machine.updateDevice(xml, std::move(d)); });
}

void MachineObject::SetMemory(sdbus::Result<>&& result, uint64_t kib, Options options) {
    run(std::move(result), options,
        [this, kib](Machine::Done d) { m_machine.setBalloon(kib, std::move(d)); });
}

void MachineObject::SetVcpus(sdbus::Result<>&& result, uint32_t count, Options options) {
    run(std::move(result), options,
        [this, count](Machine::Done d) { m_machine.setVcpus(count, std::move(d)); });
}

void MachineObject::SnapshotSave(sdbus::Result<>&& result, std::string name, Options options) {
    run(std::move(result), options,
        [this, name](Machine::Done d) { m_machine.snapshotSave(name, std::move(d)); });
}

void MachineObject::SnapshotDelete(sdbus::Result<>&& result, std::string name, Options options) {
    run(std::move(result), options,
        [this, name](Machine::Done d) { m_machine.snapshotDelete(name, std::move(d)); });
}

void MachineObject::SnapshotDisks(sdbus::Result<>&& result,
                                  std::vector<sdbus::Struct<std::string, std::string>> overlays,
                                  Options options) {
    auto shared = share(std::move(result));
    auto reuse = boolOption(options, "reuse-external", false);
    auto quiesce = boolOption(options, "quiesce", false);
    if (auto r = service::firstError(checkOptions(options, {"reuse-external", "quiesce"}), reuse,
                                     quiesce);
        !r) {
        reply(shared, r);
        return;
    }
    std::vector<std::pair<std::string, std::string>> pairs;
    for (const auto& overlay : overlays) {
        pairs.emplace_back(overlay.get<0>(), overlay.get<1>());
    }
    m_machine.snapshotDisks(pairs, {.reuse = reuse.value(), .quiesce = quiesce.value()},
                            [shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::SendKey(sdbus::Result<>&& result, std::vector<uint32_t> qnums,
                            uint32_t holdtime, Options options) {
    run(std::move(result), options, [this, qnums, holdtime](Machine::Done d) {
        m_machine.sendKey(qnums, holdtime, std::move(d));
    });
}

void MachineObject::InjectNMI(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.injectNmi(std::move(d)); });
}

void MachineObject::SetMetadata(sdbus::Result<>&& result, std::string type, std::string metadata,
                                std::string key, std::string uri, Options options) {
    run(std::move(result), options, [this, type, metadata, key, uri](Machine::Done d) {
        d(m_machine.setLiveMetadata(type, metadata, key, uri));
    });
}

void MachineObject::answerValues(sdbus::Result<Options>&& result, const Options& options,
                                 std::function<void(Machine::ValuesDone)> query) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        fail(shared, r.error());
        return;
    }
    query([shared](Result<Stats> values) {
        if (!values) {
            fail(shared, values.error());
            return;
        }
        shared->returnResults(toOptions(values.value()));
    });
}

void MachineObject::GetStats(sdbus::Result<Options>&& result, Options options) {
    answerValues(std::move(result), options,
                 [this](Machine::ValuesDone d) { m_machine.stats(std::move(d)); });
}

void MachineObject::GetJobInfo(sdbus::Result<Options>&& result, Options options) {
    answerValues(std::move(result), options,
                 [this](Machine::ValuesDone d) { m_machine.jobInfo(std::move(d)); });
}

void MachineObject::AbortJob(sdbus::Result<>&& result, Options options) {
    run(std::move(result), options, [this](Machine::Done d) { m_machine.abortJob(std::move(d)); });
}

void MachineObject::InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                                       Options options) {
    auto shared = share(std::move(result));
    auto source = stringOption(options, "source", "agent");
    if (auto r = checkOptions(options, {"source"}); !r || !source) {
        fail(shared, !r ? r.error() : source.error());
        return;
    }
    if (source.value() != "agent") {
        fail(shared, Error(Code::NotSupported, "interface address source '" + source.value() +
                                                   "' is not supported (agent)"));
        return;
    }
    m_machine.interfaceAddresses([shared](Result<std::vector<GuestInterface>> interfaces) {
        if (!interfaces) {
            fail(shared, interfaces.error());
            return;
        }
        std::vector<GuestInterfaceWire> out;
        for (const auto& nic : interfaces.value()) {
            std::vector<GuestAddressWire> addresses;
            for (const auto& a : nic.addresses) {
                addresses.emplace_back(a.type, a.address, a.prefix);
            }
            out.emplace_back(nic.name, nic.hardwareAddress, std::move(addresses));
        }
        shared->returnResults(out);
    });
}

void MachineObject::GetTime(sdbus::Result<sdbus::Struct<int64_t, uint32_t>>&& result,
                            Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        fail(shared, r.error());
        return;
    }
    m_machine.guestTime([shared](Result<GuestTime> time) {
        if (!time) {
            fail(shared, time.error());
            return;
        }
        shared->returnResults(
            sdbus::Struct<int64_t, uint32_t>(time.value().seconds, time.value().nseconds));
    });
}

void MachineObject::SetTime(sdbus::Result<>&& result, int64_t seconds, uint32_t nseconds,
                            Options options) {
    auto shared = share(std::move(result));
    auto sync = boolOption(options, "sync", false);
    if (auto r = checkOptions(options, {"sync"}); !r || !sync) {
        reply(shared, !r ? r : Result<void>(sync.error()));
        return;
    }
    std::optional<GuestTime> time;
    if (!sync.value()) {
        time = GuestTime{seconds, nseconds};
    }
    m_machine.setGuestTime(time, [shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::GetHostname(sdbus::Result<std::string>&& result, Options options) {
    auto shared = share(std::move(result));
    if (auto r = checkOptions(options, {}); !r) {
        fail(shared, r.error());
        return;
    }
    m_machine.guestHostname([shared](Result<std::string> name) { reply(shared, name); });
}

void MachineObject::AddGraphicsClient(sdbus::Result<>&& result, uint32_t index,
                                      sdbus::UnixFd socket, Options options) {
    auto shared = share(std::move(result));
    auto skipAuth = boolOption(options, "skip-auth", false);
    if (auto r = checkOptions(options, {"skip-auth"}); !r || !skipAuth) {
        reply(shared, !r ? r : Result<void>(skipAuth.error()));
        return;
    }
    m_machine.addGraphicsClient(index, socket.get(), skipAuth.value(),
                                [shared](Result<void> r) { reply(shared, std::move(r)); });
}

void MachineObject::OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                                Options options) {
    auto force = boolOption(options, "force", false);
    if (auto r = checkOptions(options, {"force"}); !r || !force) {
        result.returnError(toDBusError(!r ? r.error() : force.error()));
        return;
    }
    auto fd = m_machine.openConsole(device, force.value());
    if (!fd) {
        result.returnError(toDBusError(fd.error()));
        return;
    }
    result.returnResults(sdbus::UnixFd(fd.value(), sdbus::adopt_fd));
}

std::string MachineObject::GetXML(const Options& options) {
    if (auto r = checkOptions(options, {}); !r) {
        throw toDBusError(r.error());
    }
    return m_machine.liveXml();
}

} // namespace virtswarm::shim
