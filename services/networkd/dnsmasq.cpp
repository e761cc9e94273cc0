// SPDX-License-Identifier: LGPL-2.1-or-later
#include "dnsmasq.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/child_process.hpp"

#include <csignal>
#include <filesystem>
#include <memory>
#include <sstream>

namespace virtswarm::network {

Dnsmasq::Dnsmasq(std::string stateDir, const NetworkDef& def)
    : m_base(std::move(stateDir) + "/" + def.name)
    , m_def(def) {}

std::string Dnsmasq::config() const {
    std::string c;
    c += "# Written by virtswarm-networkd for network " + m_def.name + "; do not edit.\n";
    c += "strict-order\n";
    c += "pid-file=" + m_base + ".pid\n";
    c += "except-interface=lo\n";
    c += "bind-dynamic\n";
    c += "interface=" + m_def.bridge + "\n";
    c += "dhcp-leasefile=" + m_base + ".leases\n";
    c += "addn-hosts=" + m_base + ".hosts\n";
    c += "dhcp-no-override\n";
    c += "dhcp-authoritative\n";
    if (!m_def.domainName.empty()) {
        c += "domain=" + m_def.domainName + "\n";
        c += "local=/" + m_def.domainName + "/\n";
        c += "expand-hosts\n";
    }
    size_t leases = 0;
    for (const auto& ip : m_def.ips) {
        for (const auto& r : ip.ranges) {
            c += "dhcp-range=" + r.start + "," + r.end +
                 (ip.family == 6 ? "," + std::to_string(ip.prefix) : "") + "\n";
            leases += 256;
        }
        for (const auto& h : ip.hosts) {
            std::string entry = h.mac;
            if (!h.name.empty()) {
                entry += (entry.empty() ? "" : ",") + h.name;
            }
            c += "dhcp-host=" + entry + "," + (ip.family == 6 ? "[" + h.ip + "]" : h.ip) + "\n";
        }
        if (ip.family == 6 && !ip.ranges.empty()) {
            c += "enable-ra\n";
        }
    }
    if (leases > 0) {
        c += "dhcp-lease-max=" + std::to_string(leases) + "\n";
    }
    return c;
}

void Dnsmasq::start(EventLoop& loop, std::function<void(Result<void>)> done) {
    std::string hosts;
    for (const auto& h : m_def.dnsHosts) {
        hosts += h.ip;
        for (const auto& n : h.hostnames) {
            hosts += " " + n;
        }
        hosts += "\n";
    }
    if (auto r = writeFileAtomic(m_base + ".hosts", hosts, 0644); !r) {
        done(r);
        return;
    }
    if (auto r = writeFileAtomic(m_base + ".conf", config(), 0644); !r) {
        done(r);
        return;
    }
    SpawnOptions spawn;
    spawn.argv = {"/usr/sbin/dnsmasq", "--conf-file=" + m_base + ".conf"};
    auto pid = spawnProcess(spawn);
    if (!pid) {
        done(pid.takeError());
        return;
    }
    auto watch = std::make_shared<EventSource>();
    *watch = loop.addChild(pid.value(), [watch, done](const siginfo_t& info) {
        watch->reset();
        if (info.si_code == CLD_EXITED && info.si_status == 0) {
            done(success());
        } else {
            done(Error(Code::OperationFailed, "dnsmasq " + describeExit(info)));
        }
    });
}

pid_t Dnsmasq::runningPid() const {
    auto text = readFile(m_base + ".pid", 64);
    if (!text) {
        return 0;
    }
    pid_t pid = static_cast<pid_t>(std::atol(text.value().c_str()));
    if (pid <= 1 || kill(pid, 0) != 0) {
        return 0;
    }
    std::error_code ec;
    auto exe = std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
    return exe.filename() == "dnsmasq" ? pid : 0;
}

void Dnsmasq::stop() {
    if (pid_t pid = runningPid()) {
        kill(pid, SIGTERM);
    }
    (void)removeFileDurable(m_base + ".pid");
}

std::vector<Dnsmasq::Lease> Dnsmasq::leases() const {
    std::vector<Lease> out;
    auto text = readFile(m_base + ".leases", 16 * 1024 * 1024);
    if (!text) {
        return out;
    }
    std::istringstream in(text.value());
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string expiry, mac, ip, host, client;
        fields >> expiry >> mac >> ip >> host >> client;
        if (expiry == "duid" || ip.empty()) {
            continue;
        }
        bool v6 = ip.find(':') != std::string::npos;
        unsigned prefix = 0;
        for (const auto& def : m_def.ips) {
            if (def.family == (v6 ? 6 : 4)) {
                prefix = def.prefix;
            }
        }
        out.push_back(Lease{std::atoll(expiry.c_str()), v6 ? 1 : 0, mac, ip, prefix,
                            host == "*" ? "" : host, client == "*" ? "" : client});
    }
    return out;
}

} // namespace virtswarm::network
