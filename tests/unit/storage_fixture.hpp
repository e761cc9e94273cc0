// SPDX-License-Identifier: LGPL-2.1-or-later
// What the storage model's tests share: a temporary directory, an event loop the test
// drives, pools made from XML, and waiting for an operation's answer.
#pragma once

#include "loop_driver.hpp"
#include "pool.hpp"

#include <filesystem>
#include <gtest/gtest.h>

namespace virtswarm::storage::fixtures {

using namespace std::chrono_literals;

class StorageFixture : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/vs-storage-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir = tmpl;
        auto created = EventLoop::create();
        ASSERT_TRUE(created);
        loop = std::move(created).value();
    }
    void TearDown() override {
        pools.clear();
        if (!dir.empty()) {
            std::filesystem::remove_all(dir);
        }
    }

    Pool& makePool(const std::string& xml) {
        auto def = parsePoolXml(xml);
        EXPECT_TRUE(def) << def.error().message();
        pools.push_back(std::make_unique<Pool>(*loop, std::move(def).value()));
        return *pools.back();
    }

    Result<void> wait(const std::function<void(Pool::Done)>& operation) {
        std::optional<Result<void>> result;
        operation([&](Result<void> r) { result = std::move(r); });
        EXPECT_TRUE(testing_loop::runUntil(
            *loop, [&] { return result.has_value(); }, 60s));
        return result.value_or(Error(Code::Timeout, "no answer"));
    }

    std::string dir;
    std::unique_ptr<EventLoop> loop;
    std::vector<std::unique_ptr<Pool>> pools;
};

} // namespace virtswarm::storage::fixtures
