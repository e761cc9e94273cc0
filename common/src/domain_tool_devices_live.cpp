// SPDX-License-Identifier: LGPL-2.1-or-later
// What the live XML shows of the tool devices once they run: socket paths, ports, aliases
// and the guest agent's connection, as libvirt shows them.
#include "virtswarm/domain_devices.hpp"

namespace virtswarm {
namespace {

xml::Node childOrNew(xml::Node parent, const char* name) {
    xml::Node existing = xml::firstChild(parent, name);
    return existing != nullptr ? existing : xml::appendChild(parent, name);
}

void setAliases(xml::Node devices, const char* element, const std::string& prefix) {
    size_t index = 0;
    for (xml::Node node : xml::children(devices, element)) {
        xml::setAttribute(childOrNew(node, "alias"), "name", prefix + std::to_string(index++));
    }
}

void setGraphicsPort(xml::Node devices, std::string_view type, int port) {
    for (xml::Node g : xml::children(devices, "graphics")) {
        if (xml::attribute(g, "type").value_or("") == type) {
            xml::setAttribute(g, "port", std::to_string(port));
            return;
        }
    }
}

// A running display listens on an address: the live XML names it, as attribute and as
// <listen> child (libvirt's default, as QEMU is told, is 127.0.0.1).
void setGraphicsListen(xml::Node devices) {
    for (xml::Node g : xml::children(devices, "graphics")) {
        std::string type = xml::attribute(g, "type").value_or("");
        if (type != "vnc" && type != "spice") {
            continue;
        }
        xml::Node listen = childOrNew(g, "listen");
        std::string address =
            xml::attribute(g, "listen")
                .value_or(xml::attribute(listen, "address").value_or(kDefaultGraphicsListen));
        xml::setAttribute(g, "listen", address);
        xml::setAttribute(listen, "type", "address");
        xml::setAttribute(listen, "address", address);
    }
}

Result<xml::Document> parsed(const DomainXml& domain) {
    auto doc = xml::Document::parse(domain.xml);
    if (!doc) {
        return Error(Code::Internal, "live definition does not parse: " + doc.error().message());
    }
    return doc;
}

} // namespace

Result<DomainXml> withToolDeviceRuntime(const DomainXml& domain,
                                        const std::vector<std::string>& channelPaths,
                                        int spicePort) {
    auto doc = parsed(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node root = doc.value().root();
    if (xml::Node devices = xml::firstChild(root, "devices")) {
        auto channels = xml::children(devices, "channel");
        for (size_t i = 0; i < channels.size() && i < channelPaths.size(); ++i) {
            // Until QEMU reports the guest opened the port (VSERPORT_CHANGE).
            xml::setAttribute(childOrNew(channels[i], "target"), "state", "disconnected");
            if (!channelPaths[i].empty()) {
                xml::Node source = childOrNew(channels[i], "source");
                xml::setAttribute(source, "mode", "bind");
                xml::setAttribute(source, "path", channelPaths[i]);
            }
        }
        setAliases(devices, "channel", "channel");
        setAliases(devices, "sound", "sound");
        setAliases(devices, "rng", "rng");
        setAliases(devices, "tpm", "tpm");
        setAliases(devices, "watchdog", "watchdog");
        if (spicePort > 0) {
            setGraphicsPort(devices, "spice", spicePort);
        }
        setGraphicsListen(devices);
    }
    DomainXml out = domain;
    out.xml = doc.value().serialize();
    return out;
}

Result<DomainXml> withGraphicsPort(const DomainXml& domain, std::string_view type, int port) {
    auto doc = parsed(domain);
    if (!doc) {
        return doc.takeError();
    }
    if (xml::Node devices = xml::firstChild(doc.value().root(), "devices")) {
        setGraphicsPort(devices, type, port);
    }
    DomainXml out = domain;
    out.xml = doc.value().serialize();
    return out;
}

Result<DomainXml> withChannelState(const DomainXml& domain, const std::string& alias,
                                   bool connected) {
    auto doc = parsed(domain);
    if (!doc) {
        return doc.takeError();
    }
    xml::Node devices = xml::firstChild(doc.value().root(), "devices");
    for (xml::Node channel :
         devices ? xml::children(devices, "channel") : std::vector<xml::Node>{}) {
        xml::Node aliasNode = xml::firstChild(channel, "alias");
        if (aliasNode && xml::attribute(aliasNode, "name").value_or("") == alias) {
            xml::setAttribute(childOrNew(channel, "target"), "state",
                              connected ? "connected" : "disconnected");
            DomainXml out = domain;
            out.xml = doc.value().serialize();
            return out;
        }
    }
    return Error(Code::InvalidArgs, "no channel '" + alias + "'");
}

} // namespace virtswarm
