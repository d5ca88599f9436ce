// Retention (`transferwatch gc`, store/gc.h) against a real PostgreSQL: rows backdated in SQL,
// then a dry run that changes nothing, a run that prunes exactly the old rows and prints the
// figures the dry run promised, aggregates and flags that survive, and what still works after:
// compare (aggregates, with its warning), transfer checks of new checkpoints, the planner's and
// the outbox's memory. Also the sizing of one 50,000-image evaluation's per-sample data.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <random>

#include "store/job_queue.h"
#include "tests/testing/seeded_pg_test.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

class GcTest : public ::tw::testing::SeededPgTest {
 protected:
  void SetUp() override {
    SeededPgTest::SetUp();
    if (HasFatalFailure()) return;
    AddDataset("imagenet", std::nullopt, 2000);
    AddDataset("sketch", "imagenet", 1000);
  }

  // Two runs whose second checkpoint regresses on Sketch (one flag and one event each), a
  // webhook subscribed to both events; all of it recorded `days` ago.
  void SeedOldFlags(int days) {
    a_ = AddCheckpoint("run", "step_1.pt", 1);
    b_ = AddCheckpoint("run", "step_2.pt", 2);
    p_ = AddCheckpoint("run2", "step_1.pt", 1);
    q_ = AddCheckpoint("run2", "step_2.pt", 2);
    for (const auto* c : {&a_, &p_}) {
      old_evaluations_.push_back(Evaluate(*c, "imagenet", 2000, 1400));
      old_evaluations_.push_back(Evaluate(*c, "sketch", 1000, 600));
    }
    for (const auto* c : {&b_, &q_}) {
      old_evaluations_.push_back(Evaluate(*c, "imagenet", 2000, 1600));
      old_evaluations_.push_back(Evaluate(*c, "sketch", 1000, 500));
    }
    NewWebhook hook;
    hook.url = "https://chat.example/hook";
    hook.format = "generic";
    hook.secrets = {"whsec_" + std::string(32, 'A')};
    hook.events = {"regression", "no-transfer"};
    TW_ASSERT_OK_AND_ASSIGN(webhook_, store_->AddWebhook(hook));
    for (const auto* c : {&b_, &q_}) {
      TW_ASSERT_OK_AND_ASSIGN(auto summary, RunTransferChecks(*store_, *c, options_));
      ASSERT_EQ(summary.regressions, 1);
    }
    std::string ago = "now() - interval '" + std::to_string(days) + " days'";
    Sql("UPDATE tw.evaluations SET created_at = " + ago);
    Sql("UPDATE tw.outbox SET created_at = " + ago);
    // run's event went out long ago; run2's could not be delivered (dead: an operator may replay).
    Sql("UPDATE tw.deliveries d SET state = 'delivered', attempts = 1, last_status = 200, "
        "delivered_at = " +
        ago + " FROM tw.outbox o WHERE o.id = d.outbox_id AND o.payload->>'run' = 'run'");
    Sql("UPDATE tw.deliveries d SET state = 'dead', attempts = 8, last_status = 500, "
        "last_error = 'HTTP 500' FROM tw.outbox o WHERE o.id = d.outbox_id AND "
        "o.payload->>'run' = 'run2'");
  }

  // A dead job with three failed attempts that finished `days` ago.
  void AddDeadJob(const CheckedCheckpoint& c, const std::string& dataset, int days) {
    auto version = store_->GetDatasetVersion(dataset);
    ASSERT_TRUE(version.ok());
    NewJob job;
    job.evaluation_key = Sha256Hex("job" + std::to_string(c.id) + dataset);
    job.checkpoint_id = c.id;
    job.dataset_version_id = version->version_id;
    job.eval_config = config_;
    job.evaluator_version = "test";
    job.max_attempts = 3;
    TW_ASSERT_OK(store_->EnqueueJobs({job}).status());
    std::string error(300, 'x');
    Sql("UPDATE tw.jobs SET state = 'dead', attempt = 3, last_error = 'out of memory', "
        "errors = jsonb_build_array("
        "  jsonb_build_object('attempt', 1, 'error', '" +
        error + "'), jsonb_build_object('attempt', 2, 'error', '" + error +
        "'), jsonb_build_object('attempt', 3, 'error', 'out of memory')), "
        "finished_at = now() - interval '" +
        std::to_string(days) + " days' WHERE evaluation_key = '" + job.evaluation_key + "'");
  }

