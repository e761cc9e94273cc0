// SPDX-License-Identifier: LGPL-2.1-or-later
// The Manager's methods on save files (virsh restore, save-image-dumpxml,
// save-image-define): the file is opened with the rights of the user the call acts for,
// its header read within bounds, and only then is polkit asked, with the details of the
// domain the image holds.
#include "domain_object.hpp"
#include "manager_object.hpp"
#include "registry.hpp"
#include "save_file.hpp"
#include "virtswarm/definer.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/service/async_reply.hpp"

#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::hypervisor {
namespace {

constexpr auto kRestore = actions::forMethod(names::kHypervisorManagerInterface, "Restore");
constexpr auto kSaveImageGetXml =
    actions::forMethod(names::kHypervisorManagerInterface, "SaveImageGetXML");
constexpr auto kSaveImageDefineXml =
    actions::forMethod(names::kHypervisorManagerInterface, "SaveImageDefineXML");

} // namespace

void ManagerObject::openSaveImage(const Caller& caller, const std::string& path,
                                  const Options& options, const SaveFileOptions& request,
                                  bool forUpdate, ImageOpened then) {
    auto guard = m_lifetime.guard();
    m_registry.authority().lookUpUid(
        caller.sender, [guard, path, options, request, forUpdate, then](Result<uid_t> uid) {
            if (!guard.alive()) {
                return;
            }
            auto user = uid ? resolveDefiner(uid.value(), options) : Result<uid_t>(uid.error());
            if (!user) {
                then(user.takeError());
                return;
            }
            auto fd = openSaveFileForRead(user.value(), path, forUpdate);
            if (!fd) {
                then(fd.takeError());
                return;
            }
            OpenedImage opened;
            opened.file = std::make_shared<sdbus::UnixFd>(fd.value(), sdbus::adopt_fd);
            opened.user = user.value();
            auto image = readSaveImage(opened.file->get());
            if (!image) {
                then(image.takeError());
                return;
            }
            opened.image = std::move(image).value();
            auto domain = parseDomainXml(opened.image.xml);
            if (!domain) {
                then(domain.takeError().prefix("the domain XML in " + path));
                return;
            }
            opened.domain = std::move(domain).value();
            if (auto r = checkExpectedDomain(request, opened.domain.def); !r) {
                then(r.takeError());
                return;
            }
            then(std::move(opened));
        });
}

void ManagerObject::authorizeImage(const Caller& caller, const actions::MethodAction& action,
                                   const DomainDef& def, std::function<void(Result<void>)> then) {
    auto guard = m_lifetime.guard();
    m_registry.authority().checkBusNameForAll(
        caller.sender, actions::actionIds(action),
        actions::objectDetails("domain", def.name, def.uuid), caller.allowInteraction,
        [guard, then = std::move(then)](Result<uid_t> allowed) {
            if (guard.alive()) {
                then(allowed ? success() : Result<void>(allowed.error()));
            }
        });
}

void ManagerObject::Restore(sdbus::Result<sdbus::ObjectPath>&& result, std::string path,
                            Options options) {
    auto shared = share(std::move(result));
    auto request = saveFileOptions(options, {"xml", "running", "paused", "bypass-cache", "uuid"});
    if (auto r = service::firstError(request, checkSavePath(path)); !r) {
        fail(shared, r.error());
        return;
    }
    Caller caller = currentCaller(getObject());
    openSaveImage(
        caller, path, options, request.value(), false,
        [this, shared, caller, path, request = request.value()](Result<OpenedImage> opened) {
            if (!opened) {
                fail(shared, opened.error());
                return;
            }
            auto image = std::make_shared<OpenedImage>(std::move(opened).value());
            if (request.xml) {
                auto given = sameDomainXml(*request.xml, image->domain.def);
                if (!given) {
                    fail(shared, given.error());
                    return;
                }
                image->domain = std::move(given).value();
            }
            authorizeImage(caller, kRestore, image->domain.def,
                           [this, shared, image, path, request](Result<void> allowed) {
                               if (!allowed) {
                                   fail(shared, allowed.error());
                                   return;
                               }
                               restoreImage(shared, image, path, request);
                           });
        });
}

