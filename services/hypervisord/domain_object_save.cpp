// SPDX-License-Identifier: LGPL-2.1-or-later
// Managed save and save to a file, the Domain methods: the registry opens the image and
// hands the shim a descriptor to write through QEMU's migrate, so neither the shim nor
// QEMU needs any right on where it goes (the managed image's use by the next start:
// domain_model_save.cpp; a file's restore: manager_object_restore.cpp).
#include "domain_object.hpp"
#include "domain_reply.hpp"
#include "registry.hpp"
#include "save_file.hpp"
#include "virtswarm/atomic_file.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/log.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

// Writing a guest's whole memory to disk takes a while; a 16 GiB guest on a slow disk
// must not time out.
constexpr auto kSaveTimeout = std::chrono::minutes(10);
constexpr auto kSave = domainAction("Save");

// bypass-cache: the guest's memory must not stay in the host's page cache; once on disk
// its pages are dropped (libvirt writes with O_DIRECT through a helper instead; the effect
// on the cache once saved is the same).
void dropFromPageCache(int fd) {
    (void)::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
}

} // namespace

void DomainObject::ManagedSave(sdbus::Result<>&& result, Options options) {
    auto request = saveFileOptions(options, {"bypass-cache", "running", "paused"});
    m_gate.handle(
        std::move(result), service::firstError(request), domainAction("ManagedSave"),
        [this,
         request = request ? request.value() : SaveFileOptions{}](const SharedResult<>& shared) {
            if (!m_model.persistent()) {
                reply(shared,
                      Error(Code::InvalidState,
                            "cannot do managed save for transient domain '" + def().name + "'"));
                return;
            }
            if (m_model.state() != DomainState::Running && m_model.state() != DomainState::Paused) {
                reply(shared, notRunning(def().name));
                return;
            }
            const std::string path = m_model.managedSavePath();
            const std::string partial = path + ".partial";
            if (auto r = makeDirectories(std::filesystem::path(path).parent_path().string(), 0700);
                !r) {
                reply(shared, r);
                return;
            }
            int fd =
                ::open(partial.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
            if (fd < 0) {
                reply(shared, Error(Code::OperationFailed,
                                    "cannot create " + partial + ": " + std::strerror(errno)));
                return;
            }
            // Kept open here until the shim answers, to complete what QEMU wrote.
            auto file = std::make_shared<sdbus::UnixFd>(fd, sdbus::adopt_fd);
            // libvirt's image layout, as Save: the running definition goes with the
            // guest's state, and the next start restores it with that definition.
            bool wasRunning = request.running.value_or(m_model.state() == DomainState::Running);
            if (auto r = beginSaveImage(file->get(), m_model.domain().xml, wasRunning); !r) {
                ::unlink(partial.c_str());
                reply(shared, r.takeError().prefix("cannot write " + partial));
                return;
            }
            auto guard = m_lifetime.guard();
            saveThroughShim(file, [this, guard, shared, file, path, partial,
                                   bypassCache = request.bypassCache](Result<void> saved) {
                // The image counts only once complete and on disk.
                if (saved) {
                    saved = completeSaveImage(file->get());
                }
                if (saved && std::rename(partial.c_str(), path.c_str()) != 0) {
                    saved = Error(Code::OperationFailed, "cannot keep the managed save image: " +
                                                             std::string(std::strerror(errno)));
                }
                if (saved && bypassCache) {
                    dropFromPageCache(file->get());
                }
                if (!saved) {
                    ::unlink(partial.c_str());
                } else if (guard.alive()) {
                    log::info("domain '" + def().name + "' saved to " + path);
                    emitPropertiesChangedSignal(Domain_adaptor::INTERFACE_NAME, {"HasManagedSave"});
                }
                reply(shared, std::move(saved));
            });
        });
}

void DomainObject::Save(sdbus::Result<>&& result, std::string path, Options options) {
    auto request = saveFileOptions(options, {"xml", "running", "paused", "bypass-cache"});
    m_gate.handleFor(
        std::move(result), service::firstError(request, checkSavePath(path)), kSave,
        actions::objectDetails("domain", def().name, def().uuid),
        [this, path, options, request = request.value_or(SaveFileOptions{})](
            const SharedResult<>& shared, const service::MethodGate::AuthorizedCaller& caller) {
            if (m_model.state() != DomainState::Running && m_model.state() != DomainState::Paused) {
                reply(shared, notRunning(def().name));
                return;
            }
            // The file is the caller's (or the bridge's client's): opened with their rights.
            auto user = resolveDefiner(caller.uid, options);
            if (!user) {
                reply(shared, user.takeError());
                return;
            }
            std::string savedXml = xml();
            if (request.xml) {
                auto given = sameDomainXml(*request.xml, def());
                if (!given) {
                    reply(shared, given.takeError());
                    return;
                }
                savedXml = given.value().xml;
            }
            bool wasRunning = request.running.value_or(m_model.state() == DomainState::Running);
            auto fd = openSaveFileForWrite(user.value(), path);
            if (!fd) {
                reply(shared, fd.takeError());
                return;
            }
            auto file = std::make_shared<sdbus::UnixFd>(fd.value(), sdbus::adopt_fd);
            if (auto r = beginSaveImage(file->get(), savedXml, wasRunning); !r) {
                reply(shared, r.takeError().prefix("cannot write " + path));
                return;
            }
            auto guard = m_lifetime.guard();
            saveThroughShim(file, [this, guard, shared, file, path,
                                   bypassCache = request.bypassCache](Result<void> saved) {
                if (saved) {
                    saved = completeSaveImage(file->get());
                }
                if (saved && bypassCache) {
                    dropFromPageCache(file->get());
                }
                if (saved && guard.alive()) {
                    log::info("domain '" + def().name + "' saved to " + path);
                }
                // A failed save leaves the image marked partial: Restore refuses it.
                reply(shared, std::move(saved));
            });
        });
}

// The guest paused, its state streamed by QEMU's migrate into `file` from its current
// offset, and QEMU stopped; the domain is then shut off (saved).
void DomainObject::saveThroughShim(const std::shared_ptr<sdbus::UnixFd>& file,
                                   std::function<void(Result<void>)> done) {
    auto guard = m_lifetime.guard();
    m_registry.shims().call<Options>(
        uuidHex(), "ManagedSave", kSaveTimeout,
        [this, guard, done](Result<Options> job) {
            if (!job) {
                done(job.takeError());
                return;
            }
            // Kept here: the shim that saved is gone (libvirt keeps them with the domain).
            if (guard.alive()) {
                m_completedJob = std::make_unique<Options>(std::move(job).value());
            }
            done(success());
        },
        *file, Options{});
}

void DomainObject::ManagedSaveRemove(sdbus::Result<>&& result, Options options) {
    m_gate.handle(
        std::move(result), checkOptions(options, {}), domainAction("ManagedSaveRemove"),
        [this](const SharedResult<>& shared) {
            if (m_model.starting()) {
                reply(shared, Error(Code::InvalidState, "domain '" + def().name + "' is starting"));
                return;
            }
            reply(shared, m_model.removeManagedSave());
        });
}

Result<DomainObject::ManagedImage> DomainObject::openManagedImage(bool forUpdate) const {
    if (!m_model.hasManagedSave()) {
        return Error(Code::InvalidState, "domain does not have managed save image");
    }
    const std::string path = m_model.managedSavePath();
    int fd = ::open(path.c_str(), (forUpdate ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        return Error(Code::OperationFailed, "cannot open " + path + ": " + std::strerror(errno));
    }
    ManagedImage opened{std::make_shared<sdbus::UnixFd>(fd, sdbus::adopt_fd), std::nullopt};
    if (hasSaveImageHeader(fd)) {
        auto image = readSaveImage(fd);
        if (!image) {
            return image.takeError();
        }
        opened.image = std::move(image).value();
    }
    return opened;
}

void DomainObject::ManagedSaveGetXML(sdbus::Result<std::string>&& result, Options options) {
    auto secure = boolOption(options, "secure", false);
    Caller caller = currentCaller(getObject());
    m_gate.handle(std::move(result), service::firstError(checkOptions(options, {"secure"}), secure),
                  domainAction("ManagedSaveGetXML"),
                  [this, caller,
                   wantSecure = secure.value_or(false)](const SharedResult<std::string>& shared) {
                      auto opened = openManagedImage(false);
                      if (!opened) {
                          fail(shared, opened.error());
                          return;
                      }
                      // A bare stream is restored with the domain's own definition.
                      std::string xml =
                          opened.value().image ? opened.value().image->xml : m_model.domain().xml;
                      if (!wantSecure) {
                          shared->returnResults(withoutSecrets(xml));
                          return;
                      }
                      // As GetXML: secrets need read-secure on top of read.
                      m_gate.authorize(caller, actions::kDomainReadSecureAction,
                                       [shared, xml](Result<void> allowed) {
                                           if (!allowed) {
                                               fail(shared, allowed.error());
                                               return;
                                           }
                                           shared->returnResults(xml);
                                       });
                  });
}

void DomainObject::ManagedSaveDefineXML(sdbus::Result<>&& result, std::string xml,
                                        Options options) {
    auto request = saveFileOptions(options, {"running", "paused"});
    // Parsed (and bounded by the parser) before polkit is asked.
    auto given = sameDomainXml(xml, def());
    m_gate.handle(
        std::move(result), service::firstError(request, given),
        domainAction("ManagedSaveDefineXML"),
        [this, running = request ? request.value().running : std::nullopt,
         replacement = given ? given.value().xml : std::string()](const SharedResult<>& shared) {
            if (m_model.starting()) {
                reply(shared, Error(Code::InvalidState, "domain '" + def().name + "' is starting"));
                return;
            }
            auto opened = openManagedImage(true);
            if (!opened) {
                reply(shared, opened.takeError());
                return;
            }
            const auto& image = opened.value().image;
            if (!image) {
                reply(shared, Error(Code::ConfigUnsupported,
                                    "the managed save image has no room for a definition (it "
                                    "was saved by an older version)"));
                return;
            }
            reply(shared, rewriteSaveImage(opened.value().file->get(), *image, replacement,
                                           running.value_or(image->wasRunning)));
        });
}

} // namespace virtswarm::hypervisor
