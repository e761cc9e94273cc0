// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/domain_def.hpp"

#include <string>
#include <string_view>

// A domain's <title>, <description> and the elements under <metadata> that applications
// keep there, one per namespace URI (libvirt's virDomainGetMetadata/SetMetadata; what
// virt-manager, Cockpit and virsh desc/metadata read and write).
namespace virtswarm {

enum class MetadataKind { Description, Title, Element };

// "description", "title", "element" (the D-Bus form). Error: InvalidArgs.
Result<MetadataKind> parseMetadataKind(std::string_view name);

// The title's or description's text, or the element of namespace `uri` serialised with
// its namespace declared on it. `uri` is for elements only (InvalidArgs otherwise, and
// when an element is asked for without one). Error: NoDomainMetadata when there is none.
Result<std::string> metadataOf(const std::string& domainXml, MetadataKind kind,
                               const std::string& uri);

// The definition with the title or description set to `value`, or with the element of
// namespace `uri` replaced by `value` (one XML element, put into that namespace with the
// prefix `key`); an empty `value` removes it. Errors: InvalidArgs (a title with a
// newline, a missing or bad key or URI, `key`/`uri` given for a title or description),
// MalformedXML (`value` is not well-formed XML; libvirt's XML_DETAIL).
Result<DomainXml> withMetadata(const DomainXml& domain, MetadataKind kind, const std::string& value,
                               const std::string& key, const std::string& uri);

} // namespace virtswarm
