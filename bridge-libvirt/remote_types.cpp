// SPDX-License-Identifier: LGPL-2.1-or-later
#include "remote_types.hpp"

#include "protocol.hpp"

namespace virtswarm::bridge {
namespace {

// The smallest encoding of one element, for xdr::Reader::arrayCount.
constexpr size_t kMinTypedParamSize = 4 + 4 + 4; // empty name, type, 4-byte value

enum TypedParamType : int32_t {
    kParamInt = 1,
    kParamUint = 2,
    kParamLlong = 3,
    kParamUllong = 4,
    kParamDouble = 5,
    kParamBoolean = 6,
    kParamString = 7,
};

} // namespace

void writeDomain(xdr::Writer& w, const RemoteDomain& d) {
    w.string(d.name);
    w.fixedOpaque(d.uuid);
    w.i32(d.id);
}

UuidBytes readUuid(xdr::Reader& r) {
    UuidBytes uuid{};
    r.fixedOpaque(uuid);
    return uuid;
}

RemoteDomain readDomain(xdr::Reader& r) {
    RemoteDomain d;
    d.name = r.string(proto::kStringMax);
    d.uuid = readUuid(r);
    d.id = r.i32();
    return d;
}

std::optional<RemoteDomain> readOptionalDomain(xdr::Reader& r) {
    if (!r.present()) {
        return std::nullopt;
    }
    return readDomain(r);
}

void writeNetwork(xdr::Writer& w, const RemoteNetwork& n) {
    w.string(n.name);
    w.fixedOpaque(n.uuid);
}

RemoteNetwork readNetwork(xdr::Reader& r) {
    RemoteNetwork n;
    n.name = r.string(proto::kStringMax);
    n.uuid = readUuid(r);
    return n;
}

void writeStorageVol(xdr::Writer& w, const RemoteStorageVol& v) {
    w.string(v.pool);
    w.string(v.name);
    w.string(v.key);
}

RemoteStorageVol readStorageVol(xdr::Reader& r) {
    RemoteStorageVol v;
    v.pool = r.string(proto::kStringMax);
    v.name = r.string(proto::kStringMax);
    v.key = r.string(proto::kStringMax);
    return v;
}

std::optional<RemoteNetwork> readOptionalNetwork(xdr::Reader& r) {
    if (!r.present()) {
        return std::nullopt;
    }
    return readNetwork(r);
}

void writeDhcpLease(xdr::Writer& w, const DhcpLease& lease) {
    auto optional = [](const std::string& s) {
        return s.empty() ? std::nullopt : std::optional<std::string>(s);
    };
    w.string(lease.iface);
    w.i64(lease.expiryTime);
    w.i32(lease.type);
    w.optionalString(optional(lease.mac));
    w.optionalString(optional(lease.iaid));
    w.string(lease.ipaddr);
    w.u32(lease.prefix);
    w.optionalString(optional(lease.hostname));
    w.optionalString(optional(lease.clientId));
}

void writeError(xdr::Writer& w, const RpcError& e) {
    w.i32(e.code);
    w.i32(e.domain);
    w.optionalString(e.message);
    w.i32(e.level);
    w.boolean(e.dom.has_value());
    if (e.dom) {
        writeDomain(w, *e.dom);
    }
    w.optionalString(e.message); // str1
    w.optionalString(std::nullopt);
    w.optionalString(std::nullopt);
    w.i32(-1);        // int1
    w.i32(-1);        // int2
    w.boolean(false); // net
}

RpcError readError(xdr::Reader& r) {
    RpcError e;
    e.code = r.i32();
    e.domain = r.i32();
    e.message = r.optionalString(proto::kStringMax).value_or("");
    e.level = r.i32();
    e.dom = readOptionalDomain(r);
    for (int i = 0; i < 3; ++i) {
        (void)r.optionalString(proto::kStringMax);
    }
    (void)r.i32();
    (void)r.i32();
    (void)readOptionalNetwork(r);
    return e;
}

void writeTypedParams(xdr::Writer& w, const std::vector<TypedParam>& params) {
    w.u32(static_cast<uint32_t>(params.size()));
    for (const auto& p : params) {
        w.string(p.field);
        std::visit(
            [&w](const auto& v) {
                using T = std::decay_t<decltype(v)>;
                if constexpr (std::is_same_v<T, int32_t>) {
                    w.i32(kParamInt);
                    w.i32(v);
                } else if constexpr (std::is_same_v<T, uint32_t>) {
                    w.i32(kParamUint);
                    w.u32(v);
                } else if constexpr (std::is_same_v<T, int64_t>) {
                    w.i32(kParamLlong);
                    w.i64(v);
                } else if constexpr (std::is_same_v<T, uint64_t>) {
                    w.i32(kParamUllong);
                    w.u64(v);
                } else if constexpr (std::is_same_v<T, double>) {
                    w.i32(kParamDouble);
                    w.f64(v);
                } else if constexpr (std::is_same_v<T, bool>) {
                    w.i32(kParamBoolean);
                    w.boolean(v);
                } else {
                    w.i32(kParamString);
                    w.string(v);
                }
            },
            p.value);
    }
}

std::vector<TypedParam> readTypedParams(xdr::Reader& r, uint32_t max) {
    std::vector<TypedParam> out;
    uint32_t n = r.arrayCount(max, kMinTypedParamSize);
    for (uint32_t i = 0; i < n && r.ok(); ++i) {
        TypedParam p;
        p.field = r.string(proto::kStringMax);
        int32_t type = r.i32();
        switch (type) {
        case kParamInt:
            p.value = r.i32();
            break;
        case kParamUint:
            p.value = r.u32();
            break;
        case kParamLlong:
            p.value = r.i64();
            break;
        case kParamUllong:
            p.value = r.u64();
            break;
        case kParamDouble:
            p.value = r.f64();
            break;
        case kParamBoolean:
            p.value = r.i32() != 0;
            break;
        case kParamString:
            p.value = r.string(proto::kStringMax);
            break;
        default:
            r.fail("unknown typed parameter type " + std::to_string(type));
            break;
        }
        out.push_back(std::move(p));
    }
    return out;
}

void writeFixedCharArray(xdr::Writer& w, std::string_view text, size_t size) {
    for (size_t i = 0; i < size; ++i) {
        w.i32(i < text.size() ? static_cast<signed char>(text[i]) : 0);
    }
}

void writeCharArray(xdr::Writer& w, std::string_view text) {
    w.u32(static_cast<uint32_t>(text.size()));
    for (char c : text) {
        w.i32(static_cast<signed char>(c));
    }
}

} // namespace virtswarm::bridge
