// SPDX-License-Identifier: LGPL-2.1-or-later
// The registry's model of one domain, driven on a real event loop against a fake shim
// supervisor: what happens on start, when the shim goes away, after a registry restart,
// and to definitions changed while the domain runs.
#include "domain_model.hpp"
#include "loop_driver.hpp"
#include "virtswarm/event_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>
#include <unistd.h>

using namespace virtswarm;
using namespace virtswarm::hypervisor;
using namespace std::chrono_literals;

namespace {

// Stands in for ShimSupervisor: records what the model asks, answers as a test says.
class FakeShimSupervisor final : public ShimControl {
public:
    struct Launch {
        std::string uuidHex;
        std::string name;
        bool attach;
        bool restoring;
        bool paused;
        std::string loadSnapshot;
    };
    struct Call {
        std::string uuidHex;
        std::string method;
    };

    std::vector<Launch> launches;
    std::vector<Call> calls;
    std::vector<std::string> removedRuntimeDirs;
    std::optional<Error> launchFailure; // launch() fails with this
    bool shimPresent = false;
    bool qemuRunning = false;
    std::optional<Error> failure;

    Result<void> launch(const std::string& uuidHex, const DomainXml& domain,
                        ShimLaunch how) override {
        launches.push_back({uuidHex, domain.def.name, how.attach, how.restoreFd >= 0, how.paused,
                            how.loadSnapshot});
        return launchFailure ? Result<void>(*launchFailure) : success();
    }
    bool present(const std::string&) const override { return shimPresent; }
    bool qemuAlive(const std::string&) const override { return qemuRunning; }
    Result<void> killQemu(const std::string&, std::function<void()> gone) override {
        qemuRunning = false;
        gone();
        return success();
    }
    void removeRuntimeDir(const std::string& uuidHex) override {
        removedRuntimeDirs.push_back(uuidHex);
    }
    void callMethod(const std::string& uuidHex, const std::string& method,
                    std::chrono::milliseconds, std::function<void(Result<void>)> done) override {
        calls.push_back({uuidHex, method});
        done(success());
    }
    std::optional<Error> readFailure(const std::string&) const override { return failure; }

    bool called(const std::string& method) const {
        return std::any_of(calls.begin(), calls.end(),
                           [&](const Call& c) { return c.method == method; });
    }
};

// Records what the model tells the bus object.
class RecordingHost final : public DomainModelHost {
public:
    std::vector<std::string> changedProperties;
    std::vector<StateAndReason> states;
    std::vector<LifecycleEvent> events;
    int releasedCount = 0;
    int nextId = 7;
    int recordedId = 42;

    void propertiesChanged(const std::vector<std::string>& names) override {
        changedProperties.insert(changedProperties.end(), names.begin(), names.end());
    }
    void stateChanged(StateAndReason now) override { states.push_back(now); }
    void lifecycleEvent(LifecycleEvent event) override { events.push_back(event); }
    void released() override { ++releasedCount; }
    int assignId() override { return nextId++; }
    int recoverId() override { return recordedId; }

    bool changed(const std::string& property) const {
        return std::find(changedProperties.begin(), changedProperties.end(), property) !=
               changedProperties.end();
    }
};

DomainXml domainNamed(const std::string& name, unsigned vcpus) {
    std::string xml = "<domain type='qemu'><name>" + name +
                      "</name><uuid>6f1c1a44-3b5e-4d0a-9a0e-0c1d2e3f4a5b</uuid>"
                      "<memory unit='MiB'>256</memory><vcpu>" +
                      std::to_string(vcpus) +
                      "</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os>"
                      "<devices></devices></domain>";
    auto parsed = parseDomainXml(xml);
    if (!parsed) {
        ADD_FAILURE() << parsed.error().message();
        return {};
    }
    return std::move(parsed).value();
}

class DomainModelTest : public ::testing::Test {
protected:
    void SetUp() override {
        auto created = EventLoop::create();
        ASSERT_TRUE(created) << created.error().message();
        loop = std::move(created).value();
        char dir[] = "/tmp/domain-model-XXXXXX";
        ASSERT_NE(::mkdtemp(dir), nullptr);
        saveDir = dir;
    }
    void TearDown() override {
        model.reset();
        std::error_code ec;
        std::filesystem::remove_all(saveDir, ec);
    }

