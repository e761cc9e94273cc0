// SPDX-License-Identifier: LGPL-2.1-or-later
#include "standard_filters.hpp"

namespace virtswarm::nwfilter {

// Variables: MAC is the port's own MAC address (always known); IP the guest's IPv4
// address(es), IPV6 its IPv6 ones, DHCPSERVER the DHCP server(s) a guest may hear from.
// Chains and priorities follow libvirt's, so that filters written for libvirt combine
// with these the same way (sub-chains are entered from the root chain in priority order).
const std::vector<StandardFilter>& standardFilters() {
    static const std::vector<StandardFilter> kFilters{
        // The guest sends frames only from its own MAC address.
        {"no-mac-spoofing", R"(<filter name='no-mac-spoofing' chain='mac'>
  <rule action='return' direction='out' priority='500'>
    <mac srcmacaddr='$MAC'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>
)"},
        // The guest sends no frame to the broadcast MAC address.
        {"no-mac-broadcast", R"(<filter name='no-mac-broadcast' chain='ipv4'>
  <rule action='drop' direction='out' priority='500'>
    <mac dstmacaddr='ff:ff:ff:ff:ff:ff'/>
  </rule>
</filter>
)"},
        // IPv4 from the guest carries one of its addresses, or is a DHCP client's UDP
        // from 0.0.0.0 (allow-dhcp decides on those).
        {"no-ip-spoofing", R"(<filter name='no-ip-spoofing' chain='ipv4-ip' priority='-710'>
  <rule action='return' direction='out' priority='100'>
    <ip srcipaddr='0.0.0.0' protocol='udp'/>
  </rule>
  <rule action='return' direction='out' priority='500'>
    <ip srcipaddr='$IP'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>
)"},
        // IPv6 from the guest carries one of its addresses or a link-local one.
        {"no-ipv6-spoofing", R"(<filter name='no-ipv6-spoofing' chain='ipv6-ip' priority='-610'>
  <rule action='return' direction='out' priority='100'>
    <ipv6 srcipaddr='fe80::' srcipmask='10'/>
  </rule>
  <rule action='return' direction='out' priority='500'>
    <ipv6 srcipaddr='$IPV6'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>
)"},
        // The guest sends no IPv4 multicast.
        {"no-ip-multicast", R"(<filter name='no-ip-multicast' chain='ipv4'>
  <rule action='drop' direction='out' priority='500'>
    <ip dstipaddr='224.0.0.0' dstipmask='4'/>
  </rule>
</filter>
)"},
        // ARP from the guest names its own MAC address as the sender.
        {"no-arp-mac-spoofing",
         R"(<filter name='no-arp-mac-spoofing' chain='arp-mac' priority='-520'>
  <rule action='return' direction='out' priority='350'>
    <arp srcmacaddr='$MAC' arpsrcmacaddr='$MAC'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>
)"},
        // ARP from the guest names one of its own IPv4 addresses as the sender: it cannot
        // answer for another guest's address.
        {"no-arp-ip-spoofing", R"(<filter name='no-arp-ip-spoofing' chain='arp-ip' priority='-510'>
  <rule action='return' direction='out' priority='400'>
    <arp arpsrcipaddr='$IP'/>
  </rule>
  <rule action='drop' direction='out' priority='1000'/>
</filter>
)"},
        {"no-arp-spoofing", R"(<filter name='no-arp-spoofing' chain='root'>
  <filterref filter='no-arp-mac-spoofing'/>
  <filterref filter='no-arp-ip-spoofing'/>
</filter>
)"},
        // A DHCP client: its broadcast requests out, any server's answers in.
        {"allow-dhcp", R"(<filter name='allow-dhcp' chain='ipv4'>
  <rule action='accept' direction='out' priority='100'>
    <ip srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' protocol='udp' srcportstart='68' dstportstart='67'/>
  </rule>
  <rule action='accept' direction='in' priority='100'>
    <ip protocol='udp' srcportstart='67' dstportstart='68'/>
  </rule>
</filter>
)"},
        // The same, with answers only from the servers in DHCPSERVER.
        {"allow-dhcp-server", R"(<filter name='allow-dhcp-server' chain='ipv4'>
  <rule action='accept' direction='out' priority='100'>
    <ip srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' protocol='udp' srcportstart='68' dstportstart='67'/>
  </rule>
  <rule action='accept' direction='in' priority='100'>
    <ip srcipaddr='$DHCPSERVER' protocol='udp' srcportstart='67' dstportstart='68'/>
  </rule>
</filter>
)"},
        {"allow-arp", R"(<filter name='allow-arp' chain='arp'>
  <rule action='accept' direction='inout' priority='500'/>
</filter>
)"},
        {"allow-ipv4", R"(<filter name='allow-ipv4' chain='ipv4'>
  <rule action='accept' direction='inout' priority='500'/>
</filter>
)"},
        {"allow-incoming-ipv4", R"(<filter name='allow-incoming-ipv4' chain='ipv4'>
  <rule action='accept' direction='in' priority='500'/>
</filter>
)"},
        {"allow-ipv6", R"(<filter name='allow-ipv6' chain='ipv6'>
  <rule action='accept' direction='inout' priority='500'/>
</filter>
)"},
        {"allow-incoming-ipv6", R"(<filter name='allow-incoming-ipv6' chain='ipv6'>
  <rule action='accept' direction='in' priority='500'/>
</filter>
)"},
        // Everything not accepted before is dropped, both ways.
        {"no-other-l2-traffic", R"(<filter name='no-other-l2-traffic'>
  <rule action='drop' direction='inout' priority='1000'/>
</filter>
)"},
        {"no-other-rarp-traffic", R"(<filter name='no-other-rarp-traffic' chain='rarp'>
  <rule action='drop' direction='inout' priority='1000'/>
</filter>
)"},
        // The RARP broadcast QEMU sends for the guest after a migration, so switches learn
        // where its MAC address now is.
        {"qemu-announce-self-rarp", R"(<filter name='qemu-announce-self-rarp' chain='rarp'>
  <rule action='accept' direction='out' priority='500'>
    <rarp srcmacaddr='$MAC' dstmacaddr='ff:ff:ff:ff:ff:ff' opcode='Request_Reverse' arpsrcmacaddr='$MAC' arpdstmacaddr='$MAC'/>
  </rule>
  <rule action='accept' direction='in' priority='500'>
    <rarp dstmacaddr='ff:ff:ff:ff:ff:ff' opcode='Request_Reverse' arpsrcmacaddr='$MAC' arpdstmacaddr='$MAC'/>
  </rule>
</filter>
)"},
        {"qemu-announce-self", R"(<filter name='qemu-announce-self' chain='root'>
  <filterref filter='qemu-announce-self-rarp'/>
  <filterref filter='no-other-rarp-traffic'/>
</filter>
)"},
        // What OpenStack and oVirt attach to every port: no MAC, IPv4 or ARP spoofing,
        // IPv4 and ARP only, and the guest's post-migration announcement.
        {"clean-traffic", R"(<filter name='clean-traffic' chain='root'>
  <filterref filter='no-mac-spoofing'/>
  <filterref filter='no-ip-spoofing'/>
  <rule action='accept' direction='out' priority='-650'>
    <mac protocolid='ipv4'/>
  </rule>
  <filterref filter='allow-incoming-ipv4'/>
  <filterref filter='no-arp-spoofing'/>
  <rule action='accept' direction='inout' priority='-500'>
    <mac protocolid='arp'/>
  </rule>
  <filterref filter='no-other-l2-traffic'/>
  <filterref filter='qemu-announce-self'/>
</filter>
)"},
    };
    return kFilters;
}

} // namespace virtswarm::nwfilter
