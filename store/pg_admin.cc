#include "store/pg_admin.h"

#include <regex>

#include "store/pg_internal.h"

namespace tw {
namespace {

Status ValidateName(const std::string& name) {
  static const std::regex kName("^[a-z][a-z0-9_]{0,62}$");
  if (!std::regex_match(name, kName)) {
    return InvalidArgumentError("invalid database name \"" + name + "\"");
  }
  return OkStatus();
}

}  // namespace

std::string ConninfoForDatabase(const std::string& admin_conninfo, const std::string& name) {
  bool uri =
      admin_conninfo.rfind("postgresql://", 0) == 0 || admin_conninfo.rfind("postgres://", 0) == 0;
  if (uri) {
    // A dbname query parameter overrides the path's database.
    return admin_conninfo + (admin_conninfo.find('?') == std::string::npos ? "?" : "&") +
           "dbname=" + name;
  }
  // In a key=value conninfo the last occurrence of a keyword wins.
  return admin_conninfo + " dbname=" + name;
}

Status CreateDatabase(const std::string& admin_conninfo, const std::string& name) {
  TW_RETURN_IF_ERROR(ValidateName(name));
  return pg::PgCall("creating database " + name, [&] {
    pqxx::connection conn(admin_conninfo);
    pqxx::nontransaction tx(conn);
    tx.exec0("CREATE DATABASE " + tx.quote_name(name));
    return OkStatus();
  });
}

Status DropDatabase(const std::string& admin_conninfo, const std::string& name) {
  TW_RETURN_IF_ERROR(ValidateName(name));
  return pg::PgCall("dropping database " + name, [&] {
    pqxx::connection conn(admin_conninfo);
    pqxx::nontransaction tx(conn);
    tx.exec0("DROP DATABASE IF EXISTS " + tx.quote_name(name) + " WITH (FORCE)");
    return OkStatus();
  });
}

Status ExecuteSql(const std::string& conninfo, const std::string& sql) {
  return pg::PgCall("executing SQL", [&] {
    pqxx::connection conn(conninfo);
    pqxx::work tx(conn);
    tx.exec(sql);
    tx.commit();
    return OkStatus();
  });
}

}  // namespace tw
