// SPDX-License-Identifier: LGPL-2.1-or-later
#include "save_file.hpp"

#include "virtswarm/definer.hpp"
#include "virtswarm/host_path_opener.hpp"
#include "virtswarm/service/method_gate.hpp"

#include <climits>
#include <fcntl.h>

namespace virtswarm::hypervisor {

Result<SaveFileOptions> saveFileOptions(const Options& options, std::vector<const char*> allowed) {
    allowed.push_back(kDefinerUidOption);
    if (auto r = checkOptions(options, allowed); !r) {
        return r.takeError();
    }
    SaveFileOptions parsed;
    auto running = boolOption(options, "running", false);
    auto paused = boolOption(options, "paused", false);
    auto bypassCache = boolOption(options, "bypass-cache", false);
    auto secure = boolOption(options, "secure", false);
    if (auto r = service::firstError(running, paused, bypassCache, secure); !r) {
        return r.takeError();
    }
    if (running.value() && paused.value()) {
        return Error(Code::InvalidArgs, "the options running and paused are mutually exclusive");
    }
    if (running.value() || paused.value()) {
        parsed.running = running.value();
    }
    parsed.bypassCache = bypassCache.value();
    parsed.secure = secure.value();
    if (options.contains("uuid")) {
        auto text = stringOption(options, "uuid", "");
        if (!text) {
            return text.takeError();
        }
        auto uuid = parseUuid(text.value());
        if (!uuid) {
            return Error(Code::InvalidArgs, "the option uuid is not a UUID");
        }
        parsed.expectedUuid = uuid.value();
    }
    if (options.contains("xml")) {
        auto xml = stringOption(options, "xml", "");
        if (!xml) {
            return xml.takeError();
        }
        parsed.xml = xml.value();
    }
    return parsed;
}

Result<void> checkExpectedDomain(const SaveFileOptions& options, const DomainDef& saved) {
    if (options.expectedUuid && *options.expectedUuid != saved.uuid) {
        return Error(Code::InvalidArgs, "the save image now holds domain '" + saved.name + "' (" +
                                            formatUuid(saved.uuid) + "), not the one checked (" +
                                            formatUuid(*options.expectedUuid) + ")");
    }
    return success();
}

Result<void> checkSavePath(const std::string& path) {
    if (path.empty() || path.front() != '/') {
        return Error(Code::InvalidArgs, "the save file path '" + path + "' is not absolute");
    }
    if (path.size() >= PATH_MAX || path.find('\0') != std::string::npos) {
        return Error(Code::InvalidArgs, "the save file path is not a valid path");
    }
    return success();
}

Result<DomainXml> sameDomainXml(const std::string& xml, const DomainDef& saved) {
    auto parsed = parseDomainXml(xml);
    if (!parsed) {
        return parsed.takeError();
    }
    const DomainDef& given = parsed.value().def;
    // libvirt's ABI check, in its words and with its code.
    if (given.name != saved.name) {
        return Error(Code::ConfigUnsupported, "Target domain name '" + given.name +
                                                  "' does not match source '" + saved.name + "'");
    }
    if (given.uuid != saved.uuid) {
        return Error(Code::ConfigUnsupported, "Target domain uuid " + formatUuid(given.uuid) +
                                                  " does not match source " +
                                                  formatUuid(saved.uuid));
    }
    return parsed;
}

Result<int> openSaveFileForWrite(uid_t user, const std::string& path) {
    auto opener = HostPathOpener::forDefiner(user);
    if (!opener) {
        return opener.takeError();
    }
    return opener.value().openOutput(path, "save image", false);
}

Result<int> openSaveFileForRead(uid_t user, const std::string& path, bool forUpdate) {
    auto opener = HostPathOpener::forDefiner(user);
    if (!opener) {
        return opener.takeError();
    }
    return opener.value().openRegularFile(path, forUpdate ? O_RDWR : O_RDONLY, "save image");
}

} // namespace virtswarm::hypervisor
