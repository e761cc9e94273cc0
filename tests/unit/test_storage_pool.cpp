// SPDX-License-Identifier: LGPL-2.1-or-later
// The storage model on a dir pool in a temporary directory: real qemu-img, real files,
// the event loop driven by the test.
#include "backing_store.hpp"
#include "qemu_img.hpp"
#include "storage_fixture.hpp"

#include <algorithm>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <sys/stat.h>

using namespace virtswarm;
using namespace virtswarm::storage;
namespace fs = std::filesystem;
using namespace std::chrono_literals;
using virtswarm::storage::fixtures::StorageFixture;

namespace {

class StoragePool : public StorageFixture {
protected:
    Pool& makeDirPool(const std::string& name) {
        return makePool("<pool type='dir'><name>" + name + "</name><target><path>" + dir + "/" +
                        name + "</path></target></pool>");
    }

    Pool& runningPool(const std::string& name) {
        Pool& p = makeDirPool(name);
        EXPECT_TRUE(wait([&](auto done) { p.build(done); }));
        EXPECT_TRUE(wait([&](auto done) { p.start(done); }));
        return p;
    }

    VolumeDef volume(const std::string& text) { return parseVolumeXml(text).value(); }

    // A running pool `name` with a raw volume "v" of `capacity` ("1M", "64K").
    Pool& poolWithVolumeV(const std::string& name, const std::string& capacity) {
        Pool& p = runningPool(name);
        std::string unit = capacity.substr(capacity.size() - 1);
        std::string count = capacity.substr(0, capacity.size() - 1);
        EXPECT_TRUE(wait([&](auto done) {
            p.createVolume(volume("<volume><name>v</name><capacity unit='" + unit + "'>" + count +
                                  "</capacity></volume>"),
                           done);
        }));
        return p;
    }

    void finish(const std::shared_ptr<Job>& job) {
        ASSERT_TRUE(testing_loop::runUntil(
            *loop, [&] { return job->state() != Job::State::Running; }, 120s));
    }

    static uint64_t allocatedBytes(const std::string& path) {
        struct stat st {};
        EXPECT_EQ(stat(path.c_str(), &st), 0);
        return static_cast<uint64_t>(st.st_blocks) * 512;
    }

