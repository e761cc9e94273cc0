// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ip_learner.hpp"

#include "port_monitor.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace virtswarm::nwfilter {
namespace {

// Classic BPF on what the port's device sends (datagram socket: offsets start at the IP
// header): frames going out to the guest, IPv4, UDP, not a non-first fragment, destination
// port 68 (the DHCP client's). Everything else, above all what the guest sends, is dropped
// in the kernel: a flooding guest costs nwfilterd nothing.
constexpr uint32_t kAncillaryPktType = SKF_AD_OFF + SKF_AD_PKTTYPE;
constexpr uint32_t kAncillaryProtocol = SKF_AD_OFF + SKF_AD_PROTOCOL;
sock_filter kDhcpToClient[] = {
    {0x20, 0, 0, kAncillaryPktType},  // ld pkttype
    {0x15, 0, 10, PACKET_OUTGOING},   // jeq OUTGOING ? next : drop
    {0x20, 0, 0, kAncillaryProtocol}, // ld ethertype
    {0x15, 0, 8, ETH_P_IP},           // jeq IPv4 ? next : drop
    {0x30, 0, 0, 9},                  // ldb [9]             protocol
    {0x15, 0, 6, IPPROTO_UDP},        // jeq UDP ? next : drop
    {0x28, 0, 0, 6},                  // ldh [6]             fragment offset
    {0x45, 4, 0, 0x1fff},             // jset #0x1fff ? drop : next
    {0xb1, 0, 0, 0},                  // ldxb 4*([0]&0xf)    IP header length
    {0x48, 0, 0, 2},                  // ldh [x + 2]         UDP destination port
    {0x15, 0, 1, 68},                 // jeq #68 ? accept : drop
    {0x06, 0, 0, 0xffff},             // ret accept
    {0x06, 0, 0, 0},                  // ret drop
};

Error systemError(const std::string& what) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(errno));
}

} // namespace

Result<std::unique_ptr<IpLearner>> IpLearner::start(EventLoop& loop, const std::string& port,
                                                    std::string mac,
                                                    std::function<void(const DhcpLease&)> learned) {
    int ifindex = portIndex(port);
    if (ifindex == 0) {
        return Error(Code::InvalidArgs, "port device '" + port + "' does not exist");
    }
    int fd = ::socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (fd < 0) {
        return systemError("cannot open a packet socket on " + port);
    }
    sock_fprog program{static_cast<unsigned short>(std::size(kDhcpToClient)), kDhcpToClient};
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    int small = 64 * 1024; // a flood overflows this, not nwfilterd's memory
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &program, sizeof program) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        Error error = systemError("cannot watch DHCP on " + port);
        ::close(fd);
        return error;
    }
    std::unique_ptr<IpLearner> learner(new IpLearner(fd, std::move(mac), std::move(learned)));
    IpLearner* self = learner.get();
    learner->m_io = loop.addIo(fd, EPOLLIN, [self](uint32_t) { self->readAvailable(); });
    return learner;
}

IpLearner::IpLearner(int fd, std::string mac, std::function<void(const DhcpLease&)> learned)
    : m_fd(fd)
    , m_mac(std::move(mac))
    , m_learned(std::move(learned)) {}

IpLearner::~IpLearner() {
    m_io.reset();
    ::close(m_fd);
}

void IpLearner::readAvailable() {
    uint8_t packet[1500];
    for (int i = 0; i < kMaxPerWake; ++i) {
        sockaddr_ll from{};
        socklen_t fromLength = sizeof from;
        ssize_t n = ::recvfrom(m_fd, packet, sizeof packet, MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &fromLength);
        if (n < 0) {
            return; // EAGAIN: nothing more now (the next wake-up reads the rest)
        }
        if (static_cast<size_t>(n) > sizeof packet || from.sll_pkttype != PACKET_OUTGOING) {
            continue; // truncated, or sent by the guest itself
        }
        if (auto lease = parseDhcpAck(packet, static_cast<size_t>(n), m_mac)) {
            m_learned(*lease); // may destroy this learner: nothing after it
            return;
        }
    }
}

} // namespace virtswarm::nwfilter