    DomainModel& make(bool persistent, std::chrono::milliseconds startTimeout = 60s) {
        DomainModelConfig config;
        config.startTimeout = startTimeout;
        config.shimCallTimeout = 1s;
        config.saveDir = saveDir;
        model = std::make_unique<DomainModel>(host, shims, *loop, config, domainNamed("web1", 2),
                                              persistent);
        return *model;
    }

    // Starts the domain and has its shim report it running.
    void startRunning(DomainModel& m) {
        std::optional<Result<void>> started;
        m.start([&](Result<void> r) { started = std::move(r); });
        m.onShimState({DomainState::Running, DomainReason::Booted});
        ASSERT_TRUE(started && started->ok());
    }

    FakeShimSupervisor shims;
    RecordingHost host;
    std::unique_ptr<EventLoop> loop;
    std::unique_ptr<DomainModel> model;
    std::string saveDir;
};

TEST_F(DomainModelTest, StartThatNeverReachesRunningTimesOutAndDestroysTheHalfStartedQemu) {
    auto& m = make(true, 50ms);
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); });
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_FALSE(shims.launches[0].attach);
    EXPECT_TRUE(m.starting());
    // A second start while the first is pending is refused at once.
    std::optional<Result<void>> second;
    m.start([&](Result<void> r) { second = std::move(r); });
    ASSERT_TRUE(second && !second->ok());
    EXPECT_EQ(second->error().code(), Code::InvalidState);

    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return outcome.has_value(); }, 5s));
    ASSERT_FALSE(outcome->ok());
    EXPECT_EQ(outcome->error().code(), Code::Timeout);
    EXPECT_TRUE(shims.called("Destroy"));
    EXPECT_FALSE(m.starting());
    EXPECT_EQ(m.state(), DomainState::Shutoff);
    EXPECT_EQ(m.id(), -1);
    EXPECT_EQ(host.releasedCount, 0); // persistent: it stays defined
}

TEST_F(DomainModelTest, ShimGoneDuringStartFailsTheStartWithItsReasonAndReleasesATransient) {
    auto& m = make(false);
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); });
    ASSERT_EQ(shims.launches.size(), 1u);
    m.onShimGone(Error(Code::OperationFailed, "QEMU exited: no such kernel"));
    ASSERT_TRUE(outcome.has_value());
    ASSERT_FALSE(outcome->ok());
    EXPECT_EQ(outcome->error().code(), Code::OperationFailed);
    EXPECT_NE(outcome->error().message().find("cannot start domain 'web1'"), std::string::npos)
        << outcome->error().message();
    EXPECT_NE(outcome->error().message().find("no such kernel"), std::string::npos);
    EXPECT_FALSE(m.starting());
    EXPECT_FALSE(m.active());
    EXPECT_EQ(host.releasedCount, 1);
    // The start timer went with the start: nothing more happens on the loop.
    testing_loop::settle(*loop);
    EXPECT_FALSE(shims.called("Destroy"));
}

TEST_F(DomainModelTest, StartWaitsForThePreviousShimToLeaveBeforeLaunching) {
    auto& m = make(true);
    shims.shimPresent = true;
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); });
    EXPECT_TRUE(shims.launches.empty());
    shims.shimPresent = false;
    m.onShimGone(std::nullopt); // the old shim left: now the new one is launched
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_FALSE(outcome.has_value());
    m.onShimState({DomainState::Running, DomainReason::Booted});
    ASSERT_TRUE(outcome && outcome->ok());
    EXPECT_EQ(m.id(), 7);
}

TEST_F(DomainModelTest, ReattachAfterRegistryRestartAdoptsTheRunningDomainWithItsRecordedId) {
    // A shim found on the bus by a registry that just started.
    auto& m = make(true);
    m.adoptRunning({DomainState::Paused, DomainReason::User});
    EXPECT_TRUE(m.active());
    EXPECT_EQ(m.state(), DomainState::Paused);
    EXPECT_EQ(m.reason(), DomainReason::User);
    EXPECT_EQ(m.id(), 42);
    EXPECT_TRUE(host.changed("Id"));
    ASSERT_EQ(host.states.size(), 1u);
    EXPECT_EQ(host.events.back(), (LifecycleEvent{3, 0}));
}

