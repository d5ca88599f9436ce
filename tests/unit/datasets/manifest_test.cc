// Manifests read back from the database are validated before any path is joined to a folder.
#include "datasets/manifest.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/testing/status_matchers.h"

namespace tw::datasets {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

Manifest Sample() {
  Manifest m;
  m.protocol.model_classes = 3;
  m.classes = {"a", "b", "c"};
  m.files = {{"a/1.jpg", std::string(64, '1'), 10, {0}, "", 0},
             {"b/2.jpg", std::string(64, '2'), 20, {1}, "", 0}};
  return m;
}

TEST(ManifestTest, RoundTripsAndHashesStably) {
  TW_ASSERT_OK_AND_ASSIGN(std::string text, ManifestToCanonicalJson(Sample()));
  TW_ASSERT_OK_AND_ASSIGN(Manifest back, ManifestFromJson(text, "m"));
  EXPECT_EQ(back.files.size(), 2u);
  EXPECT_EQ(back.files[1].labels, std::vector<int>{1});
  EXPECT_EQ(*ManifestSha256(back), *ManifestSha256(Sample()));
  // The files digest ignores labels and protocol: same images, same digest.
  Manifest relabelled = Sample();
  relabelled.files[0].labels = {2};
  relabelled.protocol.subset = {0, 1, 2};
  EXPECT_EQ(FilesDigest(relabelled), FilesDigest(Sample()));
  EXPECT_NE(*ManifestSha256(relabelled), *ManifestSha256(Sample()));
}

TEST(ManifestTest, PathsMustBeSafeAndRelative) {
  for (const char* bad : {"", "/etc/passwd", "../x.jpg", "a/../../x.jpg", "a/./b.jpg", "a//b.jpg",
                          "a\\b.jpg", "a/", "."}) {
    EXPECT_FALSE(IsSafeRelativePath(bad)) << bad;
  }
  EXPECT_FALSE(IsSafeRelativePath(std::string("a\0b.jpg", 7)));
  for (const char* good :
       {"a.jpg", "n01440764/ILSVRC2012_val_00000293.JPEG", "x/y/z.png", "..hidden/a.png"}) {
    EXPECT_TRUE(IsSafeRelativePath(good)) << good;
  }
}

TEST(ManifestTest, RefusesWhatIsMalformed) {
  std::string good = *ManifestToCanonicalJson(Sample());
  struct Case {
    const char* what;
    std::function<void(nlohmann::json&)> edit;
    const char* message;
  } cases[] = {
      {"traversal", [](auto& d) { d["files"][0]["path"] = "../../etc/passwd"; },
       "not a safe relative path"},
      {"absolute", [](auto& d) { d["files"][0]["path"] = "/etc/passwd"; }, "not a safe"},
      {"unsorted", [](auto& d) { std::swap(d["files"][0], d["files"][1]); }, "not sorted"},
      {"repeated", [](auto& d) { d["files"][1]["path"] = d["files"][0]["path"]; }, "not sorted"},
      {"label out of range", [](auto& d) { d["files"][0]["labels"] = {3}; }, "label out of range"},
      {"two labels",
       [](auto& d) {
         d["files"][0]["labels"] = {0, 1};
       },
       "exactly one label"},
      {"bad hash", [](auto& d) { d["files"][0]["sha256"] = "zz"; }, "is not a SHA-256"},
      {"subset out of range",
       [](auto& d) {
         d["protocol"]["subset"] = {0, 7};
       },
       "subset"},
      {"no version", [](auto& d) { d.erase("manifest_version"); }, "manifest_version"},
      {"bad layout", [](auto& d) { d["layout"] = "zip"; }, "invalid layout"},
  };
  for (const auto& c : cases) {
    nlohmann::json doc = nlohmann::json::parse(good);
    c.edit(doc);
    EXPECT_THAT(ManifestFromJson(doc.dump(), "m"),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr(c.message)))
        << c.what;
    // Every error names the manifest (found by fuzz/dataset_manifest_fuzzer.cc: a bad layout
    // did not).
    EXPECT_THAT(ManifestFromJson(doc.dump(), "stored.json").status().message(),
                ::testing::StartsWith("stored.json: "))
        << c.what;
  }
}

}  // namespace
}  // namespace tw::datasets
