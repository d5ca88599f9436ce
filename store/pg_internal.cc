#include "store/pg_internal.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace tw::pg {

Status StatusFromException(const std::exception& e, const std::string& what) {
  std::string message = what + ": " + e.what();
  // libpq messages end with a newline; keep error lines single-line.
  while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
  // libpqxx 6.4 throws several conditions as their own types, some of them not sql_error and
  // some with an empty sqlstate(), so the type decides first and the SQLSTATE only after.
  if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr) {
    // Serialization failure, deadlock: the transaction was rolled back and may be retried.
    return UnavailableError(message + " (transaction rolled back; retry)");
  }
  if (dynamic_cast<const pqxx::in_doubt_error*>(&e) != nullptr) {
    return UnavailableError(message + " (the connection broke during COMMIT: outcome unknown)");
  }
  if (dynamic_cast<const pqxx::broken_connection*>(&e) != nullptr ||
      dynamic_cast<const pqxx::insufficient_resources*>(&e) != nullptr) {
    return UnavailableError(std::move(message));
  }
  if (dynamic_cast<const pqxx::insufficient_privilege*>(&e) != nullptr) {
    return PermissionDeniedError(std::move(message));
  }
  if (dynamic_cast<const pqxx::unique_violation*>(&e) != nullptr) {
    return AlreadyExistsError(std::move(message));
  }
  if (dynamic_cast<const pqxx::undefined_table*>(&e) != nullptr) {
    return FailedPreconditionError(message + " (is the schema migrated? transferwatch db migrate)");
  }
  if (dynamic_cast<const pqxx::integrity_constraint_violation*>(&e) != nullptr) {
    return FailedPreconditionError(std::move(message));
  }
  if (dynamic_cast<const pqxx::data_exception*>(&e) != nullptr ||
      dynamic_cast<const pqxx::syntax_error*>(&e) != nullptr) {
    return InvalidArgumentError(std::move(message));
  }
  if (auto* sql = dynamic_cast<const pqxx::sql_error*>(&e)) {
    const std::string& state = sql->sqlstate();
    std::string klass = state.substr(0, 2);
    // 08 connection exception, 57 operator intervention (server shutting down), 53 resources:
    // the server, not the request, is the problem.
    if (klass == "08" || klass == "57" || klass == "53") return UnavailableError(message);
    if (klass == "40") return UnavailableError(message + " (transaction rolled back; retry)");
    if (state == "3F000") {
      return FailedPreconditionError(message +
                                     " (is the schema migrated? transferwatch db migrate)");
    }
    if (klass == "23") return FailedPreconditionError(std::move(message));
    if (klass == "22" || klass == "42") return InvalidArgumentError(std::move(message));
    if (klass == "P0") return FailedPreconditionError(std::move(message));  // RAISE in PL/pgSQL
    return UnknownError(message + (state.empty() ? "" : " [SQLSTATE " + state + "]"));
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

int64_t ToEpochMicros(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

TimePoint FromEpochMicros(int64_t micros) {
  return TimePoint(
      std::chrono::duration_cast<TimePoint::duration>(std::chrono::microseconds(micros)));
}

namespace {
std::vector<int> ParseIntList(const pqxx::field& field) {
  std::vector<int> out;
  if (field.is_null()) return out;
  std::string text = field.c_str();
  std::stringstream stream(text);
  std::string item;
  while (std::getline(stream, item, ',')) {
    if (!item.empty()) out.push_back(std::stoi(item));
  }
  return out;
}
}  // namespace

std::string CheckpointSelect() {
  return std::string("SELECT c.id, c.origin, ") + kDisplayNameSql +
         ", r.name, c.name, c.sha256, c.import_source, c.step, "
         "  (c.metadata->>'param_count_m')::float8, "
         "  (SELECT string_agg(DISTINCT ec.config->>'img_size', ',') FROM tw.evaluations e "
         "     JOIN tw.eval_configs ec ON ec.id = e.eval_config_id "
         "     WHERE e.checkpoint_id = c.id AND ec.config ? 'img_size'), "
         "  (SELECT count(*) FROM tw.evaluations e WHERE e.checkpoint_id = c.id), "
         "  " TW_PG_EPOCH_MICROS("c.created_at") ", "
         "  CASE WHEN jsonb_typeof(c.metadata->'sidecar'->'epoch') = 'number' "
         "    THEN (c.metadata->'sidecar'->>'epoch')::float8 END "
         "FROM tw.checkpoints c LEFT JOIN tw.runs r ON r.id = c.run_id ";
}

CheckpointInfo CheckpointFromRow(const pqxx::row& row) {
  CheckpointInfo c;
  c.id = row[0].as<int64_t>();
  c.origin = row[1].as<std::string>();
  c.display_name = row[2].as<std::string>();
  c.run = OptionalField<std::string>(row[3]);
  c.name = row[4].as<std::string>();
  c.sha256 = OptionalField<std::string>(row[5]);
  c.import_source = OptionalField<std::string>(row[6]);
  c.step = OptionalField<int64_t>(row[7]);
  c.param_count_m = OptionalField<double>(row[8]);
  c.img_sizes = ParseIntList(row[9]);
  std::sort(c.img_sizes.begin(), c.img_sizes.end());
  c.evaluations = row[10].as<int64_t>();
  c.created_at = FromEpochMicros(row[11].as<int64_t>());
  c.epoch = OptionalField<double>(row[12]);
  return c;
}

std::string TextArray(const std::vector<std::string>& items) {
  std::string out = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += ",";
    out += '"';
    for (char c : items[i]) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

std::vector<std::string> ParseTextArray(const pqxx::field& field) {
  std::vector<std::string> out;
  auto parser = field.as_array();
  for (auto item = parser.get_next(); item.first != pqxx::array_parser::juncture::done;
       item = parser.get_next()) {
    if (item.first == pqxx::array_parser::juncture::string_value) out.push_back(item.second);
  }
  return out;
}

}  // namespace tw::pg
