// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/uuid.hpp"
#include "xdr.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

// The structures of remote_protocol.x the bridge reads and writes, with their codecs.
namespace virtswarm::bridge {

// remote_nonnull_domain: name, 16 raw UUID bytes, runtime id (-1 when inactive).
struct RemoteDomain {
    std::string name;
    UuidBytes uuid{};
    int32_t id = -1;

    bool operator==(const RemoteDomain&) const = default;
};

void writeDomain(xdr::Writer& w, const RemoteDomain& d);
RemoteDomain readDomain(xdr::Reader& r);
// remote_domain: optional remote_nonnull_domain.
std::optional<RemoteDomain> readOptionalDomain(xdr::Reader& r);
// A remote_uuid.
UuidBytes readUuid(xdr::Reader& r);

// remote_nonnull_network: name, 16 raw UUID bytes.
struct RemoteNetwork {
    std::string name;
    UuidBytes uuid{};

    bool operator==(const RemoteNetwork&) const = default;
};

void writeNetwork(xdr::Writer& w, const RemoteNetwork& n);
RemoteNetwork readNetwork(xdr::Reader& r);
// remote_network: optional remote_nonnull_network.
std::optional<RemoteNetwork> readOptionalNetwork(xdr::Reader& r);

// remote_nonnull_storage_pool: name and 16 raw UUID bytes, the layout of a network.
using RemoteStoragePool = RemoteNetwork;

inline void writeStoragePool(xdr::Writer& w, const RemoteStoragePool& p) {
    writeNetwork(w, p);
}
inline RemoteStoragePool readStoragePool(xdr::Reader& r) {
    return readNetwork(r);
}
// remote_storage_pool: optional remote_nonnull_storage_pool.
inline std::optional<RemoteStoragePool> readOptionalStoragePool(xdr::Reader& r) {
    return readOptionalNetwork(r);
}

// remote_nonnull_storage_vol: the pool's name, the volume's name and its key (its path).
struct RemoteStorageVol {
    std::string pool;
    std::string name;
    std::string key;

    bool operator==(const RemoteStorageVol&) const = default;
};

void writeStorageVol(xdr::Writer& w, const RemoteStorageVol& v);
RemoteStorageVol readStorageVol(xdr::Reader& r);

// remote_network_dhcp_lease. The optional strings (mac, iaid, hostname, clientid) are sent
// absent when empty, as libvirtd sends what dnsmasq did not record.
struct DhcpLease {
    std::string iface;
    int64_t expiryTime = 0; // seconds since the epoch
    int32_t type = 0;       // virIPAddrType: 0 IPv4, 1 IPv6
    std::string mac;
    std::string iaid;
    std::string ipaddr;
    uint32_t prefix = 0;
    std::string hostname;
    std::string clientId;

    bool operator==(const DhcpLease&) const = default;
};

void writeDhcpLease(xdr::Writer& w, const DhcpLease& lease);

// remote_error, the payload of every reply with status ERROR.
struct RpcError {
    int32_t code = 0;   // virErrorNumber
    int32_t domain = 0; // virErrorDomain
    std::string message;
    int32_t level = 2; // VIR_ERR_ERROR
    std::optional<RemoteDomain> dom;

    bool operator==(const RpcError&) const = default;
};

// Fields as libvirtd fills them (measured): str1 repeats the message, int1/int2 are -1,
// no domain or network attached unless given.
void writeError(xdr::Writer& w, const RpcError& e);
RpcError readError(xdr::Reader& r);

// remote_typed_param: a name and a discriminated value (VIR_TYPED_PARAM_* 1..7).
using TypedValue = std::variant<int32_t, uint32_t, int64_t, uint64_t, double, bool, std::string>;
struct TypedParam {
    std::string field;
    TypedValue value;

    bool operator==(const TypedParam&) const = default;
};

void writeTypedParams(xdr::Writer& w, const std::vector<TypedParam>& params);
std::vector<TypedParam> readTypedParams(xdr::Reader& r, uint32_t max);

// `char x[N]` and `char x<N>` fields take one 4-byte word per character (XDR has no byte
// type). The fixed form is cut or NUL-filled to exactly `size` characters.
void writeFixedCharArray(xdr::Writer& w, std::string_view text, size_t size);
void writeCharArray(xdr::Writer& w, std::string_view text);

} // namespace virtswarm::bridge
