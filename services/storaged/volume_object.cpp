// SPDX-License-Identifier: LGPL-2.1-or-later
#include "volume_object.hpp"

#include "pool_object.hpp"
#include "virtswarm/names.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/async_reply.hpp"
#include "volume_work.hpp"

namespace virtswarm::storage {
namespace {

using Volume_adaptor = org::virtswarm::Storage1::Volume_adaptor;

constexpr auto kDelete = actions::forMethod(names::kStorageVolumeInterface, "Delete");
constexpr auto kWipe = actions::forMethod(names::kStorageVolumeInterface, "Wipe");
constexpr auto kResize = actions::forMethod(names::kStorageVolumeInterface, "Resize");
constexpr auto kGetXML = actions::forMethod(names::kStorageVolumeInterface, "GetXML");
constexpr auto kUpload = actions::forMethod(names::kStorageVolumeInterface, "Upload");
constexpr auto kDownload = actions::forMethod(names::kStorageVolumeInterface, "Download");

} // namespace

std::string volumeObjectPath(const std::string& poolPath, const std::string& volumeName) {
    return poolPath + "/volume/" + escapePathElement(volumeName);
}

VolumeObject::VolumeObject(StorageService& service, PoolObject& pool, VolumeInfo info)
    : AdaptorInterfaces(service.bus(), volumeObjectPath(pool.getObjectPath(), info.name))
    , m_service(service)
    , m_poolObject(pool)
    , m_info(std::move(info))
    , m_path(volumeObjectPath(pool.getObjectPath(), m_info.name))
    , m_gate(
          getObject(), service.authority(),
          [this] { return m_poolObject.volumeDetails(m_info.name); },
          [this] {
              return Error(Code::NoSuchVolume, "storage volume '" + m_info.name + "' is gone");
          }) {
    registerAdaptor();
}

VolumeObject::~VolumeObject() {
    unregisterAdaptor();
}

sdbus::ObjectPath VolumeObject::Pool() {
    return sdbus::ObjectPath(m_poolObject.getObjectPath());
}

void VolumeObject::update(const VolumeInfo& info) {
    std::vector<std::string> changed;
    if (info.capacity != m_info.capacity) {
        changed.push_back("Capacity");
    }
    if (info.allocation != m_info.allocation) {
        changed.push_back("Allocation");
    }
    if (info.format != m_info.format) {
        changed.push_back("Format");
    }
    if (info.backingPath != m_info.backingPath) {
        changed.push_back("BackingPath");
    }
    m_info = info;
    if (!changed.empty()) {
        emitPropertiesChangedSignal(Volume_adaptor::INTERFACE_NAME, changed);
    }
}

Result<void> VolumeObject::notInUse() const {
    return m_service.holders().checkNotInUse(m_info.path, m_info.name);
}

void VolumeObject::Delete(sdbus::Result<>&& result, Options options) {
    m_gate.handle(std::move(result), service::firstError(checkOptions(options, {}), notInUse()),
                  kDelete, [this](const SharedResult<>& r) {
                      // The object goes away with the volume: answer from values, not `this`.
                      m_poolObject.pool().deleteVolume(
                          m_info.name, [r](Result<void> outcome) { reply(r, outcome); });
                  });
}

void VolumeObject::Wipe(sdbus::Result<sdbus::ObjectPath>&& result, Options options) {
    m_gate.handle(std::move(result), service::firstError(checkOptions(options, {}), notInUse()),
                  kWipe, [this](const SharedResult<sdbus::ObjectPath>& r) {
                      auto job = m_poolObject.pool().wipeVolume(m_info.name);
                      if (!job) {
                          fail(r, job.error());
                          return;
                      }
                      r->returnResults(m_service.publishJob(
                          job.value(), m_poolObject.volumeDetails(m_info.name)));
                  });
}

void VolumeObject::Resize(sdbus::Result<>&& result, uint64_t capacity, Options options) {
    auto shrink = boolOption(options, "shrink", false);
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"shrink"}), shrink,
                            capacity < m_info.capacity ? notInUse() : success()),
        kResize, [this, capacity, shrink = shrink.value_or(false)](const SharedResult<>& r) {
            m_poolObject.pool().resizeVolume(m_info.name, capacity, shrink,
                                             [r](Result<void> outcome) { reply(r, outcome); });
        });
}

void VolumeObject::GetXML(sdbus::Result<std::string>&& result, Options options) {
    m_gate.handle(std::move(result), checkOptions(options, {}), kGetXML,
                  [this](const SharedResult<std::string>& r) {
                      reply(r, Result<std::string>(formatVolumeXml(m_info)));
                  });
}

void VolumeObject::Upload(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                          Options options) {
    transfer(std::move(result), std::move(fd), options, kUpload, true);
}

void VolumeObject::Download(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                            Options options) {
    transfer(std::move(result), std::move(fd), options, kDownload, false);
}

void VolumeObject::transfer(sdbus::Result<sdbus::ObjectPath>&& result, sdbus::UnixFd fd,
                            const Options& options, const actions::MethodAction& action,
                            bool upload) {
    auto file = std::make_shared<sdbus::UnixFd>(std::move(fd));
    // Upload "offset" (t): the client's bytes are written into the volume from there, the
    // rest of it kept (libvirt's vol-upload --offset/--length); without it they replace
    // the volume's content.
    auto offset = uint64Option(options, "offset", 0);
    bool inPlace = options.count("offset") > 0;
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, upload ? std::vector<const char*>{"offset"}
                                                         : std::vector<const char*>{}),
                            offset, checkTransferFd(file->get(), !upload),
                            upload ? notInUse() : success()),
        action,
        [this, file, upload,
         at = inPlace ? std::optional<uint64_t>(offset.value_or(0))
                      : std::nullopt](const SharedResult<sdbus::ObjectPath>& r) {
            auto job = upload ? m_poolObject.pool().uploadVolume(m_info.name, file->get(), at)
                              : m_poolObject.pool().downloadVolume(m_info.name, file->get());
            if (!job) {
                fail(r, job.error());
                return;
            }
            r->returnResults(
                m_service.publishJob(job.value(), m_poolObject.volumeDetails(m_info.name)));
        });
}

} // namespace virtswarm::storage
