#include <cstdio>

#include "store/pg_internal.h"

namespace tw::pg {

Status StatusFromException(const std::exception& e, const std::string& what) {
  std::string message = what + ": " + e.what();
  // libpq messages end with a newline; keep error lines single-line.
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr) {
    return UnavailableError(std::move(message));
  }
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    std::string klass = state.substr(0, 2);
    if (klass == "08" || klass == "57" || klass == "53") {
      // 08 connection exception, 57 operator intervention (server shutting down),
      // 53 insufficient resources: the server, not the request, is the problem.
      return UnavailableError(std::move(message));
    }
    if (state == "23505") return AlreadyExistsError(std::move(message));
    if (state == "42P01" || state == "3F000") {
      // Undefined table or schema: the database is not (fully) migrated.
      return FailedPreconditionError(message +
                                     " (is the schema migrated? transferwatch db migrate)");
    }
    if (klass == "23") return FailedPreconditionError(std::move(message));
    if (klass == "22" || klass == "42") return InvalidArgumentError(std::move(message));
    if (klass == "40") return UnavailableError(message + " (transaction rolled back; retry)");
    return UnknownError(message + " [SQLSTATE " + state + "]");
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return UnavailableError(message + " (the connection broke during COMMIT: outcome unknown)");
  }
  if (dynamic_cast<const pqxx::conversion_error*>(&e) != nullptr) {
    return InternalError(std::move(message));
  }
  return UnknownError(std::move(message));
}

std::string DoubleParam(double value) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.17g", value);
  return buf;
}

}  // namespace tw::pg