  std::vector<TransferCheckInfo> Flags() {
    auto flags = store_->ListFlags(FlagFilter{});
    EXPECT_TRUE(flags.ok());
    return flags.ok() ? *flags : std::vector<TransferCheckInfo>{};
  }

  std::vector<JobInfo> DeadJobs() {
    JobFilter filter;
    filter.states = {JobState::kDead};
    auto jobs = store_->ListJobs(filter);
    EXPECT_TRUE(jobs.ok());
    return jobs.ok() ? *jobs : std::vector<JobInfo>{};
  }

  static const nlohmann::json& Category(const nlohmann::json& doc, const std::string& name) {
    for (const auto& c : doc["gc"]) {
      if (c["category"] == name) return c;
    }
    ADD_FAILURE() << "no category " << name << " in " << doc.dump();
    static const nlohmann::json kNone;
    return kNone;
  }

  TransferCheckOptions options_;
  CheckedCheckpoint a_, b_, p_, q_;
  std::vector<int64_t> old_evaluations_;
  int64_t webhook_ = 0;
};

TEST_F(GcTest, PrunesOnlyOldRowsKeepsAggregatesAndFlagsAndPrintsWhatTheDryRunPromised) {
  SeedOldFlags(100);
  ASSERT_FALSE(HasFatalFailure());
  // p is a pinned baseline: its predictions stay whatever their age.
  TW_ASSERT_OK(store_->PinBaseline(p_.id, std::string("reference model")));
  CheckedCheckpoint c = AddCheckpoint("run", "step_3.pt", 3);
  int64_t new_eval = Evaluate(c, "imagenet", 2000, 1700);
  Evaluate(c, "sketch", 1000, 650);
  AddDeadJob(c, "imagenet", 40);
  AddDeadJob(q_, "sketch", 2);
  ASSERT_FALSE(HasFatalFailure());
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts before, store_->Counts());
  std::vector<TransferCheckInfo> flags_before = Flags();
  ASSERT_EQ(flags_before.size(), 2u);

  nlohmann::json dry = CliJson({"gc", "--dry-run"});
  EXPECT_TRUE(dry["dry_run"].get<bool>());
  const auto& predictions = Category(dry, "per-sample predictions");
  EXPECT_EQ(predictions["rows"], 6) << "a, b and q on two datasets; not the baseline p, not c";
  EXPECT_EQ(predictions["kept"], 4);
  // Each row holds 16 bytes per image (compressed by PostgreSQL as it stores them).
  int64_t raw = 2 * ((16 + 16 * 2000) + (16 + 16 * 1000)) + 2 * (16 + 16 * 2000);
  EXPECT_GT(predictions["bytes"].get<int64_t>(), 0);
  EXPECT_LE(predictions["bytes"].get<int64_t>(), raw + 6 * 200);
  const auto& jobs = Category(dry, "dead jobs");
  EXPECT_EQ(jobs["rows"], 1);
  EXPECT_EQ(jobs["kept"], 1);
  EXPECT_GT(jobs["bytes"].get<int64_t>(), 600) << "two 300-character errors at least";
  const auto& events = Category(dry, "delivered webhook events");
  EXPECT_EQ(events["rows"], 1) << "run's event; run2's has a dead delivery";
  EXPECT_EQ(events["deliveries"], 1);
  EXPECT_EQ(events["kept"], 1);
  EXPECT_EQ(dry["bytes"].get<int64_t>(), predictions["bytes"].get<int64_t>() +
                                             jobs["bytes"].get<int64_t>() +
                                             events["bytes"].get<int64_t>());

  // The dry run changed nothing.
  for (int64_t id : old_evaluations_) TW_EXPECT_OK(store_->GetPredictions(id).status());
  for (const JobInfo& j : DeadJobs()) EXPECT_NE(j.errors_json, "[]");
  TW_ASSERT_OK_AND_ASSIGN(auto deliveries, store_->ListDeliveries(webhook_, std::nullopt, 100));
  EXPECT_EQ(deliveries.size(), 2u);

  // The table shows the same figures.
  auto table = Cli({"gc", "--dry-run"});
  ASSERT_EQ(table.exit_code, 0) << table.output;
  EXPECT_THAT(table.output, HasSubstr("would free"));
  EXPECT_THAT(table.output, HasSubstr(std::to_string(predictions["bytes"].get<int64_t>())));

  nlohmann::json done = CliJson({"gc"});
  EXPECT_FALSE(done["dry_run"].get<bool>());
  // The run frees exactly what the dry run promised (the cutoffs moved on with the clock).
  auto without_cutoffs = [](nlohmann::json categories) {
    for (auto& category : categories) category.erase("cutoff");
    return categories;
  };
  EXPECT_EQ(without_cutoffs(done["gc"]), without_cutoffs(dry["gc"]));

  // Per-sample rows: old ones gone, the baseline's and the new ones kept.
  for (int64_t id : old_evaluations_) {
    auto stored = store_->GetPredictions(id);
    if (stored.ok()) continue;  // p's
    EXPECT_THAT(stored, StatusIs(StatusCode::kNotFound, HasSubstr("no per-sample predictions")));
  }
  // p's: a pinned baseline.
  TW_EXPECT_OK(store_->GetPredictions(old_evaluations_[2]).status());
  TW_EXPECT_OK(store_->GetPredictions(new_eval).status());
  // Every aggregate and every flag stays, with its numbers.
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts after, store_->Counts());
  EXPECT_EQ(after.evaluations, before.evaluations);
  std::vector<TransferCheckInfo> flags_after = Flags();
  ASSERT_EQ(flags_after.size(), flags_before.size());
  for (size_t i = 0; i < flags_after.size(); ++i) {
    EXPECT_EQ(flags_after[i].id, flags_before[i].id);
    EXPECT_EQ(flags_after[i].verdict, flags_before[i].verdict);
    EXPECT_EQ(flags_after[i].reference.only_new, flags_before[i].reference.only_new);
    EXPECT_EQ(flags_after[i].variant_numbers.only_old, flags_before[i].variant_numbers.only_old);
    EXPECT_EQ(flags_after[i].variant_p_holm, flags_before[i].variant_p_holm);
  }
  ResultQuery query;
  query.datasets = {"sketch"};
  TW_ASSERT_OK_AND_ASSIGN(auto results, store_->QueryResults(query));
  EXPECT_EQ(results.size(), 5u);
  // Dead jobs: the old one lost its history but not its last error; both are still dead.
  std::vector<JobInfo> dead = DeadJobs();
  ASSERT_EQ(dead.size(), 2u);
  for (const JobInfo& j : dead) {
    if (j.checkpoint_id == c.id) {
      EXPECT_EQ(j.errors_json, "[]");
    } else {
      EXPECT_NE(j.errors_json, "[]");
    }
    EXPECT_EQ(j.last_error.value_or(""), "out of memory");
  }
  // The planner still knows c was tried on imagenet: nothing to plan again.
  TW_ASSERT_OK_AND_ASSIGN(auto imagenet, store_->GetDatasetVersion("imagenet"));
  TW_ASSERT_OK_AND_ASSIGN(auto unplanned,
                          store_->UnplannedCheckpoints(imagenet.version_id, config_.sha256, 100));
  for (const auto& candidate : unplanned) EXPECT_NE(candidate.checkpoint_id, c.id);
  // Deliveries: the delivered one is gone, the dead one stays (replayable).
  TW_ASSERT_OK_AND_ASSIGN(deliveries, store_->ListDeliveries(webhook_, std::nullopt, 100));
  ASSERT_EQ(deliveries.size(), 1u);
  EXPECT_EQ(deliveries[0].state, "dead");

  // A second run finds nothing more.
  nlohmann::json again = CliJson({"gc"});
  for (const auto& category : again["gc"]) EXPECT_EQ(category["rows"], 0) << category.dump();
  EXPECT_EQ(again["bytes"], 0);

  // compare falls back to the aggregates, with its warning.
  auto compare = Cli({"compare", "run/step_1.pt", "run/step_2.pt"});
  ASSERT_EQ(compare.exit_code, 0) << compare.output;
  EXPECT_THAT(compare.output, HasSubstr("compared without per-sample data"));
  // A new checkpoint is checked against the pruned previous one without failing: not paired,
  // and paired with the baseline, whose predictions stayed.
  TW_ASSERT_OK_AND_ASSIGN(auto summary, RunTransferChecks(*store_, c, options_));
  EXPECT_EQ(summary.references, 1);
  bool noted = false;
  for (const auto& why : summary.not_paired) {
    if (why.find("run/step_2.pt") != std::string::npos &&
        why.find("no per-sample predictions") != std::string::npos) {
      noted = true;
    }
  }
  EXPECT_TRUE(noted) << ::testing::PrintToString(summary.not_paired);
}

