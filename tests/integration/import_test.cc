// Importing timm's published results into a real PostgreSQL: everything arrives, a second
// import changes nothing, a broken file or a failing row leaves the store as it was.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "importer/timm_import.h"
#include "store/checkpoint_name.h"
#include "tests/testing/paths.h"
#include "tests/testing/pg_test.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using ::tw::testing::ReadTestFile;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

constexpr int kTimmEvaluations = 8 * 1556;
constexpr int kTimmModels = 1267;  // 1,266 per file; resnet50.tv_in1k and resmlp_24_224.fb_dino
                                   // each miss one file

// A copy of the timm folder that a test may break.
std::string CopyTimm(const TempDir& dir) {
  std::string copy = dir.Sub("timm");
  std::filesystem::copy(::tw::testing::TimmResultsDir(), copy);
  for (auto& entry : std::filesystem::directory_iterator(copy)) {
    std::filesystem::permissions(entry.path(), std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
  }
  return copy;
}

// Replaces the first occurrence of `from` in a file.
void EditFile(const std::string& path, const std::string& from, const std::string& to) {
  std::string text = ReadTestFile(path);
  auto pos = text.find(from);
  ASSERT_NE(pos, std::string::npos) << from << " not in " << path;
  text.replace(pos, from.size(), to);
  WriteTestFile(path, text);
}

class ImportTest : public ::tw::testing::PgTest {
 protected:
  StatusOr<ImportResult> Import(const std::string& dir, ImportMode mode = ImportMode::kAddNew) {
    TW_ASSIGN_OR_RETURN(TimmImportPlan plan, ReadTimmResults(dir));
    return store_->ImportEvaluations(plan.batch, mode);
  }
};

TEST_F(ImportTest, ImportsEveryFileWithReferences) {
  TW_ASSERT_OK_AND_ASSIGN(ImportResult result, Import(::tw::testing::TimmResultsDir()));
  EXPECT_EQ(result.evaluations_inserted, kTimmEvaluations);
  EXPECT_EQ(result.models_created, kTimmModels);
  EXPECT_EQ(result.datasets_created, 8);
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts counts, store_->Counts());
  EXPECT_EQ(counts.evaluations, kTimmEvaluations);
  EXPECT_EQ(counts.checkpoints, kTimmModels);

  TW_ASSERT_OK_AND_ASSIGN(auto datasets, store_->ListDatasets());
  std::map<std::string, std::string> references;
  for (const auto& d : datasets) references[d.name] = d.reference.value_or("");
  EXPECT_EQ(references["imagenet"], "");
  EXPECT_EQ(references["imagenet-a"], "imagenet-a-clean");
  EXPECT_EQ(references["imagenet-r"], "imagenet-r-clean");
  for (const char* name : {"imagenet-real", "imagenetv2-matched-frequency", "sketch",
                           "imagenet-a-clean", "imagenet-r-clean"}) {
    EXPECT_EQ(references[name], "imagenet") << name;
  }

  // The quoted thousands separator and the two resolutions of one model.
  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint eva,
                          ResolveCheckpoint(*store_, "eva_giant_patch14_560.m30m_ft_in22k_in1k"));
  ASSERT_TRUE(eva.checkpoint.param_count_m.has_value());
  EXPECT_DOUBLE_EQ(*eva.checkpoint.param_count_m, 1014.45);
  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint resnet,
                          ResolveCheckpoint(*store_, "resnet50.a1_in1k"));
  EXPECT_THAT(resnet.checkpoint.img_sizes, UnorderedElementsAre(224, 288));
  TW_ASSERT_OK_AND_ASSIGN(ResolvedCheckpoint at288,
                          ResolveCheckpoint(*store_, "resnet50.a1_in1k@288"));
  EXPECT_EQ(at288.img_size, 288);
  EXPECT_THAT(ResolveCheckpoint(*store_, "resnet50.a1_in1k@300"),
              StatusIs(StatusCode::kNotFound, HasSubstr("sizes: 224, 288")));
  EXPECT_THAT(ResolveCheckpoint(*store_, "no_such_model"),
              StatusIs(StatusCode::kNotFound, HasSubstr("no checkpoint named")));

  // Provenance names the source file and its hash.
  ResultQuery query;
  query.checkpoint_id = resnet.checkpoint.id;
  query.datasets = {"imagenet"};
  TW_ASSERT_OK_AND_ASSIGN(auto rows, store_->QueryResults(query));
  ASSERT_EQ(rows.size(), 2u);
}

