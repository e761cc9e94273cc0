// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "console_relay.hpp"
#include "device_backends.hpp"
#include "disk_leases.hpp"
#include "machine_phase.hpp"
#include "qemu_files.hpp"
#include "qemu_log.hpp"
#include "stats.hpp"
#include "taps.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_devices.hpp"
#include "virtswarm/event_loop.hpp"
#include "virtswarm/guest_agent.hpp"
#include "virtswarm/image_overlay.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/qmp_client.hpp"
#include "virtswarm/shim_files.hpp"

#include <chrono>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace virtswarm::shim {

// The guest agent's protocol bounds: QMP's, without the greeting.
qmp::Limits guestAgentLimits();

// One vCPU added (`device`, the device_add arguments) or removed (the device `id`).
struct VcpuStep {
    bool add = true;
    nlohmann::json device;
    std::string id;
};

// One VM: its QEMU process, its QMP monitor and its state machine. States and reasons
// follow libvirt's model and are driven by QMP events and by QEMU's exit, never by
// polling. Knows nothing about D-Bus: MachineObject exports it.
class Machine {
public:
    using Done = std::function<void(Result<void>)>;
    // Typed values in libvirt's naming (statistics, job figures), or the error.
    using ValuesDone = std::function<void(Result<Stats>)>;
    struct Listener {
        std::function<void(const std::string& state, const std::string& reason)> stateChanged;
        // QEMU is gone and the final state was reported; the shim may exit.
        std::function<void()> finished;
        // The machine was reset (libvirt's REBOOT event).
        std::function<void()> rebooted;
        // A live detach completed: the guest released the device with this alias.
        std::function<void(const std::string& alias)> deviceRemoved;
    };

    // `taps` gets TAP devices from networkd (for NICs at boot and hotplugged ones).
    // `opener` opens the definition's host paths (with its definer's rights).
    // `leases` leases the disks from lockd before QEMU opens them (start and hotplug).
    Machine(EventLoop& loop, ShimFiles files, QemuLog& log, DomainXml domain, QemuIdentity identity,
            HostPathOpener opener, BusMode mode, TapBroker* taps, DiskLeases* leases,
            Listener listener);
    ~Machine();

    // Starts QEMU paused, takes its monitor, resumes the guest. `done` runs once the
    // guest runs, or with why it could not.
    void launch(Done done);
    // Where disks of type 'volume' come from (storaged); without it they fail to start.
    void setVolumeBroker(VolumeBroker* volumes) { m_volumeBroker = volumes; }
    // Takes over a QEMU left running by a previous shim.
    void attach(Done done);

