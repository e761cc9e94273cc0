// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct _xmlDoc;
struct _xmlNode;

namespace virtswarm::xml {

using Node = _xmlNode*;

// An owned libxml2 document. Parsing never touches the network and never expands
// entities: a DOCTYPE, an entity declaration or a reference other than the five
// predefined entities and character references is InvalidXML before any tree is built
// (libvirt's formats use none), as is a document larger than maxBytes.
class Document {
public:
    static Result<Document> parse(std::string_view text, size_t maxBytes = 4 * 1024 * 1024);

    Node root() const;
    std::string serialize() const;
    _xmlDoc* raw() const { return m_doc.get(); }

private:
    struct Free {
        void operator()(_xmlDoc* doc) const;
    };
    explicit Document(_xmlDoc* doc)
        : m_doc(doc) {}
    std::unique_ptr<_xmlDoc, Free> m_doc;
};

std::string_view name(Node node);
// One element and its subtree as text, without indentation added (`doc` owns it).
std::string serializeNode(const Document& doc, Node node);
// Text with &, <, > and both quotes escaped, for an element's text or an attribute.
std::string escape(std::string_view text);
std::optional<std::string> attribute(Node node, const char* attr);
void setAttribute(Node node, const char* attr, const std::string& value);
// Text content of the node (trimmed).
std::string text(Node node);
// Element children only, optionally filtered by name.
std::vector<Node> children(Node node, const char* filter = nullptr);
Node firstChild(Node node, const char* childName);
Node appendChild(Node parent, const char* childName, const std::string& text = {});
// Inserts a new element as the first element child (keeps generated ids near the top,
// where libvirt puts them).
Node prependChild(Node parent, const char* childName, const std::string& text = {});
void removeNode(Node node);
void removeAttribute(Node node, const char* attr);
// Inserts a new element right after `sibling`.
Node insertAfter(Node sibling, const char* childName, const std::string& text = {});

} // namespace virtswarm::xml
