// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

// Editing a stored definition as a document: what every change of a definition's XML
// (devices, memory, vCPUs, metadata) starts and ends with.
#include "virtswarm/domain_def.hpp"
#include "virtswarm/xml.hpp"

namespace virtswarm::detail {

// The definition's XML as a document. It was validated when stored, so a failure is
// Internal.
Result<xml::Document> parseDomainDoc(const DomainXml& domain);
// The edited document as a definition again, validated as a whole, still `domain`'s
// definer's.
Result<DomainXml> reparsedDomain(const DomainXml& domain, const xml::Document& doc);

} // namespace virtswarm::detail