    // A raw image with `mib` MiB of non-zero data, so copying it takes real time.
    void writeData(const std::string& path, int mib) {
        std::ofstream out(path, std::ios::binary);
        std::string block(1 << 20, '\x5a');
        for (int i = 0; i < mib; ++i) {
            out.write(block.data(), static_cast<std::streamsize>(block.size()));
        }
    }
};

TEST_F(StoragePool, BuildStartCreateAndDescribe) {
    Pool& p = runningPool("images");
    EXPECT_EQ(p.state(), PoolState::Running);
    EXPECT_GT(p.sizes().capacity, 0u);
    ASSERT_TRUE(wait([&](auto done) {
        p.createVolume(volume("<volume><name>a.img</name><capacity unit='M'>64</capacity>"
                              "</volume>"),
                       done);
    }));
    const VolumeInfo* v = p.volume("a.img");
    ASSERT_NE(v, nullptr);
    EXPECT_EQ(v->capacity, 64u << 20);
    EXPECT_EQ(v->format, VolumeFormat::Raw);
    EXPECT_EQ(v->path, dir + "/images/a.img");
    // Sparse: 64 MiB of capacity, (almost) nothing allocated.
    EXPECT_LT(allocatedBytes(v->path), 1u << 20);
    EXPECT_NE(p.liveXml().find("<available unit=\"bytes\">"), std::string::npos);
}

TEST_F(StoragePool, Qcow2OverABackingFileAndCloneAcrossPoolsAndFormats) {
    Pool& a = runningPool("a");
    Pool& b = runningPool("b");
    ASSERT_TRUE(wait([&](auto done) {
        a.createVolume(volume("<volume><name>base</name><capacity unit='M'>16</capacity>"
                              "</volume>"),
                       done);
    }));
    // As CreateVolume does: the backing file read first (here with the test's rights).
    auto topDef =
        resolveBackingStore(volume("<volume><name>top</name><target><format type='qcow2'/>"
                                   "</target><backingStore><path>" +
                                   dir + "/a/base</path></backingStore></volume>"),
                            HostPathOpener{});
    ASSERT_TRUE(topDef) << topDef.error().message();
    ASSERT_TRUE(wait([&](auto done) { a.createVolume(topDef.value(), done); }));
    const VolumeInfo* top = a.volume("top");
    ASSERT_NE(top, nullptr);
    EXPECT_EQ(top->format, VolumeFormat::Qcow2);
    EXPECT_EQ(top->capacity, 16u << 20); // the backing file's size
    EXPECT_EQ(top->backingPath, dir + "/a/base");
    EXPECT_EQ(top->backingFormat, VolumeFormat::Raw); // what the file is, as libvirt probes

    auto job = b.cloneVolume(a, "top", volume("<volume><name>flat</name></volume>"));
    ASSERT_TRUE(job) << job.error().message();
    finish(job.value());
    ASSERT_EQ(job.value()->state(), Job::State::Succeeded) << job.value()->error();
    const VolumeInfo* flat = b.volume("flat");
    ASSERT_NE(flat, nullptr);
    EXPECT_EQ(flat->format, VolumeFormat::Raw);
    EXPECT_EQ(flat->capacity, 16u << 20);
    EXPECT_TRUE(flat->backingPath.empty());
    EXPECT_LT(allocatedBytes(flat->path), 1u << 20); // sparse stays sparse
}

// The backing store is read as the caller: storaged (root) gives no one a file they could
// not read themselves, and writes the overlay without opening it (-u).
TEST_F(StoragePool, ABackingStoreIsReadAsTheCaller) {
    std::string base = dir + "/base.qcow2";
    ASSERT_EQ(std::system(("qemu-img create -q -f qcow2 " + base + " 32M").c_str()), 0);
    ::chmod(base.c_str(), 0600);
    auto def = volume("<volume><name>top</name><target><format type='qcow2'/></target>"
                      "<backingStore><path>" +
                      base + "</path></backingStore></volume>");

    auto asRoot = resolveBackingStore(def, HostPathOpener{});
    ASSERT_TRUE(asRoot) << asRoot.error().message();
    EXPECT_EQ(asRoot.value().backingFormat, VolumeFormat::Qcow2);
    EXPECT_EQ(asRoot.value().capacity, 32u << 20); // the qcow2's virtual size
    auto argv = qemu_img::createArgv(asRoot.value(), dir + "/top");
    EXPECT_NE(std::find(argv.begin(), argv.end(), "-u"), argv.end());
    EXPECT_EQ(argv.back(), std::to_string(32u << 20));

    auto nobody = HostPathOpener::forDefiner(65534);
    ASSERT_TRUE(nobody);
    auto denied = resolveBackingStore(def, nobody.value());
    ASSERT_FALSE(denied);
    EXPECT_EQ(denied.error().code(), Code::AccessDenied) << denied.error().message();

    std::string raw = dir + "/plain.raw";
    std::ofstream(raw) << "not a qcow2 image";
    auto claimed = volume("<volume><name>top</name><target><format type='qcow2'/></target>"
                          "<backingStore><path>" +
                          raw + "</path><format type='qcow2'/></backingStore></volume>");
    auto lie = resolveBackingStore(claimed, HostPathOpener{});
    ASSERT_FALSE(lie);
    EXPECT_EQ(lie.error().code(), Code::InvalidArgs);
    EXPECT_NE(lie.error().message().find("is not a qcow2 image"), std::string::npos);
}

TEST_F(StoragePool, CloneReportsProgressAndCancelLeavesNothing) {
    Pool& p = runningPool("p");
    writeData(dir + "/p/data", 96);
    ASSERT_TRUE(wait([&](auto done) { p.refresh(done); }));
    ASSERT_NE(p.volume("data"), nullptr);

    auto job = p.cloneVolume(p, "data",
                             volume("<volume><name>copy</name><target>"
                                    "<format type='qcow2'/></target></volume>"));
    ASSERT_TRUE(job);
    int updates = 0;
    job.value()->onProgress = [&] { ++updates; };
    finish(job.value());
    EXPECT_EQ(job.value()->state(), Job::State::Succeeded) << job.value()->error();
    EXPECT_GE(updates, 1);
    EXPECT_EQ(job.value()->bytesDone(), 96u << 20);
    EXPECT_DOUBLE_EQ(job.value()->progress(), 1.0);
    ASSERT_NE(p.volume("copy"), nullptr);
    EXPECT_EQ(p.volume("copy")->format, VolumeFormat::Qcow2);

    auto cancelled = p.cloneVolume(p, "data", volume("<volume><name>gone</name></volume>"));
    ASSERT_TRUE(cancelled);
    // While it runs, the source cannot be deleted and the name cannot be taken.
    EXPECT_EQ(wait([&](auto done) { p.deleteVolume("data", done); }).error().code(),
              Code::InvalidState);
    EXPECT_EQ(wait([&](auto done) {
                  p.createVolume(volume("<volume><name>gone</name><capacity>1</capacity>"
                                        "</volume>"),
                                 done);
              })
                  .error()
                  .code(),
              Code::VolumeExists);
    cancelled.value()->cancel();
    finish(cancelled.value());
    EXPECT_EQ(cancelled.value()->state(), Job::State::Cancelled);
    EXPECT_EQ(p.volume("gone"), nullptr);
    EXPECT_FALSE(fs::exists(dir + "/p/gone"));
    EXPECT_FALSE(fs::exists(dir + "/p/.partial-gone"));
    EXPECT_FALSE(p.busy());
}

TEST_F(StoragePool, ResizeGrowsAndShrinksOnlyWhenAsked) {
    Pool& p = runningPool("r");
    ASSERT_TRUE(wait([&](auto done) {
        p.createVolume(volume("<volume><name>v</name><capacity unit='M'>8</capacity>"
                              "<target><format type='qcow2'/></target></volume>"),
                       done);
    }));
    ASSERT_TRUE(wait([&](auto done) { p.resizeVolume("v", 32u << 20, false, done); }));
    EXPECT_EQ(p.volume("v")->capacity, 32u << 20);
    auto refused = wait([&](auto done) { p.resizeVolume("v", 4u << 20, false, done); });
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), Code::InvalidArgs);
    EXPECT_EQ(p.volume("v")->capacity, 32u << 20);
    ASSERT_TRUE(wait([&](auto done) { p.resizeVolume("v", 4u << 20, true, done); }));
    EXPECT_EQ(p.volume("v")->capacity, 4u << 20);
}

