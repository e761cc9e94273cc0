// SPDX-License-Identifier: LGPL-2.1-or-later
#include "domain_doc.hpp"

namespace virtswarm::detail {

Result<xml::Document> parseDomainDoc(const DomainXml& domain) {
    auto doc = xml::Document::parse(domain.xml);
    if (!doc) {
        return Error(Code::Internal, "stored definition does not parse: " + doc.error().message());
    }
    return doc;
}

Result<DomainXml> reparsedDomain(const DomainXml& domain, const xml::Document& doc) {
    auto updated = parseDomainXml(doc.serialize());
    if (updated) {
        updated.value().definer = domain.definer;
    }
    return updated;
}

} // namespace virtswarm::detail
