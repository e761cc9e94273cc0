// SPDX-License-Identifier: LGPL-2.1-or-later
// libFuzzer target: arbitrary bytes as a client's stream. Exercises the frame parser (split
// at a fuzzer-chosen point, as reads split a stream) and every XDR decoder the bridge
// applies to payloads. Must never crash, hang, leak or allocate without bound.
#include "frame.hpp"
#include "remote_types.hpp"
#include "rpc_error.hpp"
#include "xdr.hpp"

#include <cstddef>
#include <cstdint>

using namespace virtswarm::bridge;

namespace {

void decodePayload(const std::vector<uint8_t>& payload) {
    // Each shape the dispatcher decodes, on the same bytes.
    {
        xdr::Reader r(payload);
        (void)r.optionalString(proto::kStringMax);
        (void)r.u32();
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        (void)readDomain(r);
        (void)r.u32();
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        (void)r.i32();
        (void)readOptionalDomain(r);
        (void)r.finish();
    }
    {
        // NETWORK_GET_DHCP_LEASES: net, optional mac, need_results, flags.
        xdr::Reader r(payload);
        (void)readNetwork(r);
        (void)r.optionalString(proto::kStringMax);
        (void)r.i32();
        (void)r.u32();
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        (void)r.i32();
        (void)readOptionalNetwork(r);
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        (void)readTypedParams(r, proto::kAllDomainStatsMax);
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        (void)readError(r);
        (void)r.finish();
    }
    {
        xdr::Reader r(payload);
        uint32_t n = r.arrayCount(proto::kDomainListMax, 4 + 16 + 4);
        for (uint32_t i = 0; i < n && r.ok(); ++i) {
            (void)readDomain(r);
        }
        (void)r.opaque(proto::kStringMax);
        (void)r.f64();
        (void)r.boolean();
        (void)r.finish();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) {
        return 0;
    }
    size_t split = data[0] % (size + 1);
    std::span<const uint8_t> stream(data + 1, size - 1);
    split = split > stream.size() ? stream.size() : split;

    FrameParser parser;
    parser.feed(stream.first(split));
    bool fed = false;
    for (int guard = 0; guard < 1024; ++guard) {
        auto next = parser.next();
        if (!next) {
            break; // fatal framing error: the client would be closed
        }
        if (!next.value()) {
            if (fed) {
                break;
            }
            parser.feed(stream.subspan(split));
            fed = true;
            continue;
        }
        decodePayload(next.value()->payload);
        // Round trip of whatever the error decoder accepted.
        xdr::Reader r(next.value()->payload);
        RpcError e = readError(r);
        xdr::Writer w;
        writeError(w, e);
    }
    return 0;
}
