// SPDX-License-Identifier: LGPL-2.1-or-later
// What storaged can do, as libvirt's virConnectGetStoragePoolCapabilities reports it:
// virt-manager and Cockpit ask before offering a pool type or a volume format.
#include "virtswarm/storage_def.hpp"

#include <sstream>

namespace virtswarm::storage {
namespace {

// libvirt's pool types, in its order; only those PoolType names are served.
constexpr std::string_view kLibvirtPoolTypes[] = {
    "dir",  "fs",    "netfs", "logical",  "disk",    "iscsi", "iscsi-direct",
    "scsi", "mpath", "rbd",   "sheepdog", "gluster", "zfs",   "vstorage"};

void formatOptions(std::ostringstream& out, const char* element, const char* enumName,
                   std::string_view defaultFormat, std::span<const std::string_view> values) {
    out << "    <" << element << ">\n      <defaultFormat type='" << defaultFormat
        << "'/>\n      <enum name='" << enumName << "'>\n";
    for (std::string_view v : values) {
        out << "        <value>" << v << "</value>\n";
    }
    out << "      </enum>\n    </" << element << ">\n";
}

} // namespace

std::string formatPoolCapabilities() {
    const std::string_view volumeFormats[] = {volumeFormatName(VolumeFormat::Raw),
                                              volumeFormatName(VolumeFormat::Qcow2)};
    const std::string_view lvm[] = {"lvm2"};
    std::ostringstream out;
    out << "<storagepoolCapabilities>\n";
    for (std::string_view type : kLibvirtPoolTypes) {
        bool dir = type == poolTypeName(PoolType::Dir);
        bool fs = type == poolTypeName(PoolType::Fs);
        bool logical = type == poolTypeName(PoolType::Logical);
        if (!dir && !fs && !logical) {
            out << "  <pool type='" << type << "' supported='no'/>\n";
            continue;
        }
        out << "  <pool type='" << type << "' supported='yes'>\n";
        if (fs) {
            formatOptions(out, "poolOptions", "sourceFormatType", "auto", fsSourceFormats());
        }
        if (logical) {
            // Logical volumes are raw: no volume formats to choose from.
            formatOptions(out, "poolOptions", "sourceFormatType", "lvm2", lvm);
        } else {
            formatOptions(out, "volOptions", "targetFormatType", "raw", volumeFormats);
        }
        out << "  </pool>\n";
    }
    out << "</storagepoolCapabilities>\n";
    return out.str();
}

} // namespace virtswarm::storage
