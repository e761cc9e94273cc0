// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>
#include <string_view>

// A mediated device as libvirt's node device XML asks for one (`virsh nodedev-create`,
// virNodeDeviceCreateXML):
//
//   <device>
//     <parent>pci_0000_00_02_0</parent>
//     <capability type='mdev'>
//       <type id='i915-GVTg_V5_4'/>
//       <uuid>b1ae8bf6-38b0-4c81-9d44-78ce3f520496</uuid>   (optional)
//     </capability>
//   </device>
namespace virtswarm {

struct MdevRequest {
    std::string parent; // the parent's node device name
    std::string type;   // a name under the parent's mdev_supported_types
    std::string uuid;   // canonical; empty when the XML names none
};

// InvalidXML for what libvirt's parser refuses (no <device>, no <parent>, no type id, a
// malformed UUID, a device of no type it creates: "Unsupported device type");
// ConfigUnsupported for what libvirt creates and virtswarm does not (a vHBA, vendor
// attributes of an mdev); MalformedXML for text that is not XML.
Result<MdevRequest> parseMdevRequest(std::string_view xml);

} // namespace virtswarm
