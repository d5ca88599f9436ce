// Intake driven by rescans and a FakeClock: the settle and give-up rules without inotify timing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include "tests/testing/fake_clock.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/unit/watch/zip_fixtures.h"
#include "watch/intake.h"

namespace tw::watch {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

class IntakeRescanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::mkdir(dir_.Sub("run1").c_str(), 0755), 0);
    IntakeOptions options;
    options.roots = {dir_.path()};
    options.settle = milliseconds(1000);
    options.use_inotify = false;
    TW_ASSERT_OK_AND_ASSIGN(intake_, Intake::Create(options, clock_));
    EXPECT_EQ(intake_->inotify_fd(), -1);
  }
  IntakeBatch ScanAndPoll() {
    intake_->Rescan();
    return intake_->Poll();
  }

  testing::TempDir dir_;
  testing::FakeClock clock_;
  std::unique_ptr<Intake> intake_;
};

TEST_F(IntakeRescanTest, ReadyOnceAfterTheSettleWindow) {
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/epoch_1.pt"), testing::TorchScriptEntries()));
  EXPECT_TRUE(ScanAndPoll().ready.empty());
  EXPECT_EQ(intake_->NextDeadline(), clock_.Now() + milliseconds(1000));
  clock_.Advance(milliseconds(999));
  EXPECT_TRUE(intake_->Poll().ready.empty());
  clock_.Advance(milliseconds(1));
  IntakeBatch batch = intake_->Poll();
  ASSERT_EQ(batch.ready.size(), 1u);
  const ReadyFile& file = batch.ready[0];
  EXPECT_EQ(file.root, dir_.path());
  EXPECT_EQ(file.run, "run1");
  EXPECT_EQ(file.file_name, "epoch_1.pt");
  EXPECT_EQ(file.path, dir_.Sub("run1/epoch_1.pt"));
  EXPECT_EQ(file.check.kind, TorchFileKind::kTorchScript);
  EXPECT_FALSE(file.arrived_by_rename);
  EXPECT_FALSE(file.is_arch);
  EXPECT_EQ(file.sidecar, std::nullopt);
  EXPECT_EQ(intake_->NextDeadline(), std::nullopt);
  // Later rescans report nothing again.
  clock_.Advance(milliseconds(5000));
  EXPECT_TRUE(ScanAndPoll().ready.empty());
  clock_.Advance(milliseconds(5000));
  EXPECT_TRUE(intake_->Poll().ready.empty());
  EXPECT_EQ(intake_->stats().ready, 1u);
}

TEST_F(IntakeRescanTest, IgnoresTemporaryNonMatchingAndRootFiles) {
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/a.pt.tmp"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/.a.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/a.zip"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("root.pt"), testing::TorchScriptEntries()));
  ScanAndPoll();
  clock_.Advance(milliseconds(3000));
  IntakeBatch batch = ScanAndPoll();
  EXPECT_TRUE(batch.ready.empty());
  EXPECT_TRUE(batch.refused.empty());
  EXPECT_EQ(intake_->NextDeadline(), std::nullopt);
}

TEST_F(IntakeRescanTest, IncompleteZipIsRefusedAfterTenWindows) {
  const std::string bytes = testing::ZipBytes(dir_, testing::StateDictEntries());
  ::unlink(dir_.Sub("zip-fixture.tmp").c_str());
  testing::WriteTestFile(dir_.Sub("run1/cut.pt"), bytes.substr(0, bytes.size() / 2));
  testing::WriteTestFile(dir_.Sub("run1/empty.pt"), "");
  ScanAndPoll();
  clock_.Advance(milliseconds(1000));
  IntakeBatch batch = intake_->Poll();
  EXPECT_TRUE(batch.ready.empty());
  EXPECT_TRUE(batch.refused.empty());
  clock_.Advance(milliseconds(8999));
  EXPECT_TRUE(ScanAndPoll().refused.empty());
  clock_.Advance(milliseconds(1));
  batch = intake_->Poll();
  ASSERT_EQ(batch.refused.size(), 2u);
  EXPECT_EQ(batch.refused[0].path, dir_.Sub("run1/cut.pt"));
  EXPECT_THAT(batch.refused[0].reason, HasSubstr("incomplete zip"));
  EXPECT_THAT(batch.refused[1].reason, HasSubstr("empty file"));
  clock_.Advance(milliseconds(20000));
  EXPECT_TRUE(ScanAndPoll().refused.empty());
}

