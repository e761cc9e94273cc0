// SPDX-License-Identifier: LGPL-2.1-or-later
#include "firewall.hpp"

#include "virtswarm/atomic_file.hpp"
#include "virtswarm/child_process.hpp"
#include "virtswarm/log.hpp"

#include <memory>

namespace virtswarm::network {
namespace {

std::string subnet(const IpDef& ip) {
    // nft accepts a host address with a prefix and masks it itself.
    return ip.address + "/" + std::to_string(ip.prefix);
}

const char* ipKeyword(const IpDef& ip) {
    return ip.family == 4 ? "ip" : "ip6";
}

} // namespace

std::string firewallRuleset(const std::vector<const NetworkDef*>& active) {
    std::string forward, postrouting, input;
    for (const NetworkDef* n : active) {
        if (!n->ownsBridge() || n->forwardMode == "open") {
            continue;
        }
        const std::string br = "\"" + n->bridge + "\"";
        // DHCP and DNS from the guests to dnsmasq.
        if (!n->ips.empty()) {
            input += "    iifname " + br + " udp dport { 53, 67, 547 } accept\n";
            input += "    iifname " + br + " tcp dport 53 accept\n";
        }
        forward += "    iifname " + br + " oifname " + br + " accept\n";
        for (const auto& ip : n->ips) {
            std::string k = ipKeyword(ip);
            if (n->forwardMode == "nat" || n->forwardMode == "route") {
                std::string out = n->forwardDev.empty() ? "" : " oifname \"" + n->forwardDev + "\"";
                forward +=
                    "    iifname " + br + out + " " + k + " saddr " + subnet(ip) + " accept\n";
                std::string back = n->forwardMode == "nat" ? " ct state related,established" : "";
                forward +=
                    "    oifname " + br + " " + k + " daddr " + subnet(ip) + back + " accept\n";
            }
            if (n->forwardMode == "nat" && ip.family == 4) {
                postrouting += "    " + k + " saddr " + subnet(ip) + " " + k +
                               " daddr != " + subnet(ip) + " masquerade\n";
            }
        }
        // Everything else into or out of the bridge is refused (isolated networks only
        // ever get these two).
        forward += "    iifname " + br + " reject\n";
        forward += "    oifname " + br + " reject\n";
    }
    if (forward.empty() && postrouting.empty() && input.empty()) {
        return {};
    }
    std::string t = std::string("table inet ") + kFirewallTable + " {\n";
    t += "  chain input {\n    type filter hook input priority filter; policy accept;\n" + input +
         "  }\n";
    t += "  chain forward {\n    type filter hook forward priority filter; policy accept;\n" +
         forward + "  }\n";
    t += "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n" +
         postrouting + "  }\n";
    t += "}\n";
    return t;
}

std::string firewallTransaction(const std::vector<const NetworkDef*>& active) {
    // Create-then-delete makes the delete valid whether or not the table exists; the
    // whole file is one transaction, so the table is never seen half-built.
    std::string t = std::string("table inet ") + kFirewallTable + "\n";
    t += std::string("delete table inet ") + kFirewallTable + "\n";
    return t + firewallRuleset(active);
}

void applyFirewall(EventLoop& loop, const std::string& stateDir,
                   const std::vector<const NetworkDef*>& active,
                   std::function<void(Result<void>)> done) {
    std::string file = stateDir + "/firewall.nft";
    if (auto r = writeFileAtomic(file, firewallTransaction(active), 0600); !r) {
        done(r);
        return;
    }
    SpawnOptions spawn;
    spawn.argv = {"/usr/sbin/nft", "-f", file};
    auto pid = spawnProcess(spawn);
    if (!pid) {
        done(pid.takeError());
        return;
    }
    auto watch = std::make_shared<EventSource>();
    *watch = loop.addChild(pid.value(), [watch, done](const siginfo_t& info) {
        if (info.si_code == CLD_EXITED && info.si_status == 0) {
            done(success());
        } else {
            done(Error(Code::OperationFailed, "nft " + describeExit(info)));
        }
        watch->reset();
    });
}

} // namespace virtswarm::network