    // How a shutdown or reboot is asked of the guest: its ACPI power button, or its QEMU
    // guest agent (guest-shutdown) over the org.qemu.guest_agent.0 channel.
    enum class PowerMode { Acpi, Agent };
    // With a timeout, the domain is destroyed if still running then.
    void shutdown(std::optional<std::chrono::seconds> timeout, PowerMode mode, Done done);
    void destroy(Done done);
    // ACPI power button, then a reset instead of an exit when the guest powers off (the
    // way libvirt reboots QEMU guests without a guest agent).
    void reboot(PowerMode mode, Done done);
    void reset(Done done);
    void suspend(Done done);
    void resume(Done done);
    // Managed save into `fd` (taken over); `done` runs once QEMU is gone, with libvirt's
    // statistics of the finished job (type completed, operation save).
    void managedSave(int fd, ValuesDone done);
    // The domain's job, in libvirt's job-stats keys (machine_save.cpp): "type" 0 (none)
    // or 2 (unbounded: a managed save streaming), and while saving "operation" (2, save),
    // "time_elapsed" (ms) and "memory_{total,processed,remaining}" (bytes, QEMU's
    // query-migrate).
    void jobInfo(ValuesDone done);
    // Cancels the running job (a managed save: migrate_cancel; the save then fails and
    // the guest goes on as it was). InvalidState when there is none.
    void abortJob(Done done);
    // launch() restores the state saved in `fd` (taken over) instead of booting.
    void setRestoreFd(int fd);
    // launch() leaves the guest's vCPUs stopped once QEMU is up (state paused).
    void setStartPaused(bool paused) { m_startPaused = paused; }
    // launch() starts the guest from the internal snapshot `name` (QEMU's -loadvm), as a
    // revert to a snapshot taken while it ran; its state reason is then "from-snapshot".
    void setLoadSnapshot(std::string name) { m_loadSnapshot = std::move(name); }
    // Internal snapshots (machine_snapshot.cpp): the guest's memory and every writable
    // qcow2 disk saved under, or dropped from the tag `name`. ConfigUnsupported when a
    // writable disk is not qcow2; InvalidState unless running or paused, or while another runs.
    void snapshotSave(const std::string& name, Done done);
    void snapshotDelete(const std::string& name, Done done);
    // An external snapshot (machine_overlays.cpp): for each (disk target, overlay path), a
    // qcow2 overlay is created over the disk's image as the definer and the guest goes on
    // writing into it; all disks move in one QMP transaction or none does (the overlays
    // are then removed). ConfigUnsupported for a disk that is not a raw or qcow2 file.
    // `reuse`: the overlays exist already, made by the user (libvirt's REUSE_EXT).
    // `quiesce`: the guest's filesystems are frozen by its agent while the disks move.
    struct DiskSnapshotHow {
        bool reuse = false;
        bool quiesce = false;
    };
    void snapshotDisks(const std::vector<std::pair<std::string, std::string>>& overlays,
                       DiskSnapshotHow how, Done done);
    // QEMU keeps a tag in 256 bytes.
    static constexpr size_t kMaxSnapshotName = 255;
    static Result<void> checkSnapshotName(const std::string& name);
    void stats(ValuesDone done);
    // The guest's interfaces and addresses, from its guest agent.
    void interfaceAddresses(std::function<void(Result<std::vector<GuestInterface>>)> done);
    // machine_agent.cpp: the guest's clock (guest-get-time), setting it (guest-set-time:
    // to `time`, or without one from the guest's RTC), its host name (guest-get-host-name).
    void guestTime(std::function<void(Result<GuestTime>)> done);
    void setGuestTime(std::optional<GuestTime> time, Done done);
    void guestHostname(std::function<void(Result<std::string>)> done);
    // A new console session on the pty behind a serial port ("" = the first one, or
    // "serialN"): the client's end of a relay. One session per port, as in libvirt: a
    // second open fails unless `force`, which ends the session holding it.
    Result<int> openConsole(const std::string& device, bool force);
    // A graphics client on `socket` (a connected stream socket, which the monitor sends
    // QEMU a copy of): served by the VNC or SPICE server of the definition's graphics
    // element `index`, without its password if `skipAuth`. machine_graphics.cpp.
    void addGraphicsClient(uint32_t index, int socket, bool skipAuth, Done done);
    // Hotplug of a <disk> (virtio) or <interface>; the live XML follows.
    void attachDevice(const std::string& xml, Done done);
    void detachDevice(const std::string& xml, Done done);
    // A cdrom's media changed (a <disk> with a <source>) or ejected (none): libvirt's
    // UpdateDevice (machine_media.cpp); the live XML follows.
    void updateDevice(const std::string& xml, Done done);
    // machine_tuning.cpp. The virtio balloon's target (QMP balloon), at most the maximum.
    void setBalloon(uint64_t kib, Done done);
    // machine_vcpus.cpp. `count` vCPUs online (hotplug and unplug), at most the maximum.
    void setVcpus(uint32_t count, Done done);
    // QMP send-key of qnum key numbers; holdTimeMs 0 is QEMU's default.
    void sendKey(const std::vector<uint32_t>& qnums, uint32_t holdTimeMs, Done done);
    void injectNmi(Done done);
    // The live definition's title, description or metadata element (domain_metadata.hpp).
    Result<void> setLiveMetadata(const std::string& type, const std::string& value,
                                 const std::string& key, const std::string& uri);
    // The running definition with what only exists at runtime (pty paths).
    std::string liveXml() const;

