// The timm reader on small hand-written files: timm's quirks are accepted, every kind of bad
// row fails with file:line and a reason.
#include "importer/timm_import.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;
using ::tw::testing::TempDir;
using ::tw::testing::WriteTestFile;

constexpr const char* kReferenceHeader =
    "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation\n";
constexpr const char* kVariantHeader =
    "model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation,top1_diff,"
    "top5_diff,rank_diff\n";

class TimmReaderTest : public ::testing::Test {
 protected:
  void Reference(const std::string& rows) {
    WriteTestFile(dir_.Sub("results-imagenet.csv"), kReferenceHeader + rows);
  }
  void Sketch(const std::string& rows) {
    WriteTestFile(dir_.Sub("results-sketch.csv"), kVariantHeader + rows);
  }
  StatusOr<TimmImportPlan> Read() { return ReadTimmResults(dir_.path()); }
  TempDir dir_;
};

TEST_F(TimmReaderTest, AcceptsTimmsQuirks) {
  Reference(
      "eva_giant,560,89.790,10.210,98.990,1.010,\"1,014.45\",1.000,bicubic\n"
      "resnet50.a1_in1k,288,81.240,18.760,95.112,4.888,25.56,1.000,bicubic\n"
      "resnet50.a1_in1k,224,80.382,19.618,94.598,5.402,25.56,0.950,bicubic\n"
      "only_in_reference,224,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n");
  Sketch(
      "eva_giant,560,70.668,29.332,89.835,10.165,\"1,014.45\",1.000,bicubic,-19.122,-9.155,+1\n"
      "resnet50.a1_in1k,288,28.189,71.811,44.919,55.081,25.56,1.000,bicubic,-53.051,-50.193,-1\n"
      "resnet50.a1_in1k,224,27.000,73.000,44.000,56.000,25.56,0.950,bicubic,,,\n");
  TW_ASSERT_OK_AND_ASSIGN(TimmImportPlan plan, Read());
  EXPECT_EQ(plan.files.size(), 2u);
  EXPECT_EQ(plan.batch.evaluations.size(), 7u);
  EXPECT_EQ(plan.batch.models.size(), 3u);
  // Two resolutions, two crops: three distinct eval configs (eva 560, resnet 288, resnet 224,
  // only_in_reference 224 with another crop) -> four.
  EXPECT_EQ(plan.batch.eval_configs.size(), 4u);
  EXPECT_THAT(plan.batch.models[0].metadata_json, HasSubstr("\"param_count_m\":1014.45"));
  ASSERT_EQ(plan.batch.datasets.size(), 2u);
  EXPECT_EQ(plan.batch.datasets[1].name, "sketch");
  EXPECT_EQ(plan.batch.datasets[1].reference, "imagenet");
  EXPECT_THAT(plan.batch.evaluations[0].provenance_json, HasSubstr("\"file_sha256\":"));
  EXPECT_EQ(plan.batch.evaluations[0].location, dir_.Sub("results-imagenet.csv") + ":2");
  // The same evaluation read twice gets the same key; different datasets do not collide.
  EXPECT_NE(plan.batch.evaluations[0].evaluation_key, plan.batch.evaluations[4].evaluation_key);
  TW_ASSERT_OK_AND_ASSIGN(TimmImportPlan again, Read());
  EXPECT_EQ(again.batch.evaluations[0].evaluation_key, plan.batch.evaluations[0].evaluation_key);
}

TEST_F(TimmReaderTest, AVariantAloneBringsItsReferenceDataset) {
  WriteTestFile(dir_.Sub("results-imagenet-a.csv"),
                std::string(kVariantHeader) +
                    "m,224,10.000,90.000,30.000,70.000,1.00,0.875,bicubic,-70.0,-60.0,0\n");
  TW_ASSERT_OK_AND_ASSIGN(TimmImportPlan plan, Read());
  ASSERT_EQ(plan.batch.datasets.size(), 3u);
  EXPECT_EQ(plan.batch.datasets[0].name, "imagenet");
  EXPECT_EQ(plan.batch.datasets[1].name, "imagenet-a-clean");
  EXPECT_EQ(plan.batch.datasets[1].reference, "imagenet");
  EXPECT_EQ(plan.batch.datasets[2].reference, "imagenet-a-clean");
}