TEST_F(DomainModelTest, ReattachToAnOrphanedQemuLaunchesAnAttachingShimAndAdoptsItsState) {
    auto& m = make(true);
    shims.qemuRunning = true;
    m.reattach();
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_TRUE(shims.launches[0].attach);
    EXPECT_FALSE(m.active()); // nothing known until the shim reports
    m.onShimState({DomainState::Running, DomainReason::Unpaused});
    EXPECT_TRUE(m.active());
    EXPECT_EQ(m.id(), 42);
    EXPECT_EQ(m.reason(), DomainReason::Unpaused);
}

TEST_F(DomainModelTest, ShimDyingUnderARunningDomainIsReplacedByOneThatAttaches) {
    auto& m = make(true);
    startRunning(m);
    shims.qemuRunning = true;
    m.onShimGone(std::nullopt);
    ASSERT_TRUE(testing_loop::runUntil(
        *loop, [&] { return shims.launches.size() == 2; }, 5s));
    EXPECT_TRUE(shims.launches[1].attach);
    EXPECT_EQ(m.state(), DomainState::Running); // the guest never noticed
}

// libvirt's order: RESUMED/UNPAUSED as the CPUs start, then STARTED/BOOTED; a host-ended
// domain is SHUTDOWN/HOST before STOPPED/DESTROYED.
TEST_F(DomainModelTest, EventsFollowLibvirtsSequences) {
    auto& m = make(true);
    host.events.clear();
    startRunning(m);
    EXPECT_EQ(host.events, (std::vector<LifecycleEvent>{{4, 0}, {2, 0}}));
    host.events.clear();
    m.onShimState({DomainState::Shutdown, DomainReason::HostRequest});
    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    EXPECT_EQ(host.events, (std::vector<LifecycleEvent>{{6, 2}, {5, 1}}));
}

TEST_F(DomainModelTest, RedefinitionWhileRunningAppliesWhenTheDomainStops) {
    auto& m = make(true);
    startRunning(m);
    host.changedProperties.clear();
    m.redefine(domainNamed("web1", 4));
    EXPECT_EQ(m.def().vcpus, 2u); // the running guest keeps its definition
    EXPECT_EQ(m.nextDomain().def.vcpus, 4u);
    EXPECT_FALSE(host.changed("Vcpus"));

    m.onShimState({DomainState::Shutoff, DomainReason::ShutDown});
    EXPECT_FALSE(m.active());
    EXPECT_EQ(m.id(), -1);
    EXPECT_EQ(m.def().vcpus, 4u);
    EXPECT_EQ(m.nextDomain().def.vcpus, 4u);
    EXPECT_TRUE(host.changed("Vcpus"));
    EXPECT_EQ(host.events.back(), (LifecycleEvent{5, 0})); // STOPPED_SHUTDOWN
    EXPECT_EQ(host.releasedCount, 0);

    // Stopped, a redefinition applies at once.
    host.changedProperties.clear();
    m.redefine(domainNamed("web1", 1));
    EXPECT_EQ(m.def().vcpus, 1u);
    EXPECT_TRUE(host.changed("Vcpus"));
}

TEST_F(DomainModelTest, UndefineWhileRunningKeepsItAsTransientUntilItStops) {
    auto& m = make(true);
    m.setAutostartFlag(true);
    startRunning(m);
    m.redefine(domainNamed("web1", 4));
    m.undefined();
    EXPECT_FALSE(m.persistent());
    EXPECT_FALSE(m.autostart());
    EXPECT_TRUE(host.changed("Persistent"));
    EXPECT_TRUE(host.changed("Autostart"));
    EXPECT_EQ(host.events.back(), kEventUndefinedRemoved);
    EXPECT_TRUE(m.active());
    EXPECT_EQ(host.releasedCount, 0);
    EXPECT_TRUE(shims.removedRuntimeDirs.empty()); // the running shim still uses it
    EXPECT_EQ(m.nextDomain().def.vcpus, 2u);       // the pending redefinition went too

    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    EXPECT_EQ(host.releasedCount, 1);
    EXPECT_EQ(m.def().vcpus, 2u);
}

