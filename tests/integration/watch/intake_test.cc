// Intake with real files and real inotify. Waits are polling loops on the inotify descriptor
// with a deadline; the settle window is short (150 ms) to keep the suite fast.
#include "watch/intake.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <functional>

#include "common/clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"

namespace tw::watch {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr milliseconds kSettle(150);
constexpr milliseconds kDeadline(5000);

class IntakeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(::mkdir(dir_.Sub("run1").c_str(), 0755), 0); }

  void Start(bool use_inotify = true) {
    IntakeOptions options;
    options.roots = {dir_.path()};
    options.settle = kSettle;
    options.use_inotify = use_inotify;
    TW_ASSERT_OK_AND_ASSIGN(intake_, Intake::Create(options, RealClock()));
    intake_->Rescan();
    Collect(intake_->Poll());
  }

  void Collect(IntakeBatch batch) {
    for (auto& file : batch.ready) ready_.push_back(std::move(file));
    for (auto& file : batch.refused) refused_.push_back(std::move(file));
  }

  // One turn of the daemon's loop: wait for events or the next deadline (at most 20 ms), drain,
  // poll. In rescan-only mode every turn rescans.
  void Turn() {
    const SteadyTime now = RealClock().Now();
    milliseconds wait(20);
    if (auto next = intake_->NextDeadline()) {
      wait = std::clamp(std::chrono::duration_cast<milliseconds>(*next - now), milliseconds(0),
                        milliseconds(20));
    }
    if (intake_->inotify_fd() >= 0) {
      struct pollfd pfd {
        intake_->inotify_fd(), POLLIN, 0
      };
      ::poll(&pfd, 1, static_cast<int>(wait.count()));
      intake_->DrainEvents();
    } else {
      struct pollfd none {
        - 1, 0, 0
      };
      ::poll(&none, 0, static_cast<int>(wait.count()));
      intake_->Rescan();
    }
    Collect(intake_->Poll());
  }

  // Turns until `done` holds; false at the deadline.
  bool RunUntil(const std::function<bool()>& done, milliseconds limit = kDeadline) {
    const SteadyTime end = RealClock().Now() + limit;
    while (!done()) {
      if (RealClock().Now() > end) return false;
      Turn();
    }
    return true;
  }

  // Turns for `duration` (nothing is expected to happen: the test checks afterwards).
  void RunFor(milliseconds duration) {
    const SteadyTime end = RealClock().Now() + duration;
    while (RealClock().Now() < end) Turn();
  }

  // Writes the zip in place (WriteZip itself writes a temporary file and renames it).
  void WriteInPlace(const std::string& path, const testing::ZipEntries& entries) {
    testing::WriteTestFile(path, testing::ZipBytes(dir_, entries));
  }

  const ReadyFile* FindReady(const std::string& name) const {
    for (const ReadyFile& file : ready_) {
      if (file.file_name == name) return &file;
    }
    return nullptr;
  }
  size_t CountReady(const std::string& name) const {
    return std::count_if(ready_.begin(), ready_.end(),
                         [&](const ReadyFile& f) { return f.file_name == name; });
  }
  const RefusedFile* FindRefused(const std::string& path) const {
    for (const RefusedFile& file : refused_) {
      if (file.path == path) return &file;
    }
    return nullptr;
  }

  testing::TempDir dir_;
  std::unique_ptr<Intake> intake_;
  std::vector<ReadyFile> ready_;
  std::vector<RefusedFile> refused_;
};

TEST_F(IntakeTest, DirectWriteIsReadyAfterTheSettleWindow) {
  Start();
  const SteadyTime written = RealClock().Now();
  WriteInPlace(dir_.Sub("run1/epoch_1.pt"), testing::TorchScriptEntries());
  ASSERT_TRUE(RunUntil([&] { return !ready_.empty(); }));
  EXPECT_GE(RealClock().Now() - written, kSettle);
  const ReadyFile& file = ready_[0];
  EXPECT_EQ(file.run, "run1");
  EXPECT_EQ(file.file_name, "epoch_1.pt");
  EXPECT_EQ(file.path, dir_.Sub("run1/epoch_1.pt"));
  EXPECT_EQ(file.check.kind, TorchFileKind::kTorchScript);
  EXPECT_FALSE(file.arrived_by_rename);
  EXPECT_GT(intake_->stats().inotify_events, 0u);
  EXPECT_EQ(intake_->stats().watched_dirs, 2u);
  RunFor(2 * kSettle);
  EXPECT_EQ(ready_.size(), 1u);
}

TEST_F(IntakeTest, RenamedIntoPlaceIsReadyWithoutSettling) {
  Start();
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/b.pt.tmp"), testing::StateDictEntries()));
  ASSERT_EQ(::rename(dir_.Sub("run1/b.pt.tmp").c_str(), dir_.Sub("run1/b.pt").c_str()), 0);
  ASSERT_TRUE(RunUntil([&] { return !ready_.empty(); }));
  EXPECT_EQ(ready_[0].file_name, "b.pt");
  EXPECT_TRUE(ready_[0].arrived_by_rename);
  EXPECT_EQ(ready_[0].check.kind, TorchFileKind::kStateDictZip);
  EXPECT_EQ(CountReady("b.pt.tmp"), 0u);
}

