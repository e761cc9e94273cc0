// SPDX-License-Identifier: LGPL-2.1-or-later
#include "pool_backend.hpp"

#include "file_pool.hpp"
#include "logical_pool.hpp"

namespace virtswarm::storage {

std::unique_ptr<PoolBackend> makePoolBackend(EventLoop& loop, const PoolDef& def) {
    if (def.type == PoolType::Logical) {
        return std::make_unique<LogicalPool>(loop, def);
    }
    return std::make_unique<FilePool>(loop, def);
}

} // namespace virtswarm::storage