    MachinePhase phase() const { return m_phase; }
    const std::string& state() const { return m_state; }
    const std::string& reason() const { return m_reason; }
    pid_t pid() const { return m_pid; }
    const DomainXml& domain() const { return m_domain; }

private:
    // Moves to `next` if the phase table allows it; a refused move is logged and changes
    // nothing. Staying in the current phase is always fine.
    Result<void> enter(MachinePhase next);
    bool inPhase(std::initializer_list<MachinePhase> phases) const;
    void setState(const std::string& state, const std::string& reason);
    void onEvent(const std::string& event, const nlohmann::json& data);
    void onMonitorClosed(const Error& why);
    // machine_agent.cpp: the guest agent's channel, connected while the guest has it open.
    std::optional<std::string> agentSocket() const;
    void onChannelChange(const std::string& alias, bool open);
    // After re-attaching: connects to the agent if the guest has its port open now.
    void reconnectAgent();
    // guest-sync, then guest-shutdown with `mode` (powerdown, reboot).
    void agentPowerCommand(const std::string& mode, Done done);
    // Runs `act` with the guest's filesystems frozen by its agent (guest-fsfreeze-freeze),
    // and thaws them once it is done, whatever its outcome, before `done`. No agent channel
    // is ArgumentUnsupported, an agent not connected HypervisorGone, as libvirt's quiesce.
    void whileFrozen(std::function<void(Done)> act, Done done);
    // Whether whileFrozen could freeze now: its errors, without asking the guest.
    Result<void> canFreeze() const;
    // Events were dropped (a flooding monitor): read the run state from QEMU instead.
    void resyncState();
    void onGuestPanicked();
    // Destroy: the domain shuts down at the host's request before it is shut off.
    void reportHostShutdown();
    void resetAndContinue();
    // The QEMU ids of controllers, inputs and the balloon, as <alias> in the live XML.
    static void annotatePlatformAliases(DomainXml& live);
    // <memballoon><stats period>: QEMU polls the guest's balloon driver for statistics.
    void startBalloonStats();
    // <currentMemory> below <memory>: the balloon takes the difference once the guest runs.
    void setBootBalloon();
    // QMP BALLOON_CHANGE: the live XML's currentMemory is what the balloon reached.
    void onBalloonChange(const nlohmann::json& data);
    // machine_vcpus.cpp: one vCPU added or removed after the other, the live count
    // following each one that succeeded.
    void runVcpuSteps(std::vector<VcpuStep> steps, size_t next, Done done);
    // The live count set to the vCPUs QEMU has now, after the guest released the vCPU
    // `released` late (setVcpus had given up waiting); then DEVICE_REMOVED for it.
    void recountVcpus(const std::string& released);
    std::function<void(Result<Stats>)> withBalloonStats(std::function<void(Result<Stats>)> done);
    void onQemuExit(std::optional<siginfo_t> status);
    // Managed save and restore (machine_save.cpp).
    static void addIncoming(std::vector<std::string>& argv, int childFd);
    void awaitRestore(std::function<void()> then);
    // Milliseconds since the save began.
    uint64_t savingForMs() const;
    void awaitSaved(std::function<void(Error)> fail, Done done);
    // Internal snapshots (machine_snapshot.cpp): one job at a time, polled until concluded.
    // The one snapshot operation a machine runs at a time: InvalidState unless running or
    // paused, or while another runs; else `done` wrapped to end the operation (and log a
    // failure of `what`).
    Result<Done> beginSnapshotJob(const std::string& what, const Done& done);
    void runSnapshotJob(const std::string& command, const std::string& name, Done done);
    void awaitSnapshotJob(Done done);
    void addLoadSnapshot(std::vector<std::string>& argv) const;
    void failStart(Error error);
    Result<int> listenQmp();
    // Gets the volumes of disks from index `from` on (machine_volumes.cpp), then leases
    // every disk's image (leaseDisks), then gets the TAPs.
    void openVolumes(size_t from);
    void leaseDisks();
    // Gets the TAPs of NICs from index `from` on, then starts QEMU.
    void acquireTaps(size_t from);
    // QEMU's log first (logd's stream or the file), then QEMU.
    void openLogAndSpawnQemu();
    void spawnQemu(QemuLog::Outputs outputs);
    // The guest is up as launch() was asked: stats, balloon, and launch's answer.
    void finishLaunch();
    // The monitor is up (and a restore done): let the guest run.
    void resumeStartedGuest();
    // Learns the pty paths QEMU allocated for pty serial ports, then runs `then`.
    void discoverPtys(std::function<void()> then);
    // Gives QEMU the VNC and SPICE passwords (and their expiry) over the monitor, then
    // runs `then`; a refusal fails the start.
    void setGraphicsPassword(std::function<void()> then);
    void setGraphicsPasswordFrom(size_t index, std::function<void()> then);
    void recordVncPort(std::function<void()> then);
    void addNamedGraphicsClient(const nlohmann::json& client, Done done);
    // Runs one QMP command whose success is all the caller needs.
    void simpleCommand(const std::string& command, Done done);
    void blockStats(Stats base, std::function<void(Result<Stats>)> done);
    // Records QEMU's device ids as <alias> in the live definition (boot-time devices).
    void annotateAliases();
    // The live definition changed (hotplug): keep it, and its copy in the runtime dir
    // that a re-attaching shim reads.
    void commitLiveDefinition(DomainXml updated);
    void unplug(const std::string& deviceId, std::function<void(Result<void>)> released);
    // What attaching and detaching check first: the device XML, the definition it leads to
    // (`edit` applied to the live one), and a monitor to carry the change out.
    struct DeviceChange {
        DeviceSpec device;
        DomainXml next;
    };
    using DeviceEdit = Result<DomainXml> (*)(const DomainXml&, const DeviceSpec&);
    Result<DeviceChange> prepareDeviceChange(const std::string& xmlText, DeviceEdit edit) const;
    // One hotplug: a backend QMP command, device_add, and the undo of the backend should
    // QEMU refuse the device.
    struct Plug {
        std::string what; // "disk", "interface": for messages
        std::string backendCommand;
        nlohmann::json backendArgs;
        std::string undoCommand;
        nlohmann::json undoArgs;
        nlohmann::json device;
        // Gives back a descriptor the monitor holds for this plug, should it fail.
        std::string releaseCommand;
        nlohmann::json releaseArgs;
        DomainXml live; // the live definition once plugged
    };
    void plugDevice(Plug plug, Done done);
    // `next` is the live definition with the new device last.
    void plugUserInterface(const InterfaceDef& nic, DomainXml next, Done done);
    void plugFileDisk(const DiskDef& disk, DomainXml next, Done done);
    void plugVolumeDisk(const DiskDef& disk, DomainXml next, Done done);
    void plugLeasedVolume(const DiskDef& disk, std::vector<int> fds, DomainXml next, Done done);
    void plugDiskFds(const DiskDef& disk, std::vector<int> fds, DomainXml next, Done done);
    // Exclusive leases on the overlays just created, then moveOntoOverlays; a refusal or
    // a failed move removes the overlays (and their leases). `quiesce`: the move runs with
    // the guest's filesystems frozen.
    void leaseOverlays(std::vector<OverlayPlan> plans, bool quiesce, Done done);
    // The overlays in fd sets, then one transaction of blockdev-snapshot-sync.
    void moveOntoOverlays(std::vector<OverlayPlan> plans, Done done);
    void addOverlayFdSets(std::vector<OverlayPlan> plans, size_t index, std::vector<int64_t> sets,
                          std::function<void(Result<std::vector<int64_t>>)> done);
    void removeFdSets(const std::vector<int64_t>& sets);
    // add-fd of each of `fds` (closed here) into one fd set, a new one unless `set`.
    void addFdSet(const std::string& opaque, std::vector<int> fds, std::optional<int64_t> set,
                  std::function<void(Result<int64_t>)> done);
    // remove-fd of the fd sets of the disk `alias`; `then` once QEMU has answered the last
    // (at once when there are none), so the image is closed in QEMU by then.
    void releaseDiskFdsets(const std::string& alias, std::function<void()> then);
    void releaseVolumeHold(const std::string& target);
    // After re-attaching: storaged's holds on the volume disks, which ended with the
    // previous shim, taken again (machine_volumes.cpp).
    void retakeVolumeHolds(size_t from);
    std::string leasedSourceOf(const std::string& target) const;
    void ejectMedium(const std::string& alias, Done done);
    // The new media leased (unless the drive holds that image already, by any name),
    // then inserted; the lease is given back if QEMU does not take it.
    void leaseAndInsertMedium(const DiskDef& media, const std::string& alias,
                              const std::string& oldSource, Done done);
    void insertMedium(const DiskDef& media, const std::string& alias, Done done);
    void plugTapInterface(DomainXml next, Done done);
    Stats hostStats() const;