TEST_F(IntakeTest, SlowWriterIsNotReadyUntilStable) {
  Start();
  // A legacy pickle has no end record: only the settle window tells it is complete.
  const std::string bytes = testing::LegacyPickleBytes();
  const std::string path = dir_.Sub("run1/slow.pt");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0);
  const size_t chunk = bytes.size() / 3 + 1;
  for (size_t offset = 0; offset < bytes.size(); offset += chunk) {
    const size_t n = std::min(chunk, bytes.size() - offset);
    ASSERT_EQ(::write(fd, bytes.data() + offset, n), static_cast<ssize_t>(n));
    RunFor(kSettle * 2 / 3);  // Shorter than the window: it keeps restarting.
    EXPECT_TRUE(ready_.empty());
    EXPECT_TRUE(refused_.empty());
  }
  const SteadyTime finished = RealClock().Now();
  ::close(fd);
  ASSERT_TRUE(RunUntil([&] { return !ready_.empty(); }));
  EXPECT_GE(RealClock().Now() - finished, kSettle / 3);
  EXPECT_EQ(ready_[0].check.kind, TorchFileKind::kLegacyPickle);
  EXPECT_EQ(ready_[0].size, bytes.size());
}

TEST_F(IntakeTest, TruncatedAndEmptyFilesAreRefusedAfterTheLimit) {
  Start();
  const std::string bytes = testing::ZipBytes(dir_, testing::TorchScriptEntries());
  testing::WriteTestFile(dir_.Sub("run1/cut.pt"), bytes.substr(0, bytes.size() - 30));
  testing::WriteTestFile(dir_.Sub("run1/empty.pt"), "");
  RunFor(3 * kSettle);
  EXPECT_TRUE(ready_.empty());
  EXPECT_TRUE(refused_.empty());
  ASSERT_TRUE(RunUntil([&] { return refused_.size() == 2; }));
  EXPECT_THAT(FindRefused(dir_.Sub("run1/cut.pt"))->reason, HasSubstr("incomplete zip"));
  EXPECT_THAT(FindRefused(dir_.Sub("run1/empty.pt"))->reason, HasSubstr("empty file"));
  EXPECT_TRUE(ready_.empty());
}

TEST_F(IntakeTest, NotTorchIsRefusedOnce) {
  Start();
  testing::WriteTestFile(dir_.Sub("run1/notes.pt"), "these are not weights");
  ASSERT_TRUE(RunUntil([&] { return !refused_.empty(); }));
  EXPECT_THAT(refused_[0].reason, HasSubstr("not a torch file"));
  intake_->Rescan();
  RunFor(2 * kSettle);
  EXPECT_EQ(refused_.size(), 1u);
  EXPECT_EQ(intake_->stats().refused, 1u);
}

TEST_F(IntakeTest, DeletedBeforeSettlingIsNeverReported) {
  Start();
  WriteInPlace(dir_.Sub("run1/gone.pt"), testing::TorchScriptEntries());
  RunFor(kSettle / 3);
  ASSERT_EQ(::unlink(dir_.Sub("run1/gone.pt").c_str()), 0);
  RunFor(3 * kSettle);
  EXPECT_TRUE(ready_.empty());
  EXPECT_TRUE(refused_.empty());
  EXPECT_EQ(intake_->NextDeadline(), std::nullopt);
}

TEST_F(IntakeTest, CopiesUnderTwoNamesAreBothReported) {
  Start();
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/a.pt"), testing::TorchScriptEntries()));
  testing::WriteTestFile(dir_.Sub("run1/b.pth"), testing::ReadTestFile(dir_.Sub("run1/a.pt")));
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 2; }));
  EXPECT_EQ(CountReady("a.pt"), 1u);
  EXPECT_EQ(CountReady("b.pth"), 1u);
}

TEST_F(IntakeTest, RewrittenFileIsReportedAgain) {
  Start();
  WriteInPlace(dir_.Sub("run1/a.pt"), testing::TorchScriptEntries("v1"));
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 1; }));
  WriteInPlace(dir_.Sub("run1/a.pt"), testing::TorchScriptEntries("version two"));
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 2; }));
  EXPECT_NE(ready_[0].size, ready_[1].size);
  RunFor(2 * kSettle);
  EXPECT_EQ(ready_.size(), 2u);
}

