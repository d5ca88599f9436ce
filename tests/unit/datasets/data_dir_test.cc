// Where programs find the shipped data: an installed program must use the data installed beside
// it (a package's prefix need not be the one the tree was configured with) and never the source
// tree, which exists only for programs run from their build tree.
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "datasets/presets.h"
#include "tests/testing/temp_dir.h"

namespace tw::datasets {
namespace {

class DataDirTest : public ::testing::Test {
 protected:
  void InstallDataUnder(const std::string& prefix) {
    ASSERT_TRUE(MakeDirs(prefix + "/bin").ok());
    ASSERT_TRUE(MakeDirs(prefix + "/share/transferwatch/imagenet").ok());
    testing::WriteTestFile(prefix + "/share/transferwatch/imagenet/imagenet_synsets.txt",
                           "n01440764\n");
  }

  testing::TempDir dir_;
  const std::string source_data_ = "/src/transferwatch/data";
  const std::string installed_ = "/usr/local/share/transferwatch";
};

TEST_F(DataDirTest, AnInstalledProgramUsesTheDataBesideIt) {
  InstallDataUnder(dir_.Sub("usr"));
  EXPECT_EQ(ChooseDataDir(dir_.Sub("usr/bin"), dir_.Sub("build"), source_data_, installed_),
            dir_.Sub("usr/share/transferwatch"));
}

TEST_F(DataDirTest, TheBesideFolderNeedsTheClassList) {
  // An empty share folder (a half-removed package) is no data folder.
  ASSERT_TRUE(MakeDirs(dir_.Sub("usr/share/transferwatch/imagenet")).ok());
  EXPECT_EQ(ChooseDataDir(dir_.Sub("usr/bin"), dir_.Sub("build"), source_data_, installed_),
            installed_);
}

TEST_F(DataDirTest, AProgramInItsBuildTreeUsesTheSourceTree) {
  EXPECT_EQ(ChooseDataDir(dir_.Sub("build/bin"), dir_.Sub("build"), source_data_, installed_),
            source_data_);
  // A sibling whose name merely starts with the build folder's is outside it.
  EXPECT_EQ(ChooseDataDir(dir_.Sub("build-other/bin"), dir_.Sub("build"), source_data_, installed_),
            installed_);
}

TEST_F(DataDirTest, AProgramElsewhereNeverFallsBackToTheSourceTree) {
  // Installed without its data: the configured folder is named (and reported missing there).
  EXPECT_EQ(ChooseDataDir(dir_.Sub("opt/bin"), dir_.Sub("build"), source_data_, installed_),
            installed_);
  EXPECT_EQ(ChooseDataDir("", dir_.Sub("build"), source_data_, installed_), installed_);
}

TEST_F(DataDirTest, ThisTestRunsFromTheBuildTreeAndGetsTheSourceData) {
  unsetenv("TRANSFERWATCH_DATA_DIR");
  EXPECT_TRUE(PathExists(DataDir() + "/imagenet/imagenet_synsets.txt")) << DataDir();
  EXPECT_EQ(DataDir(), TW_DATA_DIR);
}

}  // namespace
}  // namespace tw::datasets
