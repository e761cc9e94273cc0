// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/xml.hpp"

#include "xml_markup_check.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

namespace virtswarm::xml {
namespace {

const xmlChar* xc(const char* s) {
    return reinterpret_cast<const xmlChar*>(s);
}
const char* cc(const xmlChar* s) {
    return reinterpret_cast<const char*>(s);
}

std::string trim(std::string s) {
    auto first = s.find_first_not_of(" \t\r\n");
    if (first == std::string::npos) {
        return {};
    }
    auto last = s.find_last_not_of(" \t\r\n");
    return s.substr(first, last - first + 1);
}

// libxml2 reports parse errors through a global callback; collect the first one so the
// caller gets "line 3: Opening and ending tag mismatch" instead of a bare failure.
void silentError(void*, const char*, ...) {}

} // namespace

void Document::Free::operator()(_xmlDoc* doc) const {
    xmlFreeDoc(doc);
}

Result<Document> Document::parse(std::string_view text, size_t maxBytes) {
    if (text.size() > maxBytes) {
        return Error(Code::InvalidXML,
                     "XML document exceeds " + std::to_string(maxBytes) + " bytes");
    }
    if (text.empty()) {
        return Error(Code::MalformedXML, "empty XML document");
    }
    // Before libxml2 builds anything: an entity bomb costs this scan, not gigabytes.
    if (auto r = detail::refuseEntities(text); !r) {
        return r.takeError();
    }
    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (ctxt == nullptr) {
        return Error(Code::Internal, "cannot allocate an XML parser");
    }
    xmlSetGenericErrorFunc(nullptr, silentError);
    // UTF-8 whatever the document declares: the scan above read the bytes as UTF-8, so an
    // EBCDIC or UTF-16 declaration must not make the parser see other markup. No network,
    // no entity substitution (XML_PARSE_NOENT is not set), no DTD loading.
    xmlDocPtr doc = xmlCtxtReadMemory(
        ctxt, text.data(), static_cast<int>(text.size()), "domain.xml", "UTF-8",
        XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR | XML_PARSE_IGNORE_ENC);
    if (doc == nullptr) {
        std::string detail = "not well-formed";
        const xmlError* err = xmlCtxtGetLastError(ctxt);
        if (err != nullptr && err->message != nullptr) {
            detail = "line " + std::to_string(err->line) + ": " + trim(err->message);
        }
        xmlFreeParserCtxt(ctxt);
        return Error(Code::MalformedXML, "malformed XML: " + detail);
    }
    xmlFreeParserCtxt(ctxt);
    if (doc->intSubset != nullptr || doc->extSubset != nullptr) {
        xmlFreeDoc(doc); // unreachable after the scan; kept so a scanner bug fails closed
        return Error(Code::InvalidXML, "a DOCTYPE is not allowed in this XML");
    }
    if (xmlDocGetRootElement(doc) == nullptr) {
        xmlFreeDoc(doc);
        return Error(Code::InvalidXML, "XML document has no root element");
    }
    return Document(doc);
}

Node Document::root() const {
    return xmlDocGetRootElement(m_doc.get());
}

std::string serializeNode(const Document& doc, Node node) {
    xmlBufferPtr buf = xmlBufferCreate();
    xmlNodeDump(buf, doc.raw(), node, 0, 0);
    std::string out(cc(xmlBufferContent(buf)), static_cast<size_t>(xmlBufferLength(buf)));
    xmlBufferFree(buf);
    return out;
}

std::string escape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
        case '&':
            out += "&amp;";
            break;
        case '<':
            out += "&lt;";
            break;
        case '>':
            out += "&gt;";
            break;
        case '"':
            out += "&quot;";
            break;
        case '\'':
            out += "&apos;";
            break;
        default:
            out += c;
        }
    }
    return out;
}

std::string Document::serialize() const {
    // Serialize the root element only: no XML declaration, as libvirt prints it.
    xmlBufferPtr buf = xmlBufferCreate();
    xmlNodeDump(buf, m_doc.get(), root(), 0, 0);
    std::string out(cc(xmlBufferContent(buf)), static_cast<size_t>(xmlBufferLength(buf)));
    xmlBufferFree(buf);
    out += '\n';
    return out;
}

std::string_view name(Node node) {
    return cc(node->name);
}

std::optional<std::string> attribute(Node node, const char* attr) {
    xmlChar* v = xmlGetProp(node, xc(attr));
    if (v == nullptr) {
        return std::nullopt;
    }
    std::string out = cc(v);
    xmlFree(v);
    return out;
}

void setAttribute(Node node, const char* attr, const std::string& value) {
    xmlSetProp(node, xc(attr), xc(value.c_str()));
}

std::string text(Node node) {
    xmlChar* v = xmlNodeGetContent(node);
    if (v == nullptr) {
        return {};
    }
    std::string out = cc(v);
    xmlFree(v);
    return trim(out);
}

std::vector<Node> children(Node node, const char* filter) {
    std::vector<Node> out;
    for (xmlNodePtr c = node->children; c != nullptr; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && (filter == nullptr || name(c) == filter)) {
            out.push_back(c);
        }
    }
    return out;
}

Node firstChild(Node node, const char* childName) {
    auto all = children(node, childName);
    return all.empty() ? nullptr : all.front();
}

Node appendChild(Node parent, const char* childName, const std::string& content) {
    return xmlNewTextChild(parent, nullptr, xc(childName),
                           content.empty() ? nullptr : xc(content.c_str()));
}

Node prependChild(Node parent, const char* childName, const std::string& content) {
    Node created = xmlNewDocNode(parent->doc, nullptr, xc(childName), nullptr);
    if (!content.empty()) {
        xmlNodeAddContent(created, xc(content.c_str()));
    }
    auto existing = children(parent);
    if (existing.empty()) {
        return xmlAddChild(parent, created);
    }
    return xmlAddPrevSibling(existing.front(), created);
}

void removeAttribute(Node node, const char* attr) {
    xmlUnsetProp(node, xc(attr));
}

Node insertAfter(Node sibling, const char* childName, const std::string& content) {
    Node created = xmlNewDocNode(sibling->doc, nullptr, xc(childName), nullptr);
    if (!content.empty()) {
        xmlNodeAddContent(created, xc(content.c_str()));
    }
    return xmlAddNextSibling(sibling, created);
}

void removeNode(Node node) {
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

} // namespace virtswarm::xml
