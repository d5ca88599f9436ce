// The store's pure parts: checkpoint names, migration bookkeeping, metric names, conninfo
// handling. No database.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/file_util.h"
#include "store/checkpoint_name.h"
#include "store/embedded_cluster.h"
#include "store/metric_names.h"
#include "store/migrations.h"
#include "store/open_store.h"
#include "store/pg_admin.h"
#include "store/pg_store.h"
#include "tests/testing/status_matchers.h"

namespace tw {
namespace {

using ::testing::HasSubstr;
using ::tw::testing::StatusIs;

TEST(CheckpointNameTest, AHexNameIsAHashPrefixFirstThenAModel) {
  TW_ASSERT_OK_AND_ASSIGN(auto selectors, ParseCheckpointName("3f2a9c01"));
  ASSERT_EQ(selectors.size(), 2u);
  EXPECT_EQ(selectors[0].sha256_prefix, "3f2a9c01");
  EXPECT_EQ(selectors[1].model, "3f2a9c01");
}

TEST(CheckpointNameTest, ShortHexIsOnlyAModelNameAndUppercaseHexIsLowered) {
  TW_ASSERT_OK_AND_ASSIGN(auto short_hex, ParseCheckpointName("3f2a9c0"));
  ASSERT_EQ(short_hex.size(), 1u);
  EXPECT_EQ(short_hex[0].model, "3f2a9c0");
  TW_ASSERT_OK_AND_ASSIGN(auto upper, ParseCheckpointName("3F2A9C01"));
  ASSERT_EQ(upper.size(), 2u);
  EXPECT_EQ(upper[0].sha256_prefix, "3f2a9c01");
  EXPECT_EQ(upper[1].model, "3F2A9C01");
}

TEST(CheckpointNameTest, RunSlashFile) {
  TW_ASSERT_OK_AND_ASSIGN(auto selectors, ParseCheckpointName("baseline/epoch_010.pt"));
  ASSERT_EQ(selectors.size(), 1u);
  EXPECT_EQ(selectors[0].run, "baseline");
  EXPECT_EQ(selectors[0].file, "epoch_010.pt");
  EXPECT_THAT(ParseCheckpointName("/epoch.pt"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("RUN/FILE")));
  EXPECT_THAT(ParseCheckpointName("run/"),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("RUN/FILE")));
}

TEST(CheckpointNameTest, ModelAtImageSize) {
  TW_ASSERT_OK_AND_ASSIGN(auto selectors, ParseCheckpointName("resnet50.a1_in1k@288"));
  ASSERT_EQ(selectors.size(), 1u);
  EXPECT_EQ(selectors[0].model, "resnet50.a1_in1k");
  EXPECT_EQ(selectors[0].img_size, 288);
  for (const char* bad : {"resnet50@", "resnet50@0", "resnet50@-3", "resnet50@2x", "@224"}) {
    EXPECT_THAT(ParseCheckpointName(bad),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("MODEL@IMG_SIZE")))
        << bad;
  }
}

TEST(CheckpointNameTest, RejectsEmptyControlCharactersAndHugeNames) {
  EXPECT_THAT(ParseCheckpointName(""), StatusIs(StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ParseCheckpointName(std::string("a\0b", 3)),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("control character")));
  EXPECT_THAT(ParseCheckpointName(std::string(2000, 'a')),
              StatusIs(StatusCode::kInvalidArgument, HasSubstr("longer than")));
}

std::vector<Migration> Known() {
  auto known = MigrationsFromFiles(
      {{"0001_first.sql", "CREATE TABLE a ();"}, {"0002_second.sql", "CREATE TABLE b ();"}});
  EXPECT_TRUE(known.ok());
  return *known;
}

TEST(PendingMigrationsTest, ListsWhatIsNotApplied) {
  auto known = Known();
  AppliedMigration first{1, known[0].name, known[0].checksum, {}};
  TW_ASSERT_OK_AND_ASSIGN(auto pending, PendingMigrations(known, {first}));
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].name, "0002_second.sql");
  TW_ASSERT_OK_AND_ASSIGN(auto all, PendingMigrations(known, {}));
  EXPECT_EQ(all.size(), 2u);
}

TEST(PendingMigrationsTest, EditedAndUnknownMigrationsAreRefused) {
  auto known = Known();
  AppliedMigration edited{1, known[0].name, std::string(64, '0'), {}};
  EXPECT_THAT(PendingMigrations(known, {edited}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("0001_first.sql was edited")));
  AppliedMigration future{3, "0003_future.sql", std::string(64, '1'), {}};
  EXPECT_THAT(PendingMigrations(known, {future}),
              StatusIs(StatusCode::kFailedPrecondition, HasSubstr("upgrade TransferWatch")));
}

TEST(EmbeddedMigrationsTest, AreWellFormed) {
  TW_ASSERT_OK_AND_ASSIGN(auto known, EmbeddedMigrations());
  ASSERT_FALSE(known.empty());
  EXPECT_EQ(known[0].name, "0001_foundation.sql");
  EXPECT_EQ(known[0].checksum.size(), 64u);
}