TEST_F(IntakeTest, SymlinkOutsideTheRootIsRefusedInsideIsTaken) {
  testing::TempDir outside;
  ASSERT_TRUE(testing::WriteZip(outside.Sub("secret.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/real.pt"), testing::TorchScriptEntries()));
  ASSERT_EQ(::symlink(outside.Sub("secret.pt").c_str(), dir_.Sub("run1/evil.pt").c_str()), 0);
  ASSERT_EQ(::symlink("real.pt", dir_.Sub("run1/alias.pt").c_str()), 0);
  Start();
  ASSERT_TRUE(RunUntil([&] { return refused_.size() == 1 && ready_.size() == 2; }));
  EXPECT_THAT(refused_[0].reason, HasSubstr("outside the watch root"));
  EXPECT_EQ(refused_[0].path, dir_.Sub("run1/evil.pt"));
  EXPECT_EQ(CountReady("alias.pt"), 1u);
  EXPECT_EQ(CountReady("real.pt"), 1u);
}

TEST_F(IntakeTest, NewRunFolderIsWatchedAndScanned) {
  Start();
  ASSERT_EQ(::mkdir(dir_.Sub("run2").c_str(), 0755), 0);
  // Written right after the mkdir, possibly before the watch exists (research F6).
  WriteInPlace(dir_.Sub("run2/first.pt"), testing::TorchScriptEntries());
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 1; }));
  EXPECT_EQ(ready_[0].run, "run2");
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run2/second.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 2; }));
  EXPECT_EQ(intake_->stats().watched_dirs, 3u);
}

TEST_F(IntakeTest, RemovedRunFolderIsForgotten) {
  ASSERT_EQ(::mkdir(dir_.Sub("run2").c_str(), 0755), 0);
  Start();
  WriteInPlace(dir_.Sub("run2/a.pt"), testing::TorchScriptEntries());
  RunFor(kSettle / 3);
  ASSERT_EQ(::unlink(dir_.Sub("run2/a.pt").c_str()), 0);
  ASSERT_EQ(::rmdir(dir_.Sub("run2").c_str()), 0);
  ASSERT_TRUE(RunUntil([&] { return intake_->stats().watched_dirs == 2; }));
  RunFor(2 * kSettle);
  EXPECT_TRUE(ready_.empty());
  EXPECT_EQ(intake_->NextDeadline(), std::nullopt);
}

TEST_F(IntakeTest, RescanOnlyModeFindsFiles) {
  Start(/*use_inotify=*/false);
  EXPECT_EQ(intake_->inotify_fd(), -1);
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/epoch_2.pt"), testing::TorchScriptEntries()));
  ASSERT_EQ(::mkdir(dir_.Sub("run3").c_str(), 0755), 0);
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run3/epoch_3.pt"), testing::StateDictEntries()));
  ASSERT_TRUE(RunUntil([&] { return ready_.size() == 2; }));
  EXPECT_EQ(intake_->stats().inotify_events, 0u);
  EXPECT_GT(intake_->stats().rescans, 1u);
  RunFor(2 * kSettle);
  EXPECT_EQ(ready_.size(), 2u);
}

TEST_F(IntakeTest, SidecarIsAttached) {
  Start();
  testing::WriteTestFile(dir_.Sub("run1/epoch_3.json"),
                         R"({"step": 300, "epoch": 3, "hparams": {"lr": 0.1}})");
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/epoch_3.pt"), testing::StateDictEntries()));
  ASSERT_TRUE(RunUntil([&] { return !ready_.empty(); }));
  ASSERT_TRUE(ready_[0].sidecar.has_value());
  EXPECT_EQ(ready_[0].sidecar->step, 300);
  EXPECT_EQ(ready_[0].sidecar->epoch, 3.0);
  EXPECT_EQ(ready_[0].sidecar->hparams_json, R"({"lr":0.1})");
}

TEST_F(IntakeTest, InvalidSidecarIsRefusedAndRetriedWhenFixed) {
  Start();
  testing::WriteTestFile(dir_.Sub("run1/epoch_4.json"), R"({"stpe": 400})");
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/epoch_4.pt"), testing::StateDictEntries()));
  ASSERT_TRUE(RunUntil([&] { return !refused_.empty(); }));
  EXPECT_EQ(refused_[0].path, dir_.Sub("run1/epoch_4.pt"));
  EXPECT_THAT(refused_[0].reason, HasSubstr("epoch_4.json: unknown key 'stpe'"));
  RunFor(2 * kSettle);
  EXPECT_EQ(refused_.size(), 1u);  // Not again while nothing changed.
  EXPECT_TRUE(ready_.empty());
  testing::WriteTestFile(dir_.Sub("run1/epoch_4.json"), R"({"step": 400})");
  ASSERT_TRUE(RunUntil([&] { return !ready_.empty(); }));
  ASSERT_TRUE(ready_[0].sidecar.has_value());
  EXPECT_EQ(ready_[0].sidecar->step, 400);
}

TEST_F(IntakeTest, TemporaryNamesAreIgnored) {
  Start();
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/x.pt.part"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/.x.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("top.pt"), testing::TorchScriptEntries()));
  RunFor(3 * kSettle);
  intake_->Rescan();
  RunFor(2 * kSettle);
  EXPECT_TRUE(ready_.empty());
  EXPECT_TRUE(refused_.empty());
}

}  // namespace
}  // namespace tw::watch
