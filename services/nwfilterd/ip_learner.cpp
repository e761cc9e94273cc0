// SPDX-License-Identifier: LGPL-2.1-or-later
#include "ip_learner.hpp"

#include "port_monitor.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <array>
#include <cerrno>
#include <cstring>
#include <linux/filter.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace virtswarm::nwfilter {
namespace {

// What the kernel keeps of a guest's frame: its Ethernet, ARP and IPv4 headers (an IPv4
// header has at most 60 bytes).
constexpr uint32_t kGuestSnapBytes = 128;
constexpr uint32_t kWholeFrame = 0xffff;

// Classic BPF with forward jumps to labels, resolved by finish().
class BpfProgram {
public:
    enum Label { kNext = -1, kDrop, kGuest, kArp, kIpv4, kLabelCount };

    void at(Label label) { m_at[label] = static_cast<int>(m_code.size()); }
    void op(uint16_t code, uint32_t k) { jump(code, k, kNext, kNext); }
    void jump(uint16_t code, uint32_t k, Label yes, Label no) {
        m_code.push_back(sock_filter{code, 0, 0, k});
        m_targets.push_back({yes, no});
    }
    std::vector<sock_filter> finish() {
        for (size_t i = 0; i < m_code.size(); ++i) {
            m_code[i].jt = offset(i, m_targets[i][0]);
            m_code[i].jf = offset(i, m_targets[i][1]);
        }
        return m_code;
    }

private:
    uint8_t offset(size_t from, Label to) const {
        // Forward only, within 255: the programs below are a few dozen instructions.
        return to == kNext ? 0 : static_cast<uint8_t>(m_at[to] - static_cast<int>(from) - 1);
    }
    std::vector<sock_filter> m_code;
    std::vector<std::array<Label, 2>> m_targets;
    std::array<int, kLabelCount> m_at{};
};

constexpr uint16_t kLoadWord = BPF_LD | BPF_W | BPF_ABS, kLoadHalf = BPF_LD | BPF_H | BPF_ABS,
                   kLoadByte = BPF_LD | BPF_B | BPF_ABS, kLoadHalfX = BPF_LD | BPF_H | BPF_IND,
                   kLoadHeaderLength = BPF_LDX | BPF_B | BPF_MSH,
                   kEqual = BPF_JMP | BPF_JEQ | BPF_K, kAtLeast = BPF_JMP | BPF_JGE | BPF_K,
                   kAnyBit = BPF_JMP | BPF_JSET | BPF_K, kReturn = BPF_RET | BPF_K;
constexpr uint32_t kPktType = SKF_AD_OFF + SKF_AD_PKTTYPE;
constexpr uint32_t kVlanTagPresent = SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT;

// The accumulator holds an IPv4 address the guest uses: kept (its headers) if it is usable
// and not `known` (0: none).
void keepUsable(BpfProgram& p, uint32_t known) {
    using L = BpfProgram::Label;
    p.jump(kEqual, 0, L::kDrop, L::kNext);
    p.jump(kAtLeast, 0xe0000000u, L::kDrop, L::kNext); // multicast, class E, broadcast
    if (known != 0) {
        p.jump(kEqual, known, L::kDrop, L::kNext);
    }
    p.op(kReturn, kGuestSnapBytes);
}

// On what the port's device carries (raw socket: offsets start at the Ethernet header):
// frames going out to the guest that are IPv4 UDP to port 68 (the DHCP client's), not a
// non-first fragment; with `watch`, the guest's own untagged ARP and IPv4 from its MAC
// with a usable address. Everything else, above all the rest of what the guest sends, is
// dropped in the kernel: a flooding guest costs nwfilterd nothing.
std::vector<sock_filter> program(const MacBytes& mac, IpLearner::GuestWatch watch, uint32_t known) {
    using L = BpfProgram::Label;
    BpfProgram p;
    p.op(kLoadWord, kPktType);
    p.jump(kEqual, PACKET_OUTGOING, L::kNext, L::kGuest);
    p.op(kLoadHalf, 12);
    p.jump(kEqual, ETH_P_IP, L::kNext, L::kDrop);
    p.op(kLoadByte, kEthernetHeader + 9); // protocol
    p.jump(kEqual, IPPROTO_UDP, L::kNext, L::kDrop);
    p.op(kLoadHalf, kEthernetHeader + 6); // fragment offset
    p.jump(kAnyBit, 0x1fff, L::kDrop, L::kNext);
    p.op(kLoadHeaderLength, kEthernetHeader);
    p.op(kLoadHalfX, kEthernetHeader + 2); // UDP destination port
    p.jump(kEqual, 68, L::kNext, L::kDrop);
    p.op(kReturn, kWholeFrame);
    p.at(L::kGuest);
    if (watch != IpLearner::GuestWatch::Off) {
        p.op(kLoadWord, kVlanTagPresent);
        p.jump(kEqual, 0, L::kNext, L::kDrop);
        p.op(kLoadWord, 6); // source MAC
        p.jump(kEqual, be32(mac.data()), L::kNext, L::kDrop);
        p.op(kLoadHalf, 10);
        p.jump(kEqual, be16(mac.data() + 4), L::kNext, L::kDrop);
        p.op(kLoadHalf, 12);
        p.jump(kEqual, ETH_P_ARP, L::kArp, L::kNext);
        p.jump(kEqual, ETH_P_IP, L::kIpv4, L::kDrop);
        p.at(L::kArp);
        p.op(kLoadWord, kEthernetHeader + 14); // sender IP
        keepUsable(p, known);
        p.at(L::kIpv4);
        p.op(kLoadWord, kEthernetHeader + 12); // source address
        keepUsable(p, known);
    }
    p.at(L::kDrop);
    p.op(kReturn, 0);
    return p.finish();
}

Error systemError(const std::string& what) {
    return Error(Code::OperationFailed, what + ": " + std::strerror(errno));
}

Result<void> attach(int fd, std::vector<sock_filter> code) {
    sock_fprog fprog{static_cast<unsigned short>(code.size()), code.data()};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &fprog, sizeof fprog) < 0) {
        return systemError("cannot attach the learning filter");
    }
    return success();
}

} // namespace