void ManagerObject::restoreImage(const PathResult& shared,
                                 const std::shared_ptr<OpenedImage>& image, const std::string& path,
                                 const SaveFileOptions& request) {
    DomainXml domain = image->domain;
    // Whoever restores is who this run belongs to: its host paths are opened as them.
    domain.definer = image->user;
    if (auto conflict = m_registry.conflictFor(domain.def)) {
        fail(shared, *conflict);
        return;
    }
    DomainObject* target = m_registry.findByUuid(domain.def.uuid);
    if (target != nullptr && (target->active() || target->model().starting())) {
        fail(shared,
             Error(Code::InvalidState, "domain '" + domain.def.name + "' is already active"));
        return;
    }
    if (target == nullptr) {
        auto defined = m_registry.define(domain, false);
        if (!defined) {
            fail(shared, defined.error());
            return;
        }
        target = defined.value();
    } else {
        target->model().runOnceWith(domain);
    }
    // QEMU reads the stream from the file's offset, just past the XML.
    int streamFd = ::fcntl(image->file->get(), F_DUPFD_CLOEXEC, 3);
    if (streamFd < 0) {
        fail(shared, Error(Code::OperationFailed, "cannot pass the save image on"));
        return;
    }
    bool paused = !request.running.value_or(image->image.wasRunning);
    auto objectPath = Registry::objectPathFor(domain.def.uuid);
    log::info("restoring domain '" + domain.def.name + "' from " + path);
    target->model().start(
        [shared, image, objectPath, bypassCache = request.bypassCache](Result<void> outcome) {
            if (bypassCache) {
                (void)::posix_fadvise(image->file->get(), 0, 0, POSIX_FADV_DONTNEED);
            }
            if (outcome) {
                shared->returnResults(sdbus::ObjectPath(objectPath));
            } else {
                fail(shared, outcome.error());
            }
        },
        StartOptions{.imageFd = streamFd, .paused = paused});
}

void ManagerObject::SaveImageGetXML(sdbus::Result<std::string>&& result, std::string path,
                                    Options options) {
    auto shared = share(std::move(result));
    auto request = saveFileOptions(options, {"secure"});
    if (auto r = service::firstError(request, checkSavePath(path)); !r) {
        fail(shared, r.error());
        return;
    }
    Caller caller = currentCaller(getObject());
    bool secure = request.value().secure;
    openSaveImage(caller, path, options, request.value(), false,
                  [this, shared, caller, secure](Result<OpenedImage> opened) {
                      if (!opened) {
                          fail(shared, opened.error());
                          return;
                      }
                      auto image = std::make_shared<OpenedImage>(std::move(opened).value());
                      authorizeImage(
                          caller, kSaveImageGetXml, image->domain.def,
                          [this, shared, caller, secure, image](Result<void> allowed) {
                              if (!allowed) {
                                  fail(shared, allowed.error());
                                  return;
                              }
                              if (!secure) {
                                  shared->returnResults(withoutSecrets(image->domain.xml));
                                  return;
                              }
                              // As GetXML: secrets need read-secure on top of read.
                              m_registry.authority().checkBusName(
                                  caller.sender, std::string(actions::kDomainReadSecureAction),
                                  actions::objectDetails("domain", image->domain.def.name,
                                                         image->domain.def.uuid),
                                  caller.allowInteraction, [shared, image](Result<void> ok) {
                                      if (!ok) {
                                          fail(shared, ok.error());
                                      } else {
                                          shared->returnResults(image->domain.xml);
                                      }
                                  });
                          });
                  });
}

void ManagerObject::SaveImageDefineXML(sdbus::Result<>&& result, std::string path, std::string xml,
                                       Options options) {
    auto shared = share(std::move(result));
    auto request = saveFileOptions(options, {"running", "paused", "uuid"});
    if (auto r = service::firstError(request, checkSavePath(path)); !r) {
        fail(shared, r.error());
        return;
    }
    Caller caller = currentCaller(getObject());
    openSaveImage(
        caller, path, options, request.value(), true,
        [this, shared, caller, xml, request = request.value()](Result<OpenedImage> opened) {
            if (!opened) {
                fail(shared, opened.error());
                return;
            }
            auto image = std::make_shared<OpenedImage>(std::move(opened).value());
            auto given = sameDomainXml(xml, image->domain.def);
            if (!given) {
                fail(shared, given.error());
                return;
            }
            auto replacement = std::make_shared<DomainXml>(std::move(given).value());
            authorizeImage(caller, kSaveImageDefineXml, image->domain.def,
                           [shared, image, replacement, request](Result<void> allowed) {
                               if (allowed) {
                                   allowed = rewriteSaveImage(
                                       image->file->get(), image->image, replacement->xml,
                                       request.running.value_or(image->image.wasRunning));
                               }
                               reply(shared, allowed);
                           });
        });
}

} // namespace virtswarm::hypervisor