TEST_F(GcTest, EmptiedEventsStillKeepARecomputedFlagFromBeingAnnouncedTwice) {
  SeedOldFlags(40);
  ASSERT_FALSE(HasFatalFailure());
  nlohmann::json done = CliJson({"gc", "--per-sample-older-than", "1000d"});
  EXPECT_EQ(Category(done, "per-sample predictions")["rows"], 0);
  EXPECT_EQ(Category(done, "delivered webhook events")["rows"], 1);
  TW_ASSERT_OK_AND_ASSIGN(auto deliveries, store_->ListDeliveries(webhook_, std::nullopt, 100));
  ASSERT_EQ(deliveries.size(), 1u);

  // Recomputing b's checks (as a late reference evaluation would) makes the same event again;
  // its dedup key is still recorded, so nothing is queued.
  TW_ASSERT_OK_AND_ASSIGN(auto summary, RunTransferChecks(*store_, b_, options_));
  EXPECT_EQ(summary.regressions, 1);
  EXPECT_EQ(summary.new_rows, 0);
  TW_ASSERT_OK_AND_ASSIGN(deliveries, store_->ListDeliveries(webhook_, std::nullopt, 100));
  EXPECT_EQ(deliveries.size(), 1u);
}

TEST_F(GcTest, RejectsDurationsItCannotRead) {
  auto result = Cli({"gc", "--per-sample-older-than", "90 days"});
  EXPECT_EQ(result.exit_code, 2) << result.output;
  EXPECT_THAT(result.output, HasSubstr("--per-sample-older-than"));
}

