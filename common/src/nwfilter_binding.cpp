// SPDX-License-Identifier: LGPL-2.1-or-later
#include "virtswarm/nwfilter_binding.hpp"

#include "virtswarm/xml.hpp"

namespace virtswarm::nwfilter {
namespace {

Error invalid(const std::string& message) {
    return Error(Code::InvalidXML, "filter binding: " + message);
}

std::string attributeOf(xml::Node parent, const char* element, const char* attr) {
    xml::Node node = xml::firstChild(parent, element);
    return node == nullptr ? std::string() : xml::attribute(node, attr).value_or("");
}

} // namespace

bool validPortName(std::string_view name) {
    if (name.empty() || name.size() > 15 || !std::isalpha(static_cast<unsigned char>(name[0]))) {
        return false;
    }
    return name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789_.-") == std::string_view::npos;
}

Result<BindingXml> parseBindingXml(std::string_view text) {
    auto parsed = xml::Document::parse(text, kMaxBindingXmlBytes);
    if (!parsed) {
        return parsed.takeError();
    }
    xml::Node root = parsed.value().root();
    if (xml::name(root) != "filterbinding") {
        return invalid("root element must be <filterbinding>");
    }
    BindingDef def;
    if (xml::Node owner = xml::firstChild(root, "owner")) {
        xml::Node name = xml::firstChild(owner, "name");
        xml::Node uuid = xml::firstChild(owner, "uuid");
        def.ownerName = name == nullptr ? "" : xml::text(name);
        if (uuid != nullptr) {
            auto bytes = parseUuid(xml::text(uuid));
            if (!bytes) {
                return invalid("invalid owner <uuid>");
            }
            def.ownerUuid = bytes.value();
        }
    }
    def.portDev = attributeOf(root, "portdev", "name");
    if (!validPortName(def.portDev)) {
        return invalid("<portdev name='" + def.portDev.substr(0, 32) +
                       "'> is not a network interface name");
    }
    def.linkDev = attributeOf(root, "linkdev", "name");
    if (!def.linkDev.empty() && !validPortName(def.linkDev)) {
        return invalid("<linkdev> is not a network interface name");
    }
    def.mac = attributeOf(root, "mac", "address");
    if (auto r = checkAttributeValue("mac", "srcmacaddr", def.mac); !r) {
        return invalid("<mac address='" + def.mac.substr(0, 32) + "'> is not a MAC address");
    }
    xml::Node ref = xml::firstChild(root, "filterref");
    if (ref == nullptr || xml::children(root, "filterref").size() != 1) {
        return invalid("exactly one <filterref> is needed");
    }
    auto filter = parseFilterRef(ref);
    if (!filter) {
        return filter.takeError().prefix("filter binding");
    }
    def.filter = std::move(filter).value();
    return BindingXml{std::move(def), parsed.value().serialize()};
}

} // namespace virtswarm::nwfilter