TEST_F(IntakeRescanTest, CompletedZipIsReadyAfterItsRest) {
  const std::string bytes = testing::ZipBytes(dir_, testing::StateDictEntries());
  testing::WriteTestFile(dir_.Sub("run1/a.pt"), bytes.substr(0, 100));
  ScanAndPoll();
  clock_.Advance(milliseconds(2000));
  EXPECT_TRUE(ScanAndPoll().ready.empty());
  testing::WriteTestFile(dir_.Sub("run1/a.pt"), bytes);
  EXPECT_TRUE(ScanAndPoll().ready.empty());  // Changed: the window restarts.
  clock_.Advance(milliseconds(1000));
  IntakeBatch batch = intake_->Poll();
  ASSERT_EQ(batch.ready.size(), 1u);
  EXPECT_EQ(batch.ready[0].check.kind, TorchFileKind::kStateDictZip);
}

TEST_F(IntakeRescanTest, ArchMustBeTorchScript) {
  ASSERT_EQ(::mkdir(dir_.Sub("run2").c_str(), 0755), 0);
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/arch.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run2/arch.pt"), testing::StateDictEntries()));
  ScanAndPoll();
  clock_.Advance(milliseconds(1000));
  IntakeBatch batch = intake_->Poll();
  ASSERT_EQ(batch.ready.size(), 1u);
  EXPECT_TRUE(batch.ready[0].is_arch);
  EXPECT_EQ(batch.ready[0].run, "run1");
  ASSERT_EQ(batch.refused.size(), 1u);
  EXPECT_THAT(batch.refused[0].reason, HasSubstr("arch.pt must be a TorchScript archive"));
}

TEST_F(IntakeRescanTest, HostileNamesAreRefusedEscaped) {
  ASSERT_EQ(::mkdir(dir_.Sub("bad\x1b[31m").c_str(), 0755), 0);
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("bad\x1b[31m/a.pt"), testing::TorchScriptEntries()));
  ASSERT_TRUE(testing::WriteZip(dir_.Sub("run1/x\xff\n.pt"), testing::TorchScriptEntries()));
  IntakeBatch batch = ScanAndPoll();
  clock_.Advance(milliseconds(1000));
  IntakeBatch later = intake_->Poll();
  batch.refused.insert(batch.refused.end(), later.refused.begin(), later.refused.end());
  ASSERT_EQ(batch.refused.size(), 2u);
  EXPECT_THAT(batch.refused[0].reason, HasSubstr("run folder name"));
  EXPECT_THAT(batch.refused[0].reason, HasSubstr("bad\\x1b[31m"));
  EXPECT_THAT(batch.refused[1].reason, HasSubstr("x\\xff\\n.pt"));
  EXPECT_TRUE(later.ready.empty());
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(ScanAndPoll().refused.empty());  // Once only.
}

TEST(IntakeCreateTest, RefusesBadOptions) {
  testing::FakeClock clock;
  testing::TempDir dir;
  IntakeOptions options;
  EXPECT_THAT(Intake::Create(options, clock),
              testing::StatusIs(StatusCode::kInvalidArgument, HasSubstr("no watch roots")));
  options.roots = {dir.Sub("missing")};
  EXPECT_THAT(Intake::Create(options, clock),
              testing::StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
  testing::WriteTestFile(dir.Sub("file"), "x");
  options.roots = {dir.Sub("file")};
  EXPECT_THAT(Intake::Create(options, clock),
              testing::StatusIs(StatusCode::kInvalidArgument, HasSubstr("not a directory")));
  options.roots = {dir.path()};
  options.patterns = {"[z-a].pt"};
  EXPECT_THAT(Intake::Create(options, clock),
              testing::StatusIs(StatusCode::kInvalidArgument, HasSubstr("[z-a]")));
  ASSERT_EQ(::mkdir(dir.Sub("inner").c_str(), 0755), 0);
  options.patterns = {"*.pt"};
  options.roots = {dir.path(), dir.Sub("inner")};
  EXPECT_THAT(Intake::Create(options, clock),
              testing::StatusIs(StatusCode::kInvalidArgument, HasSubstr("lies inside")));
  options.roots = {dir.path() + "/./"};
  TW_ASSERT_OK_AND_ASSIGN(auto intake, Intake::Create(options, clock));
}

}  // namespace
}  // namespace tw::watch
