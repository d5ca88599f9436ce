// Creating and dropping whole databases: what test harnesses and `bench/` need from a server
// they own. Not used by the programs.
#pragma once

#include <string>

#include "common/status.h"

namespace tw {

// `name` must match [a-z][a-z0-9_]{0,62}. AlreadyExists when it exists.
Status CreateDatabase(const std::string& admin_conninfo, const std::string& name);
// Drops it, disconnecting its sessions (PostgreSQL 13+). OK when it does not exist.
Status DropDatabase(const std::string& admin_conninfo, const std::string& name);
// The conninfo of database `name` on the server `admin_conninfo` points at.
std::string ConninfoForDatabase(const std::string& admin_conninfo, const std::string& name);
// Runs SQL statements (no results) in one transaction: bench data generation, test fixtures.
Status ExecuteSql(const std::string& conninfo, const std::string& sql);

}  // namespace tw