    EventLoop& m_loop;
    ShimFiles m_files;
    QemuLog& m_log;
    DomainXml m_domain;
    QemuIdentity m_identity;
    HostPathOpener m_opener;
    TapBroker* m_tapBroker;
    DiskLeases* m_leases;
    DeviceBackends m_backends;               // sockets, SPICE port, swtpm
    std::map<size_t, TapBroker::Tap> m_taps; // NIC index -> TAP, until QEMU holds it
    VolumeBroker* m_volumeBroker = nullptr;
    VolumeFds m_volumeFds; // opened volumes, until QEMU holds them
    // Disk target -> the path of the volume storaged holds for this domain.
    std::map<std::string, std::string> m_volumePaths;
    Listener m_listener;
    qmp::Client m_qmp;
    qmp::Client m_agent; // the QEMU guest agent, same JSON protocol without a greeting
    pid_t m_pid = 0;
    EventSource m_exitWatch;
    EventSource m_killTimer;
    MachinePhase m_phase = MachinePhase::Idle;
    // What the shim reports (domain_state.hpp names); follows the phase, see setState.
    std::string m_state = "shutoff";
    std::string m_reason = "unknown";
    int m_restoreFd = -1;     // the managed save image to start from, until QEMU has it
    bool m_restoring = false; // started from a managed save image
    bool m_startPaused = false;
    std::string m_loadSnapshot; // -loadvm at launch
    bool m_snapshotJob = false; // a snapshot-save/load/delete job is running
    bool m_vcpuChange = false;  // setVcpus is adding or removing vCPUs
    EventSource m_snapshotPoll;
    EventSource m_migrationPoll;
    std::chrono::steady_clock::time_point m_saveStarted;
    bool m_saveAborted = false;
    Stats m_completedJob;                        // the save's figures once QEMU wrote all of it
    std::optional<std::string> m_shutdownReason; // from QMP SHUTDOWN
    // What a power-off of the guest (QMP SHUTDOWN) leads to. Not a phase: the guest keeps
    // running after an ACPI reboot request, and may ignore it.
    enum class OnPowerOff { Quit, Reset };
    OnPowerOff m_onPowerOff = OnPowerOff::Quit;
    EventSource m_shutdownTimer;
    std::map<std::string, std::string> m_ptyPaths;                   // serialN -> /dev/pts/M
    std::map<std::string, std::unique_ptr<ConsoleRelay>> m_consoles; // serialN -> session
    uint64_t m_graphicsClients = 0; // names each socket handed to the monitor
    // Unplugs waiting for the guest to release the device (DEVICE_DELETED).
    std::map<std::string, std::function<void()>> m_pendingUnplugs;
    Done m_startDone;
    std::vector<Done> m_destroyWaiters;
    Lifetime m_lifetime;
};

} // namespace virtswarm::shim
