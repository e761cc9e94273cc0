// SPDX-License-Identifier: LGPL-2.1-or-later
#pragma once

#include "virtswarm/result.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace virtswarm {

// A qcow2 image's header, as far as virtswarm needs it (the layout of QEMU's
// docs/interop/qcow2.txt): read by storaged for a pool refresh (no `qemu-img info` per
// volume) and by the shim to open a backing chain itself. Every offset and length is
// checked against the header's own bounds before it is read (a backing name of at most
// 1023 bytes within the first cluster, as QEMU requires): a hostile image gets a named
// error, never a large read.
struct Qcow2Backing {
    std::string file;   // as recorded: absolute, relative to the image's directory, or other
    std::string format; // the "backing file format" extension; empty when not recorded
};

struct Qcow2Header {
    uint32_t version = 0; // 2 or 3; for any other, nothing below was read
    uint64_t virtualSize = 0;
    std::optional<Qcow2Backing> backing;
};

// nullopt: the file does not start with qcow2's magic. InvalidArgs: a header that
// contradicts itself or ends early; OperationFailed: the file cannot be read.
Result<std::optional<Qcow2Header>> readQcow2Header(int fd);

} // namespace virtswarm