// Sizing (docs/operations.md): one evaluation of 50,000 images, with records shaped like a
// real model's (top-1 right 80% of the time, classes in folder order, a true-class probability
// per image), as PostgreSQL stores them.
TEST_F(GcTest, SizingOfA50000ImageEvaluation) {
  constexpr int kImages = 50000;
  AddDataset("imagenet-val", std::nullopt, kImages);
  CheckedCheckpoint c = AddCheckpoint("sizing", "model.pt", 1);
  std::mt19937 random(7);
  std::uniform_int_distribution<int> cls(0, 999);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f);
  std::vector<scoring::SampleRecord> records(kImages);
  int correct = 0;
  for (int i = 0; i < kImages; ++i) {
    auto label = static_cast<int16_t>(i / 50);
    auto& r = records[i];
    bool right = unit(random) < 0.8f;
    r.top5[0] = right ? label : static_cast<int16_t>(cls(random));
    for (int k = 1; k < 5; ++k) r.top5[k] = static_cast<int16_t>(cls(random));
    r.correct = right;
    r.correct5 = right || unit(random) < 0.5f;
    r.true_prob = right ? 0.5f + unit(random) / 2 : unit(random) / 2;
    correct += right;
  }
  Record(c, "imagenet-val", records, 100.0 * correct / kImages);
  Sql("UPDATE tw.evaluations SET created_at = now() - interval '1 day'");
  nlohmann::json dry = CliJson({"gc", "--dry-run", "--per-sample-older-than", "1h"});
  const auto& predictions = Category(dry, "per-sample predictions");
  ASSERT_EQ(predictions["rows"], 1);
  int64_t bytes = predictions["bytes"].get<int64_t>();
  const int64_t raw = 16 + 16 * int64_t{kImages};
  EXPECT_GT(bytes, raw / 4) << "the true-class probabilities hardly compress";
  EXPECT_LE(bytes, raw + 200);
  std::cout << "[sizing] per-sample predictions of one " << kImages
            << "-image evaluation: " << bytes << " bytes stored (" << raw << " raw, "
            << static_cast<double>(bytes) / kImages << " bytes per image)\n";
  RecordProperty("per_sample_bytes_50000", std::to_string(bytes));

  auto started = std::chrono::steady_clock::now();
  nlohmann::json done = CliJson({"gc", "--per-sample-older-than", "1h"});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  started);
  EXPECT_EQ(Category(done, "per-sample predictions")["bytes"], bytes);
  std::cout << "[sizing] gc of it took " << ms.count() << " ms (CLI start included)\n";
}

}  // namespace
}  // namespace tw
