// Transfer checks against a real PostgreSQL: per-sample predictions stored as the evaluator
// stores them, reference checkpoints chosen by the store, verdicts, flags, their outbox events
// (one per comparison, never twice), idempotent recomputation and refusals to pair.
#include "reports/transfer_checks.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "protocol/eval_config.h"
#include "scoring/records.h"
#include "tests/testing/seeded_pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;

class TransferChecksTest : public ::tw::testing::SeededPgTest {
 protected:
  void SetUp() override {
    SeededPgTest::SetUp();
    if (HasFatalFailure()) return;
    AddDataset("imagenet", std::nullopt, 2000, "1");
    AddDataset("sketch", "imagenet", 1000, "1");
    AddDataset("imagenet-r", "imagenet", 1000, "1");
  }
};

TEST_F(TransferChecksTest, AnImagenetGainThatLosesOnAVariantIsARegressionFlaggedOnce) {
  CheckedCheckpoint a = AddCheckpoint("run", "step_1.pt", 1);
  CheckedCheckpoint b = AddCheckpoint("run", "step_2.pt", 2);
  Evaluate(a, "imagenet", 2000, 1400);
  Evaluate(a, "sketch", 1000, 600);
  Evaluate(a, "imagenet-r", 1000, 500);
  // b: +10 points on ImageNet (200 images more, none fewer), -10 on Sketch, +0.2 on R.
  Evaluate(b, "imagenet", 2000, 1600);
  Evaluate(b, "sketch", 1000, 500);
  Evaluate(b, "imagenet-r", 1000, 502);

  TransferCheckOptions options;
  TW_ASSERT_OK_AND_ASSIGN(TransferCheckSummary summary, RunTransferChecks(*store_, b, options));
  EXPECT_EQ(summary.references, 1);  // a: both the previous and the run's best
  EXPECT_EQ(summary.rows, 2);
  EXPECT_EQ(summary.new_rows, 2);
  EXPECT_EQ(summary.regressions, 1);
  EXPECT_EQ(summary.no_transfers, 1);  // R: +0.2 is not significantly better

  FlagFilter all;
  TW_ASSERT_OK_AND_ASSIGN(auto flags, store_->ListFlags(all));
  ASSERT_EQ(flags.size(), 2u);
  const TransferCheckInfo* regression = nullptr;
  for (const auto& f : flags) {
    if (f.verdict == "regression") regression = &f;
  }
  ASSERT_NE(regression, nullptr);
  EXPECT_EQ(regression->checkpoint, "run/step_2.pt");
  EXPECT_EQ(regression->reference_checkpoint, "run/step_1.pt");
  EXPECT_THAT(regression->reference_kinds, ::testing::ElementsAre("best", "previous"));
  EXPECT_EQ(regression->variant, "sketch");
  EXPECT_EQ(regression->reference_dataset, "imagenet");
  EXPECT_EQ(regression->reference.only_new, 200);
  EXPECT_EQ(regression->reference.only_old, 0);
  EXPECT_DOUBLE_EQ(regression->reference.delta, 10.0);
  EXPECT_EQ(regression->variant_numbers.only_old, 100);
  EXPECT_DOUBLE_EQ(regression->variant_numbers.delta, -10.0);
  EXPECT_LT(regression->variant_numbers.ci_high, 0);
  EXPECT_LT(regression->variant_p_holm, 0.05);
  EXPECT_EQ(regression->holm_family_size, 2);

  // Recomputing changes nothing; acknowledging hides it from --unacknowledged.
  TW_ASSERT_OK_AND_ASSIGN(summary, RunTransferChecks(*store_, b, options));
  EXPECT_EQ(summary.new_rows, 0);
  TW_ASSERT_OK(store_->AcknowledgeFlag(regression->id, "tester"));
  FlagFilter open;
  open.include_acknowledged = false;
  TW_ASSERT_OK_AND_ASSIGN(auto unacknowledged, store_->ListFlags(open));
  EXPECT_EQ(unacknowledged.size(), 1u);
  EXPECT_THAT(store_->AcknowledgeFlag(999999, "tester"),
              ::tw::testing::StatusIs(StatusCode::kNotFound, HasSubstr("999999")));
}