TEST_F(StoragePool, WipeZeroesAndKeepsTheVolumeSparse) {
    Pool& p = runningPool("w");
    writeData(dir + "/w/disk", 8);
    ASSERT_TRUE(wait([&](auto done) { p.refresh(done); }));
    EXPECT_GE(allocatedBytes(dir + "/w/disk"), 8u << 20);
    auto job = p.wipeVolume("disk");
    ASSERT_TRUE(job);
    finish(job.value());
    ASSERT_EQ(job.value()->state(), Job::State::Succeeded) << job.value()->error();
    EXPECT_EQ(fs::file_size(dir + "/w/disk"), 8u << 20);
    EXPECT_LT(allocatedBytes(dir + "/w/disk"), 1u << 20);
    std::ifstream in(dir + "/w/disk", std::ios::binary);
    std::string head(4096, 'x');
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    EXPECT_EQ(head, std::string(4096, '\0'));
}

TEST_F(StoragePool, DeleteAndBadRequestsChangeNothing) {
    Pool& p = runningPool("d");
    ASSERT_TRUE(wait([&](auto done) {
        p.createVolume(volume("<volume><name>x</name><capacity>4096</capacity></volume>"), done);
    }));
    EXPECT_EQ(wait([&](auto done) {
                  p.createVolume(volume("<volume><name>x</name><capacity>1</capacity></volume>"),
                                 done);
              })
                  .error()
                  .code(),
              Code::VolumeExists);
    EXPECT_EQ(wait([&](auto done) {
                  p.createVolume(volume("<volume><name>huge</name><capacity unit='E'>1"
                                        "</capacity><allocation unit='E'>1</allocation>"
                                        "</volume>"),
                                 done);
              })
                  .error()
                  .code(),
              Code::OperationFailed);
    EXPECT_FALSE(fs::exists(dir + "/d/huge"));
    EXPECT_EQ(wait([&](auto done) { p.deleteVolume("nope", done); }).error().code(),
              Code::NoSuchVolume);
    EXPECT_EQ(wait([&](auto done) { p.deleteStorage(done); }).error().code(), Code::InvalidState);
    ASSERT_TRUE(wait([&](auto done) { p.deleteVolume("x", done); }));
    EXPECT_FALSE(fs::exists(dir + "/d/x"));
    EXPECT_EQ(p.volume("x"), nullptr);
    ASSERT_TRUE(wait([&](auto done) { p.stop(done); }));
    EXPECT_EQ(p.state(), PoolState::Inactive);
    EXPECT_EQ(wait([&](auto done) { p.refresh(done); }).error().code(), Code::InvalidState);
    ASSERT_TRUE(wait([&](auto done) { p.deleteStorage(done); }));
    EXPECT_FALSE(fs::exists(dir + "/d"));
}

TEST_F(StoragePool, StartRemovesWhatAnInterruptedJobLeft) {
    Pool& p = makeDirPool("s");
    ASSERT_TRUE(wait([&](auto done) { p.build(done); }));
    // What a storaged killed in the middle of a clone leaves behind.
    std::ofstream(dir + "/s/.partial-half") << "half";
    std::ofstream(dir + "/s/kept") << "kept";
    ASSERT_TRUE(wait([&](auto done) { p.start(done); }));
    EXPECT_FALSE(fs::exists(dir + "/s/.partial-half"));
    EXPECT_EQ(p.volume("half"), nullptr);
    EXPECT_NE(p.volume("kept"), nullptr);
}

