// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_tuning.hpp"

#include "domain_doc.hpp"

#include <algorithm>
#include <libxml/tree.h>

namespace virtswarm {
namespace {

constexpr uint64_t kMaxMemoryKiB = 16ULL << 30; // 16 TiB
constexpr uint32_t kMaxVcpus = 255;             // what parseDomainXml accepts

void setText(xml::Node node, const std::string& text) {
    xmlNodeSetContent(node, reinterpret_cast<const xmlChar*>(text.c_str()));
}

// The element `name` of the root, created after `after` (or last) when missing.
xml::Node elementOf(xml::Node root, const char* name, const char* after) {
    if (xml::Node node = xml::firstChild(root, name)) {
        return node;
    }
    xml::Node sibling = xml::firstChild(root, after);
    return sibling != nullptr ? xml::insertAfter(sibling, name) : xml::appendChild(root, name);
}

} // namespace

Result<DomainXml> withMemory(const DomainXml& domain, uint64_t kib, bool maximum) {
    if (kib == 0 || kib > kMaxMemoryKiB) {
        return Error(Code::InvalidArgs, "memory size " + std::to_string(kib) +
                                            " KiB is out of range (1 KiB to 16 TiB)");
    }
    const DomainDef& def = domain.def;
    if (!maximum && kib > def.memoryKiB) {
        // libvirt's words, so scripts matching them keep working.
        return Error(Code::InvalidArgs, "cannot set memory higher than max memory");
    }
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node root = doc.value().root();
    xml::Node memory = elementOf(root, "memory", "uuid");
    xml::Node current = elementOf(root, "currentMemory", "memory");
    uint64_t max = maximum ? kib : def.memoryKiB;
    uint64_t cur = maximum ? std::min(def.currentMemoryKiB, kib) : kib;
    for (auto [node, value] : {std::pair{memory, max}, std::pair{current, cur}}) {
        xml::setAttribute(node, "unit", "KiB");
        setText(node, std::to_string(value));
    }
    return detail::reparsedDomain(domain, doc.value());
}

Result<DomainXml> withVcpus(const DomainXml& domain, uint32_t count, bool maximum) {
    if (count == 0 || count > kMaxVcpus) {
        return Error(Code::InvalidArgs, "vCPU count " + std::to_string(count) +
                                            " is out of range (1 to " + std::to_string(kMaxVcpus) +
                                            ")");
    }
    const DomainDef& def = domain.def;
    if (!maximum && count > def.vcpus) {
        return Error(Code::InvalidArgs,
                     "requested vcpus is greater than max allowable vcpus for the persistent "
                     "domain: " +
                         std::to_string(count) + " > " + std::to_string(def.vcpus));
    }
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node vcpu = elementOf(doc.value().root(), "vcpu", "currentMemory");
    uint32_t max = maximum ? count : def.vcpus;
    uint32_t current = maximum ? std::min(def.vcpusCurrent, count) : count;
    setText(vcpu, std::to_string(max));
    if (current < max) {
        xml::setAttribute(vcpu, "current", std::to_string(current));
    } else {
        xml::removeAttribute(vcpu, "current");
    }
    return detail::reparsedDomain(domain, doc.value());
}

Result<DomainXml> withName(const DomainXml& domain, const std::string& name) {
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node node = elementOf(doc.value().root(), "name", "");
    // Text, never markup: NodeSetContent would parse entities out of it.
    xmlNodeSetContent(node, nullptr);
    xmlNodeAddContent(node, reinterpret_cast<const xmlChar*>(name.c_str()));
    return detail::reparsedDomain(domain, doc.value());
}

} // namespace virtswarm
