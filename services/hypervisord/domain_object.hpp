// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "domain_model.hpp"
#include "save_image.hpp"
#include "snapshot_set.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/domain_state.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/polkit.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Hypervisor1.Domain_adaptor.h>

namespace virtswarm::hypervisor {

class Registry;
class SnapshotObject;

// The polkit action of a Domain method, from the one table (virtswarm/polkit_actions.hpp);
// a method missing from it does not compile.
consteval actions::MethodAction domainAction(std::string_view method) {
    return actions::forMethod(names::kDomainInterface, method);
}

// One domain on the bus: the Domain interface over the domain's model (domain_model.hpp).
// Methods authorize with polkit first, then ask the model or forward to the shim; anything
// that needs the shim is an async call with a timeout, so no method ever blocks the
// registry.
class DomainObject final
    : public sdbus::AdaptorInterfaces<org::virtswarm::Hypervisor1::Domain_adaptor,
                                      sdbus::Properties_adaptor, sdbus::ManagedObject_adaptor>,
      private DomainModelHost {
public:
    // On the bus at `objectPath` once constructed; the registry (service::ObjectRegistry)
    // announces it and its removal.
    DomainObject(Registry& registry, const std::string& objectPath, DomainXml domain,
                 bool persistent);
    ~DomainObject();

    DomainModel& model() { return m_model; }
    const DomainModel& model() const { return m_model; }
    const DomainDef& def() const { return m_model.def(); }
    const std::string& xml() const { return m_model.domain().xml; }
    std::string uuidHex() const { return m_model.uuidHex(); }
    std::string uuidText() const { return formatUuid(m_model.def().uuid); }
    bool persistent() const { return m_model.persistent(); }
    bool autostart() const { return m_model.autostart(); }
    bool active() const { return m_model.active(); }
    int id() const { return m_model.id(); }
    Lifetime::Guard lifetimeGuard() const { return m_lifetime.guard(); }
    // Statistics from the shim, or just the state when it is not running or does not
    // answer within `timeout` ("unavailable" = true then).
    void collectStats(std::chrono::milliseconds timeout, std::function<void(Options)> done);

    // The shim's DeviceRemoved: a vCPU released ("vcpuN", even after SetVcpus stopped
    // waiting for it) makes the running definition's vCPU count the shim's live one.
    void onDeviceRemoved(const std::string& alias);

    // Snapshots (domain_object_snapshot.cpp), for the SnapshotObjects.
    const SnapshotSet& snapshots() const { return m_snapshots; }
    Result<std::string> snapshotXml(const std::string& name, bool secure) const;
    // `paused`: the state after the revert; nullopt for the snapshot's own.
    void revertToSnapshot(const std::string& name, std::optional<bool> paused,
                          std::function<void(Result<void>)> done);
    struct SnapshotDeletion {
        bool children = false;     // its descendants too
        bool childrenOnly = false; // only its descendants
        bool metadataOnly = false; // the images keep the data
    };
    void deleteSnapshot(const std::string& name, SnapshotDeletion scope,
                        std::function<void(Result<void>)> done);
    // Undefine: the metadata of every snapshot goes (their data stays in the images).
    Result<void> forgetAllSnapshots();

private:
    // DomainModelHost: the model's news, on the bus and to the registry.
    void propertiesChanged(const std::vector<std::string>& names) override;
    void stateChanged(StateAndReason now) override;
    void lifecycleEvent(LifecycleEvent event) override;
    void released() override;
    int assignId() override;
    int recoverId() override;

    // Domain interface
    void Start(sdbus::Result<>&& result, Options options) override;
    void Shutdown(sdbus::Result<>&& result, Options options) override;
    void Destroy(sdbus::Result<>&& result, Options options) override;
    void Undefine(sdbus::Result<>&& result, Options options) override;
    void GetXML(sdbus::Result<std::string>&& result, Options options) override;
    void SetAutostart(sdbus::Result<>&& result, bool autostart, Options options) override;
    void Reboot(sdbus::Result<>&& result, Options options) override;
    void Reset(sdbus::Result<>&& result, Options options) override;
    void Suspend(sdbus::Result<>&& result, Options options) override;
    void Resume(sdbus::Result<>&& result, Options options) override;
    void GetStats(sdbus::Result<Options>&& result, Options options) override;
    void InterfaceAddresses(sdbus::Result<std::vector<GuestInterfaceWire>>&& result,
                            Options options) override;
    void GetTime(sdbus::Result<int64_t, uint32_t>&& result, Options options) override;
    void SetTime(sdbus::Result<>&& result, int64_t seconds, uint32_t nseconds,
                 Options options) override;
    void GetHostname(sdbus::Result<std::string>&& result, Options options) override;
    void OpenConsole(sdbus::Result<sdbus::UnixFd>&& result, std::string device,
                     Options options) override;
    void OpenGraphics(sdbus::Result<sdbus::UnixFd>&& result, uint32_t index,
                      Options options) override;
    void AddGraphicsClient(sdbus::Result<>&& result, uint32_t index, sdbus::UnixFd socket,
                           Options options) override;
    void AttachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void DetachDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void UpdateDevice(sdbus::Result<>&& result, std::string xml, Options options) override;
    void SetMemory(sdbus::Result<>&& result, uint64_t kib, Options options) override;
    void SetVcpus(sdbus::Result<>&& result, uint32_t count, Options options) override;
    void GetVcpus(sdbus::Result<uint32_t>&& result, Options options) override;
    void SendKey(sdbus::Result<>&& result, std::string codeset, uint32_t holdtime,
                 std::vector<uint32_t> keycodes, Options options) override;
    void InjectNMI(sdbus::Result<>&& result, Options options) override;
    void GetJobInfo(sdbus::Result<Options>&& result, Options options) override;
    void AbortJob(sdbus::Result<>&& result, Options options) override;
    void GetMetadata(sdbus::Result<std::string>&& result, std::string type, std::string uri,
                     Options options) override;
    void SetMetadata(sdbus::Result<>&& result, std::string type, std::string metadata,
                     std::string key, std::string uri, Options options) override;
    void Rename(sdbus::Result<>&& result, std::string name, Options options) override;
    void ManagedSave(sdbus::Result<>&& result, Options options) override;
    void ManagedSaveRemove(sdbus::Result<>&& result, Options options) override;
    void ManagedSaveGetXML(sdbus::Result<std::string>&& result, Options options) override;
    void ManagedSaveDefineXML(sdbus::Result<>&& result, std::string xml, Options options) override;
    void Save(sdbus::Result<>&& result, std::string path, Options options) override;
    using SnapshotEntry = sdbus::Struct<sdbus::ObjectPath, std::string, std::string, std::string,
                                        std::string, int64_t, bool, bool>;
    void CreateSnapshot(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                        Options options) override;
    void ListSnapshots(sdbus::Result<std::vector<SnapshotEntry>>&& result,
                       Options options) override;
    void LookupSnapshot(sdbus::Result<sdbus::ObjectPath>&& result, std::string name,
                        Options options) override;
    bool HasManagedSave() override { return m_model.hasManagedSave(); }
    std::string Name() override { return m_model.def().name; }
    std::string UUID() override { return uuidText(); }
    int32_t Id() override { return m_model.id(); }
    std::string State() override { return std::string(toString(m_model.state())); }
    std::string StateReason() override { return std::string(toString(m_model.reason())); }
    bool Persistent() override { return m_model.persistent(); }
    bool Autostart() override { return m_model.autostart(); }
    uint32_t Vcpus() override { return m_model.def().vcpus; }
    uint64_t MemoryKiB() override { return m_model.def().memoryKiB; }
    uint32_t CurrentVcpus() override { return m_model.def().vcpusCurrent; }
    uint64_t CurrentMemoryKiB() override { return m_model.def().currentMemoryKiB; }

    // Answers GetXML: the inactive, persistent or live definition, with the VNC password
    // only when `secure` (the caller holds read-secure).
    void replyXml(const std::shared_ptr<sdbus::Result<std::string>>& result, bool inactive,
                  bool secure);
    // Authorizes, checks the domain is in one of `states`, then forwards `method` (no
    // arguments but options) to the shim and answers with its outcome.
    void forwardToShim(sdbus::Result<>&& result, const Options& options,
                       const actions::MethodAction& action,
                       std::initializer_list<DomainState> states, const char* method);
    void changeDevice(sdbus::Result<>&& result, const std::string& xml, const Options& options,
                      bool attach);
    // libvirt's AFFECT_LIVE / AFFECT_CONFIG (options "live", "config") and, for memory and
    // vCPUs, its MAXIMUM flag ("maximum"); `extra` the method's further options.
    struct Affect {
        bool live = false;
        bool config = false;
        bool maximum = false;
    };
    static Result<Affect> affectOptions(const Options& options, std::vector<const char*> extra);
    // Neither live nor config: the running domain, else the persistent definition
    // (AFFECT_CURRENT). Errors: InvalidState for live on a domain that does not run,
    // config on a transient one.
    Result<Affect> resolveAffect(Affect affect) const;
    // The running domain's part of a change (a shim call), or null for none.
    using ShimDone = std::function<void(Result<void>)>;
    using LiveStep = std::function<void(ShimDone)>;
    // Runs `live`, then saves `nextConfig` (if any) as the persistent definition, then
    // `done`: a live refusal leaves the definition as it was.
    void changeLiveThenConfig(LiveStep live, std::optional<DomainXml> nextConfig, ShimDone done);
    // After Undefine removed the definition from disk: the managed save image, the TPM
    // state unless `keepTpm`, and persistence.
    void forgetDefinition(bool keepTpm);
    // The definition under `name`, or libvirt's refusal of the rename (domain_object_rename.cpp).
    Result<DomainXml> renamedDefinition(const std::string& name) const;
    // The shim pauses the guest, streams its state into `file` (from the file's offset)
    // and stops QEMU: ManagedSave and Save.
    // The managed save image opened for reading (or updating) with its header read; a
    // bare stream (saved before images had a header) has no definition of its own.
    struct ManagedImage {
        std::shared_ptr<sdbus::UnixFd> file;
        std::optional<SaveImage> image;
    };
    Result<ManagedImage> openManagedImage(bool forUpdate) const;
    void saveThroughShim(const std::shared_ptr<sdbus::UnixFd>& file,
                         std::function<void(Result<void>)> done);
    // The InvalidState error for a call the domain's current state does not allow.
    Error wrongState() const;
    // Snapshots (domain_object_snapshot.cpp).
    void loadSnapshots();
    void addSnapshotObject(const std::string& name);
    void removeSnapshotObject(const std::string& name);
    // `name` becomes the current snapshot.
    void makeCurrent(const std::string& name);
    // The current snapshot moved from `before`: both objects announce it.
    void currentSnapshotChanged(const std::string& before);
    // InvalidState while another snapshot operation runs or the domain starts; else marks
    // one as running (the operation clears it).
    Result<void> beginSnapshotOperation();
    // The snapshot a request makes of the domain as it is now, or why it cannot be taken.
    Result<SnapshotDef> planSnapshot(const SnapshotRequest& request, bool diskOnly) const;
    // CreateSnapshot with "redefine": the metadata of a snapshot (libvirt's stored form, as
    // GetXML gives it) is added or replaced as given; the images are not touched.
    void redefineSnapshot(sdbus::Result<sdbus::ObjectPath>&& result, const std::string& xml,
                          const Options& options);
    // InvalidArgs: another domain's definition inside, a parent that is unknown or below
    // the snapshot, a full-system snapshot turned disk-only or back.
    Result<void> checkRedefinition(const SnapshotDef& snapshot) const;
    // CreateSnapshot's options as they reach the taking.
    struct SnapshotTaking {
        bool halt = false;          // the domain stops once the snapshot is taken
        bool keep = true;           // false: no metadata (no-metadata)
        bool reuseExternal = false; // external overlays the user made (reuse-external)
        bool quiesce = false;       // a running guest's filesystems frozen by its agent
    };
    // An external snapshot's overlays: made by the shim (which moves the running guest onto
    // them) or, for a shut-off domain, here; then the definition points at them.
    void takeExternalSnapshot(const SnapshotDef& snapshot, SnapshotTaking how, ShimDone done);
    // `done` with the new snapshot's object path.
    void takeSnapshot(SnapshotDef snapshot, SnapshotTaking how,
                      std::function<void(Result<std::string>)> done);
    // Revert of a shut-off domain: the snapshot's definition, then its memory (a start with
    // -loadvm) or its disks (qemu-img; booted only if `paused` says how).
    void revertStopped(const SnapshotDef& snapshot, std::optional<bool> paused,
                       std::function<void(Result<void>)> done);
    // The definition the snapshot was taken with becomes the domain's (persistent ones on
    // disk first). Only while the domain is shut off.
    void restoreSnapshotDefinition(const SnapshotDef& snapshot,
                                   std::function<void(Result<void>)> done);
    // Deletes names[index...] one after the other: data (unless metadataOnly), metadata.
    void deleteSnapshotsFrom(std::vector<std::string> names, size_t index, bool metadataOnly,
                             std::function<void(Result<void>)> done);
    // One snapshot's metadata and object; its children and "current" move to its parent.
    Result<void> forgetSnapshot(const std::string& name);
    Error noSuchSnapshot(const std::string& name) const;

    Registry& m_registry;
    DomainModel m_model;
    // Every method: options, then polkit with the domain's details, then the action.
    service::MethodGate m_gate;
    SnapshotSet m_snapshots;
    std::map<std::string, std::unique_ptr<SnapshotObject>> m_snapshotObjects;
    // Saving a guest's memory into its image takes as long as writing it out.
    static constexpr auto kSnapshotTimeout = std::chrono::minutes(10);
    bool m_snapshotBusy = false;
    // libvirt's statistics of the last finished save, until read (a pointer: most
    // domains never have any).
    std::unique_ptr<Options> m_completedJob;
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
