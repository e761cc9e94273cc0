// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/domain_metadata.hpp"

#include "domain_doc.hpp"

#include <cstring>
#include <libxml/tree.h>
#include <memory>

namespace virtswarm {
namespace {

// An application's metadata is small (virt-manager and Cockpit keep a few fields); each
// piece is bounded before it is parsed or stored.
constexpr size_t kMaxMetadataBytes = 256 * 1024;

const char* elementName(MetadataKind kind) {
    return kind == MetadataKind::Title ? "title" : "description";
}

Error notFound() {
    // libvirt's message for VIR_ERR_NO_DOMAIN_METADATA.
    return Error(Code::NoDomainMetadata,
                 "metadata not found: Requested metadata element is not present");
}

bool inNamespace(xml::Node node, const std::string& uri) {
    return node->ns != nullptr && node->ns->href != nullptr &&
           uri == reinterpret_cast<const char*>(node->ns->href);
}

// The element of namespace `uri` under <metadata>, or null.
xml::Node elementWithUri(xml::Node root, const std::string& uri) {
    xml::Node metadata = xml::firstChild(root, "metadata");
    if (metadata == nullptr) {
        return nullptr;
    }
    for (xml::Node child : xml::children(metadata)) {
        if (inNamespace(child, uri)) {
            return child;
        }
    }
    return nullptr;
}

// `node` on its own, its namespaces declared on it (they may live on <metadata>).
std::string serializeAlone(xml::Node node) {
    std::unique_ptr<xmlDoc, decltype(&xmlFreeDoc)> doc(
        xmlNewDoc(reinterpret_cast<const xmlChar*>("1.0")), xmlFreeDoc);
    xml::Node copy = xmlDocCopyNode(node, doc.get(), 1);
    xmlDocSetRootElement(doc.get(), copy);
    xmlReconciliateNs(doc.get(), copy);
    std::unique_ptr<xmlBuffer, decltype(&xmlBufferFree)> buffer(xmlBufferCreate(), xmlBufferFree);
    xmlNodeDump(buffer.get(), doc.get(), copy, 0, 0);
    return reinterpret_cast<const char*>(xmlBufferContent(buffer.get()));
}

// Where libvirt writes them: name, uuid, (genid), title, description, metadata.
xml::Node insertInOrder(xml::Node root, const char* name,
                        std::initializer_list<const char*> after) {
    for (const char* previous : after) {
        if (xml::Node sibling = xml::firstChild(root, previous)) {
            return xml::insertAfter(sibling, name);
        }
    }
    return xml::prependChild(root, name);
}

Result<void> setText(xml::Node root, MetadataKind kind, const std::string& value) {
    if (kind == MetadataKind::Title && value.find('\n') != std::string::npos) {
        return Error(Code::InvalidArgs, "Domain title can't contain newlines");
    }
    const char* name = elementName(kind);
    xml::Node node = xml::firstChild(root, name);
    if (value.empty()) {
        if (node != nullptr) {
            xml::removeNode(node);
        }
        return success();
    }
    if (node == nullptr) {
        node = kind == MetadataKind::Title
                   ? insertInOrder(root, name, {"genid", "uuid", "name"})
                   : insertInOrder(root, name, {"title", "genid", "uuid", "name"});
    }
    // Text, never markup: NodeSetContent would parse entities out of it.
    xmlNodeSetContent(node, nullptr);
    xmlNodeAddContent(node, reinterpret_cast<const xmlChar*>(value.c_str()));
    return success();
}

Result<void> setElement(xml::Document& doc, const std::string& value, const std::string& key,
                        const std::string& uri) {
    xml::Node root = doc.root();
    xml::Node snippetCopy = nullptr;
    if (!value.empty()) {
        if (key.empty() ||
            xmlValidateNCName(reinterpret_cast<const xmlChar*>(key.c_str()), 0) != 0) {
            return Error(Code::InvalidArgs, "metadata key '" + key + "' is not a valid XML name");
        }
        auto snippet = xml::Document::parse(value, kMaxMetadataBytes);
        if (!snippet) {
            return snippet.takeError();
        }
        snippetCopy = xmlDocCopyNode(snippet.value().root(), doc.raw(), 1);
        // The application's namespace with its prefix, on the element itself.
        xmlNs* ns = xmlNewNs(snippetCopy, reinterpret_cast<const xmlChar*>(uri.c_str()),
                             reinterpret_cast<const xmlChar*>(key.c_str()));
        xmlSetNs(snippetCopy, ns);
    }
    if (xml::Node old = elementWithUri(root, uri)) {
        xml::removeNode(old);
    }
    if (snippetCopy == nullptr) {
        return success();
    }
    xml::Node metadata = xml::firstChild(root, "metadata");
    if (metadata == nullptr) {
        metadata =
            insertInOrder(root, "metadata", {"description", "title", "genid", "uuid", "name"});
    }
    xmlAddChild(metadata, snippetCopy);
    return success();
}

Result<void> checkUriUse(MetadataKind kind, const std::string& key, const std::string& uri) {
    if (kind == MetadataKind::Element) {
        if (uri.empty()) {
            return Error(Code::InvalidArgs, "a metadata element needs a namespace URI");
        }
        return success();
    }
    if (!key.empty() || !uri.empty()) {
        return Error(Code::InvalidArgs,
                     "a key and URI are for metadata elements, not a title or description");
    }
    return success();
}

} // namespace

Result<MetadataKind> parseMetadataKind(std::string_view name) {
    if (name == "description") {
        return MetadataKind::Description;
    }
    if (name == "title") {
        return MetadataKind::Title;
    }
    if (name == "element") {
        return MetadataKind::Element;
    }
    return Error(Code::InvalidArgs, "metadata type '" + std::string(name) +
                                        "' is not one of description, title, element");
}

Result<std::string> metadataOf(const std::string& domainXml, MetadataKind kind,
                               const std::string& uri) {
    if (auto r = checkUriUse(kind, {}, uri); !r) {
        return r.takeError();
    }
    auto doc = xml::Document::parse(domainXml);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node root = doc.value().root();
    if (kind != MetadataKind::Element) {
        xml::Node node = xml::firstChild(root, elementName(kind));
        if (node == nullptr) {
            return notFound();
        }
        // Verbatim: a description's line breaks and spaces are the user's.
        std::unique_ptr<xmlChar, decltype(xmlFree)> content(xmlNodeGetContent(node), xmlFree);
        return std::string(content ? reinterpret_cast<const char*>(content.get()) : "");
    }
    xml::Node element = elementWithUri(root, uri);
    if (element == nullptr) {
        return notFound();
    }
    return serializeAlone(element);
}

Result<DomainXml> withMetadata(const DomainXml& domain, MetadataKind kind, const std::string& value,
                               const std::string& key, const std::string& uri) {
    if (auto r = checkUriUse(kind, key, uri); !r) {
        return r.takeError();
    }
    if (value.size() > kMaxMetadataBytes) {
        return Error(Code::InvalidArgs, "metadata of " + std::to_string(value.size()) +
                                            " bytes is larger than the " +
                                            std::to_string(kMaxMetadataBytes) + " allowed");
    }
    auto doc = detail::parseDomainDoc(domain);
    if (!doc) {
        return doc.takeError();
    }
    auto set = kind == MetadataKind::Element ? setElement(doc.value(), value, key, uri)
                                             : setText(doc.value().root(), kind, value);
    if (!set) {
        return set.takeError();
    }
    return detail::reparsedDomain(domain, doc.value());
}

} // namespace virtswarm
