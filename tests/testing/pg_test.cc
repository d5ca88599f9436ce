#include "tests/testing/pg_test.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <random>

#include "store/migrations.h"
#include "store/pg_admin.h"

namespace tw::testing {

std::string TestDatabaseAdminUrl() {
  const char* url = std::getenv("TRANSFERWATCH_TEST_DATABASE_URL");
  if (url == nullptr || *url == '\0') {
    ADD_FAILURE() << "TRANSFERWATCH_TEST_DATABASE_URL is not set: integration tests need a real "
                     "PostgreSQL. Run them with scripts/test, or scripts/with-postgres ctest ...";
    return "";
  }
  return url;
}

ScratchDatabase::ScratchDatabase() : admin_(TestDatabaseAdminUrl()) {
  if (admin_.empty()) return;
  static std::atomic<int> counter{0};
  std::random_device random;
  name_ = "tw_t_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
          std::to_string(random() % 1000000);
  Status status = CreateDatabase(admin_, name_);
  if (!status.ok()) {
    ADD_FAILURE() << status.ToString();
    return;
  }
  conninfo_ = ConninfoForDatabase(admin_, name_);
}

ScratchDatabase::~ScratchDatabase() {
  if (conninfo_.empty()) return;
  Status status = DropDatabase(admin_, name_);
  if (!status.ok()) ADD_FAILURE() << status.ToString();
}

void PgTest::SetUp() {
  db_ = std::make_unique<ScratchDatabase>();
  ASSERT_TRUE(db_->ok());
  auto store = PgStore::Connect(db_->conninfo());
  ASSERT_TRUE(store.ok()) << store.status().ToString();
  store_ = std::move(*store);
  auto known = EmbeddedMigrations();
  ASSERT_TRUE(known.ok()) << known.status().ToString();
  auto applied = store_->Migrate(*known, false);
  ASSERT_TRUE(applied.ok()) << applied.status().ToString();
}

void PgTest::TearDown() {
  store_.reset();
  db_.reset();
}

}  // namespace tw::testing
