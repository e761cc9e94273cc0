// SPDX-License-Identifier: LGPL-2.1-or-later
// Serial consoles: the ptys QEMU allocated, handed out as file descriptors.
#include "machine.hpp"
#include "qemu_ids.hpp"
#include "virtswarm/log.hpp"
#include "virtswarm/xml.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>

namespace virtswarm::shim {

void Machine::discoverPtys(std::function<void()> then) {
    auto guard = m_lifetime.guard();
    m_qmp.execute("query-chardev", nlohmann::json::object(),
                  [this, guard, then](Result<nlohmann::json> r) {
                      if (!guard.alive()) {
                          return;
                      }
                      if (r) {
                          for (const auto& dev : r.value()) {
                              std::string label = dev.value("label", "");
                              std::string file = dev.value("filename", "");
                              if (label.rfind("serial", 0) == 0 && file.rfind("pty:", 0) == 0) {
                                  m_ptyPaths[label] = file.substr(4);
                              }
                          }
                      }
                      then();
                  });
}

Result<int> Machine::openConsole(const std::string& device, bool force) {
    std::string alias = device.empty() || device == "console0" ? "serial0" : device;
    size_t index = 0;
    if (alias.rfind("serial", 0) != 0 ||
        (index = static_cast<size_t>(std::atoi(alias.c_str() + 6))) >=
            m_domain.def.serials.size()) {
        return Error(Code::InvalidArgs, "no console device '" + device + "'");
    }
    if (m_domain.def.serials[index].type != "pty") {
        return Error(Code::NotSupported,
                     "console '" + alias + "' is logged to a file, not connected to a pty");
    }
    auto it = m_ptyPaths.find(alias);
    if (it == m_ptyPaths.end()) {
        return Error(Code::InvalidState, "console '" + alias + "' is not available yet");
    }
    auto& session = m_consoles[alias];
    if (session && session->active()) {
        if (!force) {
            // libvirt's words (virChrdevOpen), which scripts and users recognise.
            return Error(Code::OperationFailed, "Active console session exists for this domain");
        }
        log::info("console '" + alias + "' taken over: ending the previous session");
        session.reset(); // its client reads end of file
    }
    auto relay = ConsoleRelay::open(m_loop, it->second);
    if (!relay) {
        return relay.takeError();
    }
    session = std::move(relay.value().first);
    return relay.value().second;
}

std::string Machine::liveXml() const {
    auto doc = xml::Document::parse(m_domain.xml);
    if (!doc) {
        return m_domain.xml;
    }
    auto devices = xml::firstChild(doc.value().root(), "devices");
    if (devices == nullptr) {
        return m_domain.xml;
    }
    // Show where each pty serial (and the console sharing serial0) really is.
    size_t serialIndex = 0;
    for (xml::Node node : xml::children(devices)) {
        std::string_view n = xml::name(node);
        if (n != "serial" && n != "console") {
            continue;
        }
        std::string alias = qemu_id::serial(n == "serial" ? serialIndex++ : 0);
        auto it = m_ptyPaths.find(alias);
        if (it == m_ptyPaths.end() || xml::attribute(node, "type").value_or("pty") != "pty") {
            continue;
        }
        xml::setAttribute(node, "tty", it->second);
        xml::Node source = xml::firstChild(node, "source");
        if (source == nullptr) {
            source = xml::appendChild(node, "source");
        }
        xml::setAttribute(source, "path", it->second);
        xml::Node aliasNode = xml::firstChild(node, "alias");
        if (aliasNode == nullptr) {
            xml::setAttribute(xml::appendChild(node, "alias"), "name", alias);
        }
    }
    return doc.value().serialize();
}

} // namespace virtswarm::shim
