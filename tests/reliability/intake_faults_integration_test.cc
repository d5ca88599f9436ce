// Intake under the inotify faults of docs/reliability.md (F3, F6), with the real kernel's inotify
// and a FakeClock for the settle windows: no sleeps. The kernel fills the inotify queue while a
// file is written, so after the writes return every event (or the overflow) is already queued.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <set>

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"
#include "watch/intake.h"

namespace tw::watch {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kSettle{1000};

class IntakeFaultTest : public ::testing::Test {
 protected:
  void Start() {
    IntakeOptions options;
    options.roots = {dir_.path()};
    options.settle = kSettle;
    TW_ASSERT_OK_AND_ASSIGN(intake_, Intake::Create(options, clock_));
    ASSERT_GE(intake_->inotify_fd(), 0);
    intake_->Rescan();  // the daemon's start-up reconciliation
  }

  // Events in, settle windows passed, everything ready collected (each path counted).
  void DrainAndSettle() {
    intake_->DrainEvents();
    Collect(intake_->Poll());
    clock_.Advance(kSettle);
    Collect(intake_->Poll());
  }
  void Collect(const IntakeBatch& batch) {
    for (const auto& file : batch.ready) ++ready_[file.path];
    for (const auto& file : batch.refused) ADD_FAILURE() << file.path << ": " << file.reason;
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<Intake> intake_;
  std::map<std::string, int> ready_;
};

int MaxQueuedEvents() {
  std::ifstream in("/proc/sys/fs/inotify/max_queued_events");
  int n = 0;
  in >> n;
  return n;
}

// F3: more events than fs.inotify.max_queued_events arrive before the daemon reads any: the
// kernel drops the rest and queues IN_Q_OVERFLOW. The intake rescans and reports every file,
// each exactly once, also across later rescans.
TEST_F(IntakeFaultTest, AKernelOverflowRescansAndReportsEveryFileOnce) {
  int limit = MaxQueuedEvents();
  ASSERT_GT(limit, 0);
  ASSERT_LE(limit, 1 << 20) << "fs.inotify.max_queued_events is too large to overflow in a test";
  ASSERT_EQ(::mkdir(dir_.Sub("run").c_str(), 0755), 0);
  Start();
  // Each file written in place queues at least IN_CREATE and IN_CLOSE_WRITE.
  const int files = limit / 2 + 200;
  const std::string zip = testing::ZipBytes(dir_, testing::TorchScriptEntries());
  ASSERT_FALSE(zip.empty());
  for (int i = 0; i < files; ++i) {
    testing::WriteTestFile(dir_.Sub("run/c" + std::to_string(i) + ".pt"), zip);
  }
  ::unlink(dir_.Sub("zip-fixture.tmp").c_str());
  intake_->DrainEvents();
  EXPECT_GE(intake_->stats().overflows, 1u) << "the kernel queue did not overflow";
  uint64_t rescans = intake_->stats().rescans;
  DrainAndSettle();
  EXPECT_GT(intake_->stats().rescans, rescans) << "the overflow did not trigger a rescan";
  EXPECT_EQ(ready_.size(), static_cast<size_t>(files));
  for (const auto& [path, times] : ready_) ASSERT_EQ(times, 1) << path;

  // Rescans and events after the overflow report nothing again.
  intake_->Rescan();
  DrainAndSettle();
  EXPECT_EQ(ready_.size(), static_cast<size_t>(files));
  for (const auto& [path, times] : ready_) ASSERT_EQ(times, 1) << path;
}

// F6: run folders created and written into at once, before the intake has seen the folder's
// IN_CREATE (so before its watch exists) and after: every file is found by events and by the
// scan a new folder gets, without any periodic rescan.
TEST_F(IntakeFaultTest, FilesWrittenRightAfterMkdirAreAllFound) {
  Start();
  const std::string zip = testing::ZipBytes(dir_, testing::TorchScriptEntries());
  ::unlink(dir_.Sub("zip-fixture.tmp").c_str());
  const uint64_t rescans = intake_->stats().rescans;
  constexpr int kRuns = 50;
  for (int i = 0; i < kRuns; ++i) {
    std::string run = dir_.Sub("run" + std::to_string(i));
    ASSERT_EQ(::mkdir(run.c_str(), 0755), 0);
    testing::WriteTestFile(run + "/first.pt", zip);
    // Every third folder: the intake catches up in between, so the next file lands in a
    // watched folder; the others are written before their folder's event is read.
    if (i % 3 == 0) {
      intake_->DrainEvents();
      testing::WriteTestFile(run + "/second.pt", zip);
    }
  }
  DrainAndSettle();
  int expected = kRuns + (kRuns + 2) / 3;
  EXPECT_EQ(ready_.size(), static_cast<size_t>(expected));
  for (const auto& [path, times] : ready_) EXPECT_EQ(times, 1) << path;
  EXPECT_EQ(intake_->stats().rescans, rescans);
  EXPECT_EQ(intake_->stats().watched_dirs, static_cast<uint64_t>(kRuns + 1));
  EXPECT_EQ(intake_->stats().watch_failures, 0u);
}

}  // namespace
}  // namespace tw::watch