TEST_F(StoragePool, StartingAPoolWhoseDirectoryIsMissingFails) {
    Pool& p = makeDirPool("missing");
    auto r = wait([&](auto done) { p.start(done); });
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code(), Code::OperationFailed);
    EXPECT_EQ(p.state(), PoolState::Inactive);
}

TEST_F(StoragePool, UploadAndDownloadGoThroughTheCallersFiles) {
    Pool& p = poolWithVolumeV("u", "1M");
    std::string source = dir + "/upload.bin";
    writeData(source, 3);
    int in = ::open(source.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(in, 0);
    auto up = p.uploadVolume("v", in);
    ::close(in); // the job holds its own duplicate
    ASSERT_TRUE(up) << up.error().message();
    finish(up.value());
    ASSERT_EQ(up.value()->state(), Job::State::Succeeded) << up.value()->error();
    EXPECT_EQ(up.value()->bytesDone(), 3u << 20);
    EXPECT_EQ(p.volume("v")->capacity, 3u << 20);
    EXPECT_FALSE(fs::exists(dir + "/u/.partial-v"));

    std::string target = dir + "/download.bin";
    int out = ::open(target.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    ASSERT_GE(out, 0);
    auto down = p.downloadVolume("v", out);
    ::close(out);
    ASSERT_TRUE(down) << down.error().message();
    finish(down.value());
    ASSERT_EQ(down.value()->state(), Job::State::Succeeded) << down.value()->error();
    std::ifstream a(source, std::ios::binary), b(target, std::ios::binary);
    std::string left((std::istreambuf_iterator<char>(a)), {});
    std::string right((std::istreambuf_iterator<char>(b)), {});
    EXPECT_EQ(left.size(), 3u << 20);
    EXPECT_TRUE(left == right);

    // Only regular files, open the right way round; nothing changes otherwise.
    int pipeFds[2];
    ASSERT_EQ(::pipe(pipeFds), 0);
    EXPECT_EQ(p.uploadVolume("v", pipeFds[0]).error().code(), Code::InvalidArgs);
    ::close(pipeFds[0]);
    ::close(pipeFds[1]);
    int readOnly = ::open(target.c_str(), O_RDONLY | O_CLOEXEC);
    EXPECT_EQ(p.downloadVolume("v", readOnly).error().code(), Code::InvalidArgs);
    ::close(readOnly);
    EXPECT_EQ(
        p.uploadVolume("missing", ::open(source.c_str(), O_RDONLY | O_CLOEXEC)).error().code(),
        Code::NoSuchVolume);
    EXPECT_FALSE(p.busy());
    EXPECT_EQ(p.volume("v")->capacity, 3u << 20);
}

// vol-upload --offset: the bytes go in from there, the volume keeps its size and the rest
// of its bytes; what would run past its end is refused before anything is written.
TEST_F(StoragePool, AnUploadAtAnOffsetWritesInPlace) {
    Pool& p = poolWithVolumeV("o", "64K");
    std::string patch = dir + "/patch.bin";
    std::ofstream(patch, std::ios::binary) << std::string(1000, 'x');
    int in = ::open(patch.c_str(), O_RDONLY | O_CLOEXEC);
    auto up = p.uploadVolume("v", in, 4096);
    ASSERT_TRUE(up) << up.error().message();
    finish(up.value());
    ASSERT_EQ(up.value()->state(), Job::State::Succeeded) << up.value()->error();
    std::ifstream written(dir + "/o/v", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(written)), {});
    ASSERT_EQ(bytes.size(), 64u << 10);
    EXPECT_EQ(bytes.substr(0, 4096), std::string(4096, '\0'));
    EXPECT_EQ(bytes.substr(4096, 1000), std::string(1000, 'x'));
    EXPECT_EQ(bytes.substr(5096), std::string((64u << 10) - 5096, '\0'));

    auto past = p.uploadVolume("v", in, (64u << 10) - 10);
    ::close(in);
    ASSERT_FALSE(past);
    EXPECT_EQ(past.error().code(), Code::InvalidArgs);
    EXPECT_NE(past.error().message().find("past the end"), std::string::npos);
    EXPECT_EQ(p.volume("v")->capacity, 64u << 10);
}

TEST(QemuImgProgress, ReadsTheFraction) {
    EXPECT_DOUBLE_EQ(parseQemuImgProgress("    (12.50/100%)").value(), 0.125);
    EXPECT_DOUBLE_EQ(parseQemuImgProgress("(100.00/100%)").value(), 1.0);
    EXPECT_FALSE(parseQemuImgProgress("Formatting 'x', fmt=raw"));
    EXPECT_FALSE(parseQemuImgProgress("(x/100%)"));
}

} // namespace
