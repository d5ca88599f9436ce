// Integration-test support: a fresh database per test on the server scripts/with-postgres
// started (TRANSFERWATCH_TEST_DATABASE_URL). Without that variable the tests FAIL, never skip:
// run them with scripts/test or scripts/with-postgres.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/pg_store.h"

namespace tw::testing {

// The admin conninfo, or "" after recording a test failure that says how to run the tests.
std::string TestDatabaseAdminUrl();

// A uniquely named database, dropped on destruction.
class ScratchDatabase {
 public:
  ScratchDatabase();  // records a gtest failure when it cannot create the database
  ~ScratchDatabase();
  ScratchDatabase(const ScratchDatabase&) = delete;
  ScratchDatabase& operator=(const ScratchDatabase&) = delete;

  bool ok() const { return !conninfo_.empty(); }
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }

 private:
  std::string admin_;
  std::string name_;
  std::string conninfo_;
};

// Fixture: a scratch database and a connected, migrated PgStore per test.
class PgTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<PgStore> store_;
};

}  // namespace tw::testing
