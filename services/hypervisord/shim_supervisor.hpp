// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "shim_control.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/paths.hpp"
#include "virtswarm/result.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <string>

namespace virtswarm::hypervisor {

// Starts shims and follows them on the bus. The registry never waits on a shim: shims
// report by signals (StateChanged) and by their bus names coming and going
// (NameOwnerChanged); calls to a shim are asynchronous with a timeout.
//
// Any peer can send any signal to our unique name, so a signal is believed only from who
// can have sent it: NameOwnerChanged only from the bus driver itself, StateChanged only from
// the unique name the bus said owns that shim's name. Every shim we spawn is reaped.
class ShimSupervisor final : public ShimControl {
public:
    // What a shim tells besides its state: the events libvirt reports apart from lifecycle
    // (and MetadataChanged, which the registry itself reports after SetMetadata).
    struct Notice {
        enum class Kind { Rebooted, DeviceRemoved, MetadataChanged };
        Kind kind;
        std::string alias;        // DeviceRemoved: the device's alias
        std::string metadataType; // MetadataChanged: "title", "description", "element"
        std::string uri;          // MetadataChanged: an element's namespace, or empty
    };

    struct Callbacks {
        std::function<void(const std::string& uuidHex, StateAndReason reported)> stateChanged;
        std::function<void(const std::string& uuidHex, const Notice& notice)> notice;
        // The shim left the bus or died; `failure` is what it reported before giving up.
        std::function<void(const std::string& uuidHex, std::optional<Error> failure)> shimGone;
    };

    struct FoundShim {
        std::string uuidHex;
        StateAndReason reported;
        std::string xml;
    };

    ShimSupervisor(sdbus::IConnection& connection, EventLoop& loop, BusMode mode,
                   std::string runtimeDir, std::string shimPath, Callbacks callbacks);
    ~ShimSupervisor();

    // Subscribes to the shims' signals; call once before anything else.
    Result<void> subscribe();

    // Writes the domain's runtime dir (unless attaching) and spawns its shim.
    Result<void> launch(const std::string& uuidHex, const DomainXml& domain,
                        ShimLaunch how) override;

    // Is a shim for this domain still on the bus (e.g. one that is just exiting)?
    bool present(const std::string& uuidHex) const override;

    // Is a QEMU still running for this domain (after its shim died)?
    bool qemuAlive(const std::string& uuidHex) const override;

    // Kills the domain's QEMU found through its qemu.pid, for when no shim is left to do it;
    // `gone` runs once that process has exited.
    Result<void> killQemu(const std::string& uuidHex, std::function<void()> gone) override;

    // Removes the domain's runtime dir, unless a shim of ours or a QEMU may still use it.
    void removeRuntimeDir(const std::string& uuidHex) override;

    void callMethod(const std::string& uuidHex, const std::string& method,
                    std::chrono::milliseconds timeout,
                    std::function<void(Result<void>)> done) override;

    // An async call to the shim with arguments and one typed reply value. The error of a
    // shim that is gone or too slow comes back as HypervisorGone or Timeout.
    template <typename Reply, typename... Args>
    void call(const std::string& uuidHex, const std::string& method,
              std::chrono::milliseconds timeout, std::function<void(Result<Reply>)> done,
              const Args&... args) {
        try {
            proxyFor(uuidHex)
                .callMethodAsync(method)
                .onInterface(names::kShimInterface)
                .withTimeout(timeout)
                .withArguments(args...)
                .uponReplyInvoke(
                    [done = std::move(done), method](const sdbus::Error* error, Reply reply) {
                        if (error == nullptr) {
                            done(std::move(reply));
                        } else {
                            Error e = fromDBusError(*error);
                            done(e.prefix("shim " + method));
                        }
                    });
        } catch (const sdbus::Error& e) {
            done(Error(Code::HypervisorGone, "cannot reach the shim: " + e.getMessage()));
        }
    }

    // The same for methods without a reply value.
    template <typename... Args>
    void callVoid(const std::string& uuidHex, const std::string& method,
                  std::chrono::milliseconds timeout, std::function<void(Result<void>)> done,
                  const Args&... args) {
        try {
            proxyFor(uuidHex)
                .callMethodAsync(method)
                .onInterface(names::kShimInterface)
                .withTimeout(timeout)
                .withArguments(args...)
                .uponReplyInvoke([done = std::move(done), method](const sdbus::Error* error) {
                    if (error == nullptr) {
                        done(success());
                    } else {
                        Error e = fromDBusError(*error);
                        done(e.prefix("shim " + method));
                    }
                });
        } catch (const sdbus::Error& e) {
            done(Error(Code::HypervisorGone, "cannot reach the shim: " + e.getMessage()));
        }
    }

    // Finds the shims already on the bus (after a registry restart) and reports each
    // with its state and XML; `done` runs once all have answered or timed out.
    void discover(std::function<void(FoundShim)> found, std::function<void()> done);

    static std::string busNameFor(const std::string& uuidHex);

    // What the shim wrote before giving up (its "failure" file), if anything.
    std::optional<Error> readFailure(const std::string& uuidHex) const override;

private:
    struct Launched {
        pid_t pid = 0;
        bool sawName = false;
    };
    // A pidfd on a QEMU that is not our child, and the watch that tells when it exits.
    struct QemuWatch {
        int pidfd = -1;
        EventSource exited;
        QemuWatch() = default;
        QemuWatch(const QemuWatch&) = delete;
        QemuWatch& operator=(const QemuWatch&) = delete;
        ~QemuWatch();
    };

    void discoverOne(const std::string& uuidHex, std::function<void(FoundShim)> found,
                     std::function<void()> finished);
    void onNameOwnerChanged(sdbus::Message& message);
    void onStateChanged(sdbus::Message& message);
    void onNotice(sdbus::Message& message, Notice::Kind kind);
    // The domain whose shim sent `message`, or nullptr for a sender that is no shim's.
    const std::string* senderDomain(sdbus::Message& message) const;
    void reportGone(const std::string& uuidHex);
    void watchChild(pid_t pid, const std::string& uuidHex);
    std::optional<pid_t> recordedQemuPid(const std::string& uuidHex) const;
    sdbus::IProxy& proxyFor(const std::string& uuidHex);

    sdbus::IConnection& m_connection;
    EventLoop& m_loop;
    BusMode m_mode;
    std::string m_runtimeDir;
    std::string m_shimPath;
    Callbacks m_callbacks;
    std::map<std::string, std::string> m_uuidByOwner; // unique name -> uuid hex
    std::map<std::string, Launched> m_launched;       // uuid hex -> our child
    // Every shim we spawned that has not been reaped yet, whatever became of its domain: a
    // watch dropped before its child exits leaves a zombie behind.
    std::map<pid_t, EventSource> m_children;
    std::map<std::string, std::unique_ptr<QemuWatch>> m_qemuWatches; // uuid hex -> watch
    // Kept for the registry's lifetime (one per domain that ever ran): destroying a proxy
    // would silently cancel its pending calls, and their callers would never be answered.
    // With the proxy alive, the bus answers a call whose shim died (NoReply).
    std::map<std::string, std::unique_ptr<sdbus::IProxy>> m_proxies;
    std::unique_ptr<sdbus::IProxy> m_busDriver;
    std::vector<sdbus::Slot> m_matches;
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