TEST_F(DomainModelTest, UndefineOfAStoppedDomainReleasesItAtOnce) {
    auto& m = make(true);
    m.undefined();
    EXPECT_EQ(host.releasedCount, 1);
    ASSERT_EQ(shims.removedRuntimeDirs.size(), 1u);
    EXPECT_EQ(shims.removedRuntimeDirs[0], m.uuidHex());
}

TEST_F(DomainModelTest, DestroyWithoutAShimKillsQemuDirectly) {
    auto& m = make(true);
    startRunning(m);
    shims.qemuRunning = true;
    std::optional<Result<void>> outcome;
    m.destroy([&](Result<void> r) { outcome = std::move(r); });
    ASSERT_TRUE(outcome && outcome->ok());
    EXPECT_FALSE(shims.qemuRunning);
    EXPECT_EQ(m.state(), DomainState::Shutoff);
    EXPECT_EQ(m.reason(), DomainReason::Destroyed);
    EXPECT_FALSE(shims.called("Destroy"));
}

} // namespace

namespace {

class DomainModelPausedStartTest : public DomainModelTest {};

// A stand-in for an image's descriptor: whether the model closed it shows on the other
// end (a closed read end makes writes fail with EPIPE; its number may be reused at once).
class Pipe {
public:
    Pipe() {
        EXPECT_EQ(::pipe2(m_fds, O_CLOEXEC), 0);
        ::signal(SIGPIPE, SIG_IGN);
    }
    ~Pipe() { ::close(m_fds[1]); }
    int takeReadEnd() { return m_fds[0]; }
    bool readEndClosed() const { return ::write(m_fds[1], "x", 1) < 0 && errno == EPIPE; }

private:
    int m_fds[2] = {-1, -1};
};

TEST_F(DomainModelPausedStartTest, APausedStartAnswersOncePausedWithLibvirtsTwoEvents) {
    auto& m = make(true);
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); }, StartOptions{.paused = true});
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_TRUE(shims.launches[0].paused);
    EXPECT_FALSE(shims.launches[0].restoring);
    m.onShimState({DomainState::Paused, DomainReason::User});
    ASSERT_TRUE(outcome && outcome->ok());
    EXPECT_EQ(m.state(), DomainState::Paused);
    EXPECT_EQ(m.id(), 7);
    // STARTED/BOOTED, then SUSPENDED/PAUSED, as libvirt tells virsh start --paused.
    ASSERT_EQ(host.events.size(), 2u);
    EXPECT_EQ(host.events[0], (LifecycleEvent{2, 0})); // STARTED_BOOTED
    EXPECT_EQ(host.events[1], (LifecycleEvent{3, 0})); // SUSPENDED_PAUSED
}

// A revert of a shut-off domain to a snapshot taken while it ran: the shim starts QEMU from
// the snapshot, and the start is answered once the guest runs, as any start.
TEST_F(DomainModelPausedStartTest, AStartFromASnapshotHandsTheSnapshotToTheShim) {
    auto& m = make(true);
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); },
            StartOptions{.paused = false, .loadSnapshot = "before-upgrade"});
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_EQ(shims.launches[0].loadSnapshot, "before-upgrade");
    EXPECT_FALSE(shims.launches[0].restoring);
    m.onShimState({DomainState::Running, DomainReason::Booted});
    ASSERT_TRUE(outcome && outcome->ok());
    // The next plain start boots as usual.
    m.destroy([](Result<void>) {});
    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    m.onShimGone(std::nullopt);
    m.start([](Result<void>) {});
    ASSERT_EQ(shims.launches.size(), 2u);
    EXPECT_EQ(shims.launches[1].loadSnapshot, "");
}

