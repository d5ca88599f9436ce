// Internal to store/: the libpqxx seam. Only store/*.cc include this header (and so libpqxx);
// every libpqxx exception is caught by PgCall and becomes a Status here.
#pragma once

#include <exception>
#include <optional>
#include <pqxx/pqxx>
#include <string>
#include <type_traits>
#include <vector>

#include "common/status.h"
#include "store/model.h"
#include "store/pg_store.h"

namespace tw::pg {

// Maps a libpqxx / libpq exception to a Status: lost or refused connections -> Unavailable,
// unique violations -> AlreadyExists, other constraint violations -> FailedPrecondition,
// invalid input syntax and data exceptions -> InvalidArgument, everything else -> Unknown.
// `what` says what we were doing ("importing evaluations").
Status StatusFromException(const std::exception& e, const std::string& what);

// Runs `fn` and converts any exception into a Status. `fn` returns Status or StatusOr<T>.
template <typename Fn>
auto PgCall(const std::string& what, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const std::exception& e) {
    return StatusFromException(e, what);
  }
}

// NULL-able text parameter: pqxx 6.4 sends nullptr as SQL NULL and has no std::optional traits.
inline const char* NullableText(const std::optional<std::string>& value) {
  return value ? value->c_str() : nullptr;
}

// Doubles are sent as text with 17 significant digits, so they round-trip exactly.
std::string DoubleParam(double value);

// A text[] value for a parameter ({"a","b"}, quotes and backslashes escaped), and back.
std::string TextArray(const std::vector<std::string>& items);
std::vector<std::string> ParseTextArray(const pqxx::field& field);

template <typename T>
std::optional<T> OptionalField(const pqxx::field& field) {
  if (field.is_null()) return std::nullopt;
  return field.as<T>();
}

// Microseconds since the epoch, as selected by the SQL expression EpochMicros(column).
#define TW_PG_EPOCH_MICROS(column) "(extract(epoch FROM " column ") * 1000000)::bigint"

TimePoint FromEpochMicros(int64_t micros);

// The other direction: a time bound as a parameter (epoch microseconds, exact) ...
int64_t ToEpochMicros(TimePoint t);
// ... and the SQL that turns that parameter ("$3") back into a timestamptz.
#define TW_PG_TIMESTAMP_FROM_MICROS(param) \
  "('epoch'::timestamptz + " param "::bigint * interval '1 microsecond')"

// Collects WHERE conditions and their bound parameters: only the filters a query uses appear in
// its SQL, so PostgreSQL plans each shape with its indexes (an "$1 IS NULL OR ..." catch-all
// defeats them). Every value from outside is a parameter; the SQL text is ours.
class SqlBuilder {
 public:
  std::string Param(std::string value) {
    params_.push_back(std::move(value));
    return "$" + std::to_string(params_.size());
  }
  void Where(std::string condition) { conditions_.push_back(std::move(condition)); }
  std::string WhereClause() const {
    std::string out;
    for (const auto& c : conditions_) out += (out.empty() ? " WHERE " : " AND ") + c;
    return out;
  }
  pqxx::result Exec(pqxx::transaction_base& tx, const std::string& sql) const {
    return tx.exec_params(sql, pqxx::prepare::make_dynamic_params(params_));
  }

 private:
  std::vector<std::string> params_;
  std::vector<std::string> conditions_;
};

// A checkpoint's display name: RUN/FILE for files, the model's name for imported ones. Needs
// the aliases c (checkpoints) and r (runs, left-joined).
inline constexpr const char* kDisplayNameSql =
    "CASE WHEN c.origin = 'file' THEN r.name || '/' || c.name ELSE c.name END";

// Records an evaluator result, its eval config and predictions inside `tx` (the caller commits):
// shared by RecordEvaluation and JobQueue::CompleteJob. A key recorded already returns the
// existing row's id.
StatusOr<int64_t> RecordEvaluationIn(pqxx::work& tx, const EvaluationRecord& record);

// SELECT ... FROM tw.checkpoints c LEFT JOIN tw.runs r, read back by CheckpointFromRow.
std::string CheckpointSelect();
CheckpointInfo CheckpointFromRow(const pqxx::row& row);

}  // namespace tw::pg

namespace tw {
// The connection behind a PgStore, shared by its implementation files.
struct PgStore::Impl {
  explicit Impl(const std::string& conninfo) : conn(conninfo) {}
  pqxx::connection conn;
};
}  // namespace tw