TEST_F(ImportTest, ImportingAgainChangesNothing) {
  TW_ASSERT_OK(Import(::tw::testing::TimmResultsDir()));
  ResultQuery all;
  TW_ASSERT_OK_AND_ASSIGN(auto before, store_->QueryResults(all));
  TW_ASSERT_OK_AND_ASSIGN(ImportResult again, Import(::tw::testing::TimmResultsDir()));
  EXPECT_EQ(again.evaluations_inserted, 0);
  EXPECT_EQ(again.evaluations_updated, 0);
  EXPECT_EQ(again.evaluations_unchanged, kTimmEvaluations);
  EXPECT_EQ(again.models_created, 0);
  EXPECT_EQ(again.datasets_created, 0);
  EXPECT_EQ(again.eval_configs_created, 0);
  TW_ASSERT_OK_AND_ASSIGN(auto after, store_->QueryResults(all));
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(before[i].evaluation_id, after[i].evaluation_id);
    EXPECT_EQ(before[i].top1, after[i].top1);
    EXPECT_EQ(before[i].created_at, after[i].created_at);
  }
}

TEST_F(ImportTest, ABrokenRowFailsWithItsLocationAndImportsNothing) {
  TempDir dir;
  std::string timm = CopyTimm(dir);
  // The last file read: everything before it parsed fine.
  EditFile(timm + "/results-imagenet-r.csv", "90.847", "90.8x7");
  auto plan = ReadTimmResults(timm);
  EXPECT_THAT(plan, StatusIs(StatusCode::kInvalidArgument,
                             HasSubstr("results-imagenet-r.csv:2: column top1: not a number")));
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts counts, store_->Counts());
  EXPECT_EQ(counts.evaluations, 0);
  EXPECT_EQ(counts.datasets, 0);
}

TEST_F(ImportTest, AFailureInsideTheTransactionLeavesTheStoreUnchanged) {
  TW_ASSERT_OK_AND_ASSIGN(TimmImportPlan plan, ReadTimmResults(::tw::testing::TimmResultsDir()));
  // Past the parser's checks, so only the database can refuse it: the last row breaks a CHECK.
  plan.batch.evaluations.back().top1 = 150;
  EXPECT_THAT(store_->ImportEvaluations(plan.batch, ImportMode::kAddNew),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("evaluations_top1_check")));
  TW_ASSERT_OK_AND_ASSIGN(StoreCounts counts, store_->Counts());
  EXPECT_EQ(counts.evaluations, 0);
  EXPECT_EQ(counts.checkpoints, 0);
  EXPECT_EQ(counts.datasets, 0);
  EXPECT_EQ(counts.eval_configs, 0);
}

TEST_F(ImportTest, ChangedNumbersAreRefusedUnlessUpdating) {
  TW_ASSERT_OK(Import(::tw::testing::TimmResultsDir()));
  TempDir dir;
  std::string timm = CopyTimm(dir);
  EditFile(timm + "/results-sketch.csv", "71.717,28.283", "71.718,28.282");
  EXPECT_THAT(Import(timm),
              StatusIs(StatusCode::kFailedPrecondition,
                       AllOf(HasSubstr("results-sketch.csv:2: "
                                       "vit_so400m_patch14_siglip_gap_378.webli_ft_in1k on sketch"),
                             HasSubstr("71.717"), HasSubstr("71.718"), HasSubstr("--update"))));
  TW_ASSERT_OK_AND_ASSIGN(ImportResult updated, Import(timm, ImportMode::kUpdateChanged));
  EXPECT_EQ(updated.evaluations_updated, 1);
  EXPECT_EQ(updated.evaluations_inserted, 0);
  ResultQuery query;
  query.datasets = {"sketch"};
  query.sort_metric = "top1";
  query.limit = 1;
  TW_ASSERT_OK_AND_ASSIGN(auto best, store_->QueryResults(query));
  ASSERT_EQ(best.size(), 1u);
  EXPECT_DOUBLE_EQ(best[0].top1, 71.718);
}

TEST_F(ImportTest, OnlyTheVariantFileStillRegistersItsReference) {
  TempDir dir;
  std::filesystem::create_directory(dir.Sub("only-a"));
  std::filesystem::copy(std::string(::tw::testing::TimmResultsDir()) + "/results-imagenet-a.csv",
                        dir.Sub("only-a"));
  TW_ASSERT_OK_AND_ASSIGN(ImportResult result, Import(dir.Sub("only-a")));
  EXPECT_EQ(result.evaluations_inserted, 1556);
  TW_ASSERT_OK_AND_ASSIGN(DatasetInfo a, store_->GetDataset("imagenet-a"));
  EXPECT_EQ(a.reference, "imagenet-a-clean");
  TW_ASSERT_OK_AND_ASSIGN(DatasetInfo clean, store_->GetDataset("imagenet-a-clean"));
  EXPECT_EQ(clean.evaluations, 0);
  EXPECT_EQ(clean.reference, "imagenet");
  TW_ASSERT_OK(store_->GetDataset("imagenet"));
}

