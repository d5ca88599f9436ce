// The SQL migrations under schemas/sql, compiled into the programs (see embed_sql.cmake).
#pragma once

#include <string_view>
#include <vector>

namespace tw {

struct EmbeddedSqlFile {
  std::string_view name;  // "0001_foundation.sql"
  std::string_view text;
};

// In file-name order (the NNNN prefix).
const std::vector<EmbeddedSqlFile>& EmbeddedMigrationFiles();

}  // namespace tw
