// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "save_file.hpp"
#include "virtswarm/authorize_definition.hpp"
#include "virtswarm/dbus_edge.hpp"
#include "virtswarm/domain_def.hpp"
#include "virtswarm/lifetime.hpp"
#include "virtswarm/polkit_actions.hpp"
#include "virtswarm/service/manager_base.hpp"

#include <functional>
#include <memory>
#include <sdbus-c++/sdbus-c++.h>
#include <virtswarm/gen/org.virtswarm.Hypervisor1.Manager_adaptor.h>

namespace virtswarm::hypervisor {

class DomainObject;
class Registry;

// /org/virtswarm/Hypervisor1: the Manager interface and the ObjectManager of all domains
// (lookups from the skeleton's ManagerBase), and host-wide queries.
class ManagerObject final
    : public service::ManagerBase<DomainObject, org::virtswarm::Hypervisor1::Manager_adaptor,
                                  sdbus::Properties_adaptor> {
public:
    explicit ManagerObject(Registry& registry);
    ~ManagerObject();

private:
    void DefineXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    void CreateXML(sdbus::Result<sdbus::ObjectPath>&& result, std::string xml,
                   Options options) override;
    std::vector<sdbus::ObjectPath> ListDomains(const Options& options) override;
    void GetAllStats(sdbus::Result<std::map<sdbus::ObjectPath, Options>>&& result,
                     Options options) override;
    std::string GetCapabilities() override;
    // Save files (manager_object_restore.cpp).
    void Restore(sdbus::Result<sdbus::ObjectPath>&& result, std::string path,
                 Options options) override;
    void SaveImageGetXML(sdbus::Result<std::string>&& result, std::string path,
                         Options options) override;
    void SaveImageDefineXML(sdbus::Result<>&& result, std::string path, std::string xml,
                            Options options) override;
    std::string Mode() override;
    std::string Version() override { return VIRTSWARM_VERSION; }

    using Admitted = std::function<void(const PathResult&, const std::shared_ptr<DomainXml>&)>;
    void authorizeAdmitted(sdbus::Result<sdbus::ObjectPath>&& result, const std::string& xml,
                           const Options& options, const actions::MethodAction& action,
                           Admitted then);
    // A definition now on disk, in the registry; its object path.
    Result<std::string> addDefinition(DomainXml domain);

    // A save file opened for the user the call acts for, its header and XML read, and
    // refused if it does not hold the domain `request` expects.
    struct OpenedImage {
        std::shared_ptr<sdbus::UnixFd> file; // at the start of QEMU's stream
        SaveImage image;
        DomainXml domain; // the image's definition
        uid_t user = 0;
    };
    using ImageOpened = std::function<void(Result<OpenedImage>)>;
    void openSaveImage(const Caller& caller, const std::string& path, const Options& options,
                       const SaveFileOptions& request, bool forUpdate, ImageOpened then);
    // polkit for `action` on the image's domain (its details), for the method's caller.
    void authorizeImage(const Caller& caller, const actions::MethodAction& action,
                        const DomainDef& def, std::function<void(Result<void>)> then);
    // Restore, once allowed: the image's domain started from the file.
    void restoreImage(const PathResult& shared, const std::shared_ptr<OpenedImage>& image,
                      const std::string& path, const SaveFileOptions& request);

    Registry& m_registry;
    Lifetime m_lifetime;
};

} // namespace virtswarm::hypervisor