TEST_F(TransferChecksTest, NoiseAndSmallGainsRaiseNothing) {
  CheckedCheckpoint a = AddCheckpoint("run", "step_1.pt", 1);
  CheckedCheckpoint b = AddCheckpoint("run", "step_2.pt", 2);
  Evaluate(a, "imagenet", 2000, 1400);
  Evaluate(a, "sketch", 1000, 600);
  Evaluate(b, "imagenet", 2000, 1401);  // +0.05 points: below min_gain, and not significant
  Evaluate(b, "sketch", 1000, 560);
  TW_ASSERT_OK_AND_ASSIGN(TransferCheckSummary summary,
                          RunTransferChecks(*store_, b, TransferCheckOptions{}));
  EXPECT_EQ(summary.rows, 1);
  EXPECT_EQ(summary.regressions, 0);
  EXPECT_EQ(summary.no_transfers, 0);
  TW_ASSERT_OK_AND_ASSIGN(auto flags, store_->ListFlags(FlagFilter{}));
  EXPECT_TRUE(flags.empty());
}

TEST_F(TransferChecksTest, PinnedBaselinesAreComparedAndOtherManifestsAreNotPaired) {
  CheckedCheckpoint base = AddCheckpoint("baseline", "final.pt", 90);
  CheckedCheckpoint b = AddCheckpoint("run", "step_1.pt", 1);
  Evaluate(base, "imagenet", 2000, 1400);
  Evaluate(base, "sketch", 1000, 600);
  TW_ASSERT_OK(store_->PinBaseline(base.id, std::string("the paper's model")));
  TW_ASSERT_OK_AND_ASSIGN(auto baselines, store_->ListBaselines());
  ASSERT_EQ(baselines.size(), 1u);
  EXPECT_EQ(baselines[0].display_name, "baseline/final.pt");

  // Sketch gets new files before b is evaluated on it: the two Sketch results do not pair.
  AddDataset("sketch", "imagenet", 1000, "2");
  Evaluate(b, "imagenet", 2000, 1600);
  Evaluate(b, "sketch", 1000, 500);
  TW_ASSERT_OK_AND_ASSIGN(TransferCheckSummary summary,
                          RunTransferChecks(*store_, b, TransferCheckOptions{}));
  EXPECT_EQ(summary.rows, 0);
  ASSERT_FALSE(summary.not_paired.empty());
  EXPECT_THAT(summary.not_paired[0], HasSubstr("different manifests"));
  TW_ASSERT_OK(store_->UnpinBaseline(base.id));
  EXPECT_THAT(store_->UnpinBaseline(base.id),
              ::tw::testing::StatusIs(StatusCode::kNotFound, ::testing::_));
}

}  // namespace
}  // namespace tw

namespace tw {
namespace {

TEST_F(TransferChecksTest, AReferenceEvaluatedLateIsCheckedAgainstItsSuccessors) {
  CheckedCheckpoint a = AddCheckpoint("run", "step_1.pt", 1);
  CheckedCheckpoint b = AddCheckpoint("run", "step_2.pt", 2);
  CheckedCheckpoint c = AddCheckpoint("run", "step_3.pt", 3);
  CheckedCheckpoint other = AddCheckpoint("other-run", "step_9.pt", 9);
  // b and c are evaluated (and checked) before a, their predecessor, has any result.
  for (const auto& later : {b, c, other}) {
    Evaluate(later, "imagenet", 2000, 1600);
    Evaluate(later, "sketch", 1000, 500);
  }
  TransferCheckOptions options;
  TW_ASSERT_OK_AND_ASSIGN(TransferCheckSummary before, RunTransferChecks(*store_, b, options));
  EXPECT_EQ(before.rows, 0) << "a has nothing to pair yet";
  Evaluate(a, "imagenet", 2000, 1400);
  Evaluate(a, "sketch", 1000, 600);

  // b takes a as its previous checkpoint and its run's best; c has b as previous and best
  // (b is better on imagenet), so only b depends on a; the other run never does.
  TW_ASSERT_OK_AND_ASSIGN(auto dependents, DependentCheckpoints(*store_, a.id, "run", options));
  ASSERT_EQ(dependents.size(), 1u);
  EXPECT_EQ(dependents[0].id, b.id);
  EXPECT_EQ(dependents[0].display_name, "run/step_2.pt");
  TW_ASSERT_OK_AND_ASSIGN(TransferCheckSummary after,
                          RunTransferChecks(*store_, dependents[0], options));
  EXPECT_EQ(after.new_rows, 1);
  EXPECT_EQ(after.regressions, 1);
  TW_ASSERT_OK_AND_ASSIGN(auto of_c, DependentCheckpoints(*store_, c.id, "run", options));
  EXPECT_TRUE(of_c.empty()) << "nothing comes after the last checkpoint";
  EXPECT_THAT(DependentCheckpoints(*store_, 987654, "run", options),
              ::tw::testing::StatusIs(StatusCode::kNotFound, HasSubstr("987654")));
}

}  // namespace
}  // namespace tw