// libvirtd 9.0's revert of a running domain to a snapshot with memory: STOPPED/FROM_SNAPSHOT
// (no SHUTDOWN event), STARTED/FROM_SNAPSHOT, RESUMED/FROM_SNAPSHOT.
TEST_F(DomainModelPausedStartTest, ARevertsStopAndStartAreLibvirtsFromSnapshotEvents) {
    auto& m = make(true);
    m.start([](Result<void>) {});
    m.onShimState({DomainState::Running, DomainReason::Booted});
    host.events.clear();
    shims.shimPresent = true;
    m.destroy([](Result<void>) {}, DomainReason::FromSnapshot);
    EXPECT_TRUE(shims.called("Destroy"));
    m.onShimState({DomainState::Shutdown, DomainReason::HostRequest});
    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    EXPECT_EQ(m.reason(), DomainReason::FromSnapshot);
    shims.shimPresent = false;
    m.onShimGone(std::nullopt);
    EXPECT_EQ(host.events, (std::vector<LifecycleEvent>{{5, 6}}));

    host.events.clear();
    m.start([](Result<void>) {},
            StartOptions{.paused = false, .loadSnapshot = "s1", .fromSnapshot = true});
    m.onShimState({DomainState::Running, DomainReason::FromSnapshot});
    EXPECT_EQ(host.events, (std::vector<LifecycleEvent>{{2, 3}, {4, 2}}));

    // The next destroy is a plain one again.
    host.events.clear();
    shims.shimPresent = true;
    m.destroy([](Result<void>) {});
    m.onShimState({DomainState::Shutdown, DomainReason::HostRequest});
    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    EXPECT_EQ(host.events, (std::vector<LifecycleEvent>{{6, 2}, {5, 1}}));
}

TEST_F(DomainModelPausedStartTest, AnUnaskedPauseDuringStartDoesNotFinishIt) {
    auto& m = make(true);
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); });
    m.onShimState({DomainState::Paused, DomainReason::User});
    EXPECT_FALSE(outcome.has_value());
    m.onShimState({DomainState::Running, DomainReason::Booted});
    ASSERT_TRUE(outcome && outcome->ok());
}

TEST_F(DomainModelPausedStartTest, AnImageStartRunsTheImagesDefinitionOnceAndClosesTheImage) {
    auto& m = make(true);
    Pipe image;
    m.runOnceWith(domainNamed("web1", 4));
    EXPECT_EQ(m.def().vcpus, 4u);
    EXPECT_EQ(m.nextDomain().def.vcpus, 2u); // the stored definition waits
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); },
            StartOptions{.imageFd = image.takeReadEnd()});
    ASSERT_EQ(shims.launches.size(), 1u);
    EXPECT_TRUE(shims.launches[0].restoring);
    EXPECT_TRUE(image.readEndClosed()); // handed to the shim, then closed
    m.onShimState({DomainState::Running, DomainReason::Restored});
    ASSERT_TRUE(outcome && outcome->ok());
    m.onShimState({DomainState::Shutoff, DomainReason::Destroyed});
    EXPECT_EQ(m.def().vcpus, 2u); // stopped: the stored definition is back
}

TEST_F(DomainModelPausedStartTest, AFailedLaunchGivesTheStoredDefinitionBack) {
    auto& m = make(true);
    m.runOnceWith(domainNamed("web1", 4));
    shims.launchFailure = Error(Code::OperationFailed, "no shim binary");
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); });
    ASSERT_TRUE(outcome && !outcome->ok());
    EXPECT_FALSE(m.starting());
    EXPECT_EQ(m.def().vcpus, 2u); // the image's definition was for that run only
}

TEST_F(DomainModelPausedStartTest, AnImageGivenToARunningDomainIsClosedAndRefused) {
    auto& m = make(true);
    startRunning(m);
    Pipe image;
    std::optional<Result<void>> outcome;
    m.start([&](Result<void> r) { outcome = std::move(r); },
            StartOptions{.imageFd = image.takeReadEnd()});
    ASSERT_TRUE(outcome && !outcome->ok());
    EXPECT_EQ(outcome->error().code(), Code::InvalidState);
    EXPECT_TRUE(image.readEndClosed());
}

} // namespace
