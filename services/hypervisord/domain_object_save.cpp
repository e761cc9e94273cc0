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
    auto bypassCache = boolOption(options, "bypass-cache", false);
    m_gate.handle(
        std::move(result),
        service::firstError(checkOptions(options, {"bypass-cache"}), bypassCache),
        domainAction("ManagedSave"),
        [this, bypassCache = bypassCache && bypassCache.value()](const SharedResult<>& shared) {
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
            int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
                            0600);
            if (fd < 0) {
                reply(shared, Error(Code::OperationFailed,
                                    "cannot create " + partial + ": " + std::strerror(errno)));
                return;
            }
            // Kept open here until the shim answers, to flush what QEMU wrote.
            auto file = std::make_shared<sdbus::UnixFd>(fd, sdbus::adopt_fd);
            auto guard = m_lifetime.guard();
            saveThroughShim(file, [this, guard, shared, file, path, partial,
                                   bypassCache](Result<void> saved) {
                // The image counts only once complete and on disk.
                if (saved) {
                    saved =
                        ::fsync(file->get()) == 0 && std::rename(partial.c_str(), path.c_str()) == 0
                            ? success()
                            : Result<void>(Error(Code::OperationFailed,
                                                 "cannot keep the managed save image: " +
                                                     std::string(std::strerror(errno))));
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

} // namespace virtswarm::hypervisor