Result<std::unique_ptr<IpLearner>> IpLearner::start(EventLoop& loop, const std::string& port,
                                                    const std::string& mac, Callbacks callbacks) {
    int ifindex = portIndex(port);
    if (ifindex == 0) {
        return Error(Code::InvalidArgs, "port device '" + port + "' does not exist");
    }
    auto bytes = macBytes(mac);
    if (!bytes) {
        return Error(Code::InvalidArgs, "'" + mac + "' is not a MAC address");
    }
    // Protocol 0: no frame is queued before the program is attached and the socket bound.
    int fd = ::socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return systemError("cannot open a packet socket on " + port);
    }
    sockaddr_ll address{};
    address.sll_family = AF_PACKET;
    address.sll_protocol = htons(ETH_P_ALL);
    address.sll_ifindex = ifindex;
    int small = 64 * 1024; // a flood overflows this, not nwfilterd's memory
    auto attached = attach(fd, program(*bytes, GuestWatch::Off, 0));
    if (!attached || ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) < 0 ||
        ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        Error error = attached ? systemError("cannot watch " + port) : attached.takeError();
        ::close(fd);
        return error;
    }
    std::unique_ptr<IpLearner> learner(new IpLearner(fd, *bytes, std::move(callbacks)));
    IpLearner* self = learner.get();
    learner->m_io = loop.addIo(fd, EPOLLIN, [self](uint32_t) { self->readAvailable(); });
    return learner;
}

IpLearner::IpLearner(int fd, MacBytes mac, Callbacks callbacks)
    : m_fd(fd)
    , m_mac(mac)
    , m_callbacks(std::move(callbacks)) {}

IpLearner::~IpLearner() {
    m_io.reset();
    ::close(m_fd);
}

Result<void> IpLearner::watchGuest(GuestWatch watch, const std::string& known) {
    uint8_t address[4] = {};
    if (watch == GuestWatch::Others && ::inet_pton(AF_INET, known.c_str(), address) != 1) {
        return Error(Code::InvalidArgs, "'" + known + "' is not an IPv4 address");
    }
    return attach(m_fd, program(m_mac, watch, be32(address)));
}

void IpLearner::readAvailable() {
    uint8_t frame[2048];
    for (int i = 0; i < kMaxPerWake; ++i) {
        sockaddr_ll from{};
        socklen_t fromLength = sizeof from;
        ssize_t n = ::recvfrom(m_fd, frame, sizeof frame, MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &fromLength);
        if (n < 0) {
            return; // EAGAIN: nothing more now (the next wake-up reads the rest)
        }
        size_t captured = std::min(static_cast<size_t>(n), sizeof frame);
        if (from.sll_pkttype != PACKET_OUTGOING) {
            // The guest's own frame (a DHCPACK it sends itself never counts).
            if (auto used = parseGuestAddress(frame, captured, m_mac)) {
                m_callbacks.guestAddress(*used); // may destroy this learner: nothing after it
                return;
            }
            continue;
        }
        if (captured != static_cast<size_t>(n) || captured < kEthernetHeader ||
            be16(frame + 12) != kEtherTypeIpv4) {
            continue; // truncated, or not IPv4
        }
        if (auto lease = parseDhcpAck(frame + kEthernetHeader, captured - kEthernetHeader, m_mac)) {
            m_callbacks.lease(*lease); // may destroy this learner: nothing after it
            return;
        }
    }
}

} // namespace virtswarm::nwfilter