TEST(MetricNamesTest, ValidatesAndKnowsWhichWayIsBetter) {
  TW_EXPECT_OK(ValidateMetricName("top1"));
  TW_EXPECT_OK(ValidateMetricName("ece_15"));
  const std::string too_long(65, 'a');
  for (const std::string bad : {"", "Top1", "1top", "top-1", "nll; DROP", too_long.c_str()}) {
    EXPECT_THAT(ValidateMetricName(bad),
                StatusIs(StatusCode::kInvalidArgument, HasSubstr("metric")))
        << bad;
  }
  EXPECT_TRUE(LowerIsBetter("nll"));
  EXPECT_TRUE(LowerIsBetter("ece"));
  EXPECT_TRUE(LowerIsBetter("top1_err"));
  EXPECT_TRUE(LowerIsBetter("val_loss"));
  EXPECT_FALSE(LowerIsBetter("top1"));
  EXPECT_FALSE(LowerIsBetter("top5"));
}

TEST(ConninfoTest, PasswordsAreRedacted) {
  EXPECT_EQ(RedactConninfo("postgresql://alice:s3cret@db.example:5432/tw"),
            "postgresql://alice:***@db.example:5432/tw");
  EXPECT_EQ(RedactConninfo("host=db password=s3cret dbname=tw"), "host=db password=*** dbname=tw");
  EXPECT_EQ(RedactConninfo("host=db password = 'a b' user=x"), "host=db password = *** user=x");
  EXPECT_EQ(RedactConninfo("postgresql://db/tw?user=a&password=s3cret&sslmode=require"),
            "postgresql://db/tw?user=a&password=***&sslmode=require");
  EXPECT_EQ(RedactConninfo("postgresql://alice@db/tw"), "postgresql://alice@db/tw");
}

TEST(ConninfoTest, ConnectTimeoutIsAddedOnce) {
  EXPECT_EQ(WithConnectTimeout("host=db dbname=tw"), "host=db dbname=tw connect_timeout=10");
  EXPECT_EQ(WithKeepalives("host=db"),
            "host=db keepalives=1 keepalives_idle=30 keepalives_interval=10 keepalives_count=3");
  EXPECT_EQ(WithKeepalives("postgresql://db/tw?keepalives_idle=5"),
            "postgresql://db/tw?keepalives_idle=5&keepalives=1&keepalives_interval=10&"
            "keepalives_count=3");
  EXPECT_EQ(WithConnectTimeout("postgresql://db/tw"), "postgresql://db/tw?connect_timeout=10");
  EXPECT_EQ(WithConnectTimeout("postgresql://db/tw?sslmode=require"),
            "postgresql://db/tw?sslmode=require&connect_timeout=10");
  EXPECT_EQ(WithConnectTimeout("host=db connect_timeout=3"), "host=db connect_timeout=3");
}

TEST(ConninfoTest, DatabaseOverride) {
  EXPECT_EQ(ConninfoForDatabase("host=/tmp/x port=5 dbname=postgres", "t1"),
            "host=/tmp/x port=5 dbname=postgres dbname=t1");
  EXPECT_EQ(ConninfoForDatabase("postgresql:///postgres?host=/tmp/x", "t1"),
            "postgresql:///postgres?host=/tmp/x&dbname=t1");
  EXPECT_EQ(ConninfoQuote("/tmp/it's here"), "'/tmp/it\\'s here'");
}

TEST(StateDirTest, DefaultsFollowXdgAndRoot) {
  auto env = [](std::map<std::string, std::string> vars) {
    return [vars](const char* name) -> std::optional<std::string> {
      auto it = vars.find(name);
      if (it == vars.end()) return std::nullopt;
      return it->second;
    };
  };
  EXPECT_EQ(DefaultStateDir(env({{"HOME", "/home/ada"}}), false),
            "/home/ada/.local/share/transferwatch");
  EXPECT_EQ(DefaultStateDir(env({{"HOME", "/home/ada"}, {"XDG_DATA_HOME", "/data"}}), false),
            "/data/transferwatch");
  EXPECT_EQ(DefaultStateDir(env({{"XDG_DATA_HOME", "relative"}, {"HOME", "/h"}}), false),
            "/h/.local/share/transferwatch");
  EXPECT_EQ(DefaultStateDir(env({{"HOME", "/root"}}), true), "/var/lib/transferwatch");
}

TEST(PathPrefixesTest, ListsEveryDirectoryOnTheWay) {
  EXPECT_EQ(PathPrefixes("/a/b/c"), (std::vector<std::string>{"/a", "/a/b", "/a/b/c"}));
  EXPECT_EQ(PathPrefixes("/a//b/"), (std::vector<std::string>{"/a", "/a//b"}));
  EXPECT_EQ(PathPrefixes("/"), (std::vector<std::string>{}));
}

}  // namespace
}  // namespace tw
