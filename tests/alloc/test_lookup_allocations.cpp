// SPDX-License-Identifier: LGPL-2.1-or-later
// The registry's lookups cost the same at 10 objects as at 10,000: a lookup by name or by
// UUID allocates nothing (the UUID's hex key is made on the stack), so none walks or copies
// the objects. Counted by replacing the global operator new in this binary only (its own
// executable, so no other test runs with the counting allocator).
#include "virtswarm/names.hpp"
#include "virtswarm/service/object_registry.hpp"
#include "virtswarm/uuid.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <gtest/gtest.h>
#include <new>

namespace {
std::atomic<size_t> g_allocations{0};
} // namespace

void* operator new(std::size_t size) {
    g_allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* p = std::malloc(size == 0 ? 1 : size)) {
        return p;
    }
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}

using namespace virtswarm;
using service::ObjectRegistry;

namespace {

struct PlainObject {
    explicit PlainObject(std::string objectPath)
        : path(std::move(objectPath)) {}
    void emitInterfacesAddedSignal() {}
    void emitInterfacesRemovedSignal() {}
    std::string path;
};

const service::ObjectKind kKind{"domain", names::kDomainPathPrefix, Code::DomainExists,
                                Code::NoSuchDomain};

UuidBytes uuidNumber(size_t n) {
    char text[37];
    std::snprintf(text, sizeof text, "6f0c0000-0000-4000-8000-%012zx", n);
    return parseUuid(text).value();
}

std::string nameNumber(size_t n) {
    return "domain-with-a-name-longer-than-sso-" + std::to_string(n);
}

// Allocations made by `lookup` alone, after filling a registry with `count` objects.
struct Lookups {
    size_t byName;
    size_t byUuid;
    size_t missingByName;
};

Lookups allocationsAt(size_t count) {
    ObjectRegistry<PlainObject> registry{kKind};
    for (size_t i = 0; i < count; ++i) {
        auto added = registry.add(uuidNumber(i), nameNumber(i), [](const std::string& path) {
            return std::make_unique<PlainObject>(path);
        });
        EXPECT_TRUE(added);
    }
    // The keys are made before counting: a client's request carries them already.
    const std::string name = nameNumber(count / 2);
    const std::string missing = nameNumber(count + 7);
    const UuidBytes uuid = uuidNumber(count / 3);

    Lookups out{};
    size_t before = g_allocations.load();
    EXPECT_NE(registry.findByName(name), nullptr);
    out.byName = g_allocations.load() - before;
    before = g_allocations.load();
    EXPECT_NE(registry.findByUuid(uuid), nullptr);
    out.byUuid = g_allocations.load() - before;
    before = g_allocations.load();
    EXPECT_EQ(registry.findByName(missing), nullptr);
    out.missingByName = g_allocations.load() - before;
    return out;
}

TEST(LookupAllocations, TheCountingAllocatorCounts) {
    size_t before = g_allocations.load();
    auto p = std::make_unique<std::string>(64, 'x');
    EXPECT_GE(g_allocations.load() - before, 2U);
}

TEST(LookupAllocations, ByNameAllocateNothingAtAnyCount) {
    for (size_t count : {10U, 1000U, 10000U}) {
        Lookups at = allocationsAt(count);
        EXPECT_EQ(at.byName, 0U) << count << " objects";
        EXPECT_EQ(at.missingByName, 0U) << count << " objects";
    }
}

TEST(LookupAllocations, ByUuidAllocateNothingAtAnyCount) {
    for (size_t count : {10U, 1000U, 10000U}) {
        EXPECT_EQ(allocationsAt(count).byUuid, 0U) << count << " objects"; // key on the stack
    }
}

} // namespace
