// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <string>
#include <string_view>

namespace virtswarm {

// libvirt's own RelaxNG schema for domains (shipped by Debian's libvirt0 package).
inline constexpr const char* kDomainSchemaPath = "/usr/share/libvirt/schemas/domain.rng";

// What VIR_DOMAIN_DEFINE_VALIDATE does in libvirt: the text is checked against the
// schema, so unknown elements and attributes (typos) are refused instead of kept.
// The text is bounded and parsed as every definition is (xml::Document::parse: malformed
// text is MalformedXML); a mismatch is InvalidSchema with the schema's messages, as
// libvirt words it. The schema is compiled once, on first use, and kept.
Result<void> validateDomainSchema(std::string_view text,
                                  const std::string& schemaPath = kDomainSchemaPath);

} // namespace virtswarm