TEST_F(TimmReaderTest, UnknownFilesAndColumnsAreReported) {
  Reference("m,224,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n");
  WriteTestFile(dir_.Sub("results-imagenet-x.csv"), "whatever\n");
  TW_ASSERT_OK_AND_ASSIGN(TimmImportPlan plan, Read());
  ASSERT_EQ(plan.warnings.size(), 1u);
  EXPECT_THAT(plan.warnings[0], HasSubstr("skipped results-imagenet-x.csv"));
}

struct BadRow {
  const char* name;  // the test's name
  const char* row;
  const char* message;
};

class TimmBadRowTest : public TimmReaderTest, public ::testing::WithParamInterface<BadRow> {};

TEST_P(TimmBadRowTest, FailsWithFileLineAndReason) {
  Reference(std::string("fine,224,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n") +
            GetParam().row);
  EXPECT_THAT(Read(),
              StatusIs(StatusCode::kInvalidArgument,
                       HasSubstr("results-imagenet.csv:3: " + std::string(GetParam().message))));
}

INSTANTIATE_TEST_SUITE_P(
    Rows, TimmBadRowTest,
    ::testing::Values(
        BadRow{"TooFewFields", "m,224,70.000,30.000,90.000,10.000,5.00,0.875\n",
               "expected 9 fields like the header, found 8"},
        BadRow{"Top1NotANumber", "m,224,70.0x0,30.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column top1: not a number"},
        BadRow{"Top1NotAPercentage", "m,224,170.000,-70.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column top1: \"170.000\" is not a percentage"},
        BadRow{"Top5BelowTop1", "m,224,70.000,30.000,60.000,40.000,5.00,0.875,bilinear\n",
               "column top5: top-5 accuracy is below top-1"},
        BadRow{"Top1ErrInconsistent", "m,224,70.000,31.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column top1_err: 31.000 does not complement"},
        BadRow{"ZeroImageSize", "m,0,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column img_size: \"0\" is not an image size"},
        BadRow{"MalformedThousands",
               "m,224,70.000,30.000,90.000,10.000,\"1,01.5\",0.875,bilinear\n",
               "column param_count"},
        BadRow{"ZeroCrop", "m,224,70.000,30.000,90.000,10.000,5.00,0,bilinear\n",
               "column crop_pct: \"0\" is not a crop fraction"},
        BadRow{"UnknownInterpolation", "m,224,70.000,30.000,90.000,10.000,5.00,0.875,magic\n",
               "column interpolation: \"magic\" is not one of"},
        BadRow{"SpaceInModelName", "bad name,224,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column model: \"bad name\" is not a model name"},
        BadRow{"AtInModelName", "m@2,224,70.000,30.000,90.000,10.000,5.00,0.875,bilinear\n",
               "column model"},
        BadRow{"DuplicateEntry", "fine,224,71.000,29.000,90.000,10.000,5.00,0.875,bilinear\n",
               "fine at img_size 224 appears twice (first at line 2)"},
        BadRow{"ConflictingParamCount",
               "fine,288,71.000,29.000,90.000,10.000,6.00,0.875,bilinear\n",
               "column param_count: 6.00 differs from the value at"},
        BadRow{"UnterminatedQuote", "m,224,\"70.000,30.000,90.000\n",
               "unterminated quoted field"}));

TEST_F(TimmReaderTest, AMissingColumnIsNamed) {
  WriteTestFile(dir_.Sub("results-imagenet.csv"), "model,img_size,top1\nm,224,70\n");
  EXPECT_THAT(Read(), StatusIs(StatusCode::kInvalidArgument,
                               HasSubstr("results-imagenet.csv:1: missing column \"top5\"")));
}

}  // namespace
}  // namespace tw