TEST_F(ImportTest, AFolderWithoutResultsIsNotFound) {
  TempDir dir;
  EXPECT_THAT(ReadTimmResults(dir.path()),
              StatusIs(StatusCode::kNotFound, HasSubstr("results-imagenet.csv")));
  EXPECT_THAT(ReadTimmResults(dir.Sub("missing")),
              StatusIs(StatusCode::kNotFound, HasSubstr("missing")));
}

TEST_F(ImportTest, ResultQueriesFilterSortAndLimit) {
  TW_ASSERT_OK(Import(::tw::testing::TimmResultsDir()));

  ResultQuery best_r;
  best_r.datasets = {"imagenet-r"};
  best_r.sort_metric = "top1";
  best_r.limit = 3;
  TW_ASSERT_OK_AND_ASSIGN(auto rows, store_->QueryResults(best_r));
  ASSERT_EQ(rows.size(), 3u);
  // The first rows of results-imagenet-r.csv, which timm sorts by top-1.
  EXPECT_EQ(rows[0].checkpoint, "vit_so400m_patch14_siglip_378.webli_ft_in1k");
  EXPECT_DOUBLE_EQ(rows[0].top1, 90.847);
  EXPECT_EQ(rows[0].img_size, 378);
  EXPECT_EQ(rows[1].checkpoint, "convnext_xxlarge.clip_laion2b_soup_ft_in1k");
  EXPECT_GE(rows[0].top1, rows[1].top1);

  best_r.order = SortOrder::kWorstFirst;
  TW_ASSERT_OK_AND_ASSIGN(auto worst, store_->QueryResults(best_r));
  ASSERT_EQ(worst.size(), 3u);
  EXPECT_LE(worst[0].top1, worst[1].top1);

  ResultQuery by_glob;
  by_glob.model_glob = "resnet50.a1_*";
  TW_ASSERT_OK_AND_ASSIGN(auto resnets, store_->QueryResults(by_glob));
  EXPECT_EQ(resnets.size(), 2u * 8u);  // resnet50.a1_in1k at two sizes on 8 datasets
  for (const auto& r : resnets) EXPECT_EQ(r.checkpoint, "resnet50.a1_in1k");

  ResultQuery two_datasets;
  two_datasets.datasets = {"imagenet", "sketch"};
  TW_ASSERT_OK_AND_ASSIGN(auto both, store_->QueryResults(two_datasets));
  EXPECT_EQ(both.size(), 2u * 1556u);

  ResultQuery future;
  future.since = std::chrono::system_clock::now() + std::chrono::hours(1);
  TW_ASSERT_OK_AND_ASSIGN(auto none, store_->QueryResults(future));
  EXPECT_TRUE(none.empty());
  ResultQuery recent;
  recent.since = std::chrono::system_clock::now() - std::chrono::hours(1);
  recent.limit = 10;
  TW_ASSERT_OK_AND_ASSIGN(auto ten, store_->QueryResults(recent));
  EXPECT_EQ(ten.size(), 10u);

  ResultQuery imported_have_no_run;
  imported_have_no_run.run_glob = "*";
  TW_ASSERT_OK_AND_ASSIGN(auto no_runs, store_->QueryResults(imported_have_no_run));
  EXPECT_TRUE(no_runs.empty());

  ResultQuery by_missing_metric;
  by_missing_metric.sort_metric = "nll";
  by_missing_metric.limit = 5;
  TW_ASSERT_OK_AND_ASSIGN(auto unsorted, store_->QueryResults(by_missing_metric));
  EXPECT_EQ(unsorted.size(), 5u);
  EXPECT_FALSE(unsorted[0].sort_value.has_value());

  ResultQuery bad_metric;
  bad_metric.sort_metric = "top1; DROP TABLE tw.runs";
  EXPECT_THAT(store_->QueryResults(bad_metric),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("invalid metric name")));
  ResultQuery bad_glob;
  bad_glob.model_glob = "resnet[";
  EXPECT_THAT(store_->QueryResults(bad_glob),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("resnet[")));
  ResultQuery unknown;
  unknown.datasets = {"imagenet-z"};
  EXPECT_THAT(store_->QueryResults(unknown),
              StatusIs(StatusCode::kNotFound, HasSubstr("imagenet-z")));
}

}  // namespace
}  // namespace tw
