// PgStore: webhook destinations and the delivery queue (schemas/sql/0004_transfer_checks.sql).
// Deliveries are claimed like jobs: FOR UPDATE SKIP LOCKED and a lease token, so any daemon may
// send and exactly one sends each attempt.

#include "common/time_util.h"
#include "store/pg_internal.h"
#include "store/pg_store.h"

namespace tw {

using pg::FromEpochMicros;
using pg::NullableText;
using pg::OptionalField;
using pg::ParseTextArray;
using pg::PgCall;
using pg::SqlBuilder;
using pg::TextArray;

namespace {

constexpr const char* kWebhookColumns =
    "w.id, w.url, w.format, w.secrets, w.events, w.allow_private_network, " TW_PG_EPOCH_MICROS(
        "w.created_at");

WebhookInfo WebhookFromRow(const pqxx::row& row, int first = 0) {
  WebhookInfo w;
  w.id = row[first].as<int64_t>();
  w.url = row[first + 1].as<std::string>();
  w.format = row[first + 2].as<std::string>();
  w.secrets = ParseTextArray(row[first + 3]);
  w.events = ParseTextArray(row[first + 4]);
  w.allow_private_network = row[first + 5].as<bool>();
  w.created_at = FromEpochMicros(row[first + 6].as<int64_t>());
  return w;
}

}  // namespace

StatusOr<int64_t> PgStore::AddWebhook(const NewWebhook& webhook) {
  return PgCall("adding a webhook", [&]() -> StatusOr<int64_t> {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params(
        "INSERT INTO tw.webhooks (url, format, secrets, events, allow_private_network) "
        "VALUES ($1, $2, $3::text[], $4::text[], $5) RETURNING id",
        webhook.url, webhook.format, TextArray(webhook.secrets), TextArray(webhook.events),
        webhook.allow_private_network);
    tx.commit();
    return rows[0][0].as<int64_t>();
  });
}

StatusOr<std::vector<WebhookInfo>> PgStore::ListWebhooks() {
  return PgCall("listing webhooks", [&]() -> StatusOr<std::vector<WebhookInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    std::vector<WebhookInfo> out;
    for (const auto& row :
         tx.exec(std::string("SELECT ") + kWebhookColumns + " FROM tw.webhooks w ORDER BY w.id")) {
      out.push_back(WebhookFromRow(row));
    }
    return out;
  });
}

Status PgStore::RemoveWebhook(int64_t id) {
  return PgCall("removing webhook " + std::to_string(id), [&]() -> Status {
    pqxx::work tx(impl_->conn);
    auto rows = tx.exec_params("DELETE FROM tw.webhooks WHERE id = $1 RETURNING id", id);
    if (rows.empty()) return NotFoundError("no webhook with id " + std::to_string(id));
    tx.commit();
    return OkStatus();
  });
}

StatusOr<std::vector<DueDelivery>> PgStore::ClaimDueDeliveries(const std::string& lease_token,
                                                               std::chrono::milliseconds lease,
                                                               int limit) {
  return PgCall("claiming deliveries", [&]() -> StatusOr<std::vector<DueDelivery>> {
    pqxx::work tx(impl_->conn);
    // A claim whose lease expired (its sender died mid-attempt) is due again.
    auto rows = tx.exec_params(
        std::string("WITH due AS MATERIALIZED ("
                    "  SELECT id FROM tw.deliveries WHERE state = 'pending' "
                    "  AND next_attempt_at <= now() "
                    "  AND (lease_expires_at IS NULL OR lease_expires_at < now()) "
                    "  ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED), "
                    "claimed AS (UPDATE tw.deliveries d SET lease_token = $1, "
                    "  lease_expires_at = now() + ($2::bigint * interval '1 millisecond') "
                    "  FROM due WHERE d.id = due.id RETURNING d.*) "
                    "SELECT c.id, c.attempts, o.event_id, o.event_type, o.payload::text, ") +
            TW_PG_EPOCH_MICROS("o.created_at") + ", " + kWebhookColumns +
            " FROM claimed c JOIN tw.outbox o ON o.id = c.outbox_id "
            " JOIN tw.webhooks w ON w.id = c.webhook_id ORDER BY c.id",
        lease_token, std::to_string(lease.count()), limit);
    tx.commit();
    std::vector<DueDelivery> out;
    for (const auto& row : rows) {
      DueDelivery d;
      d.delivery_id = row[0].as<int64_t>();
      d.attempts = row[1].as<int>();
      d.event_id = row[2].as<std::string>();
      d.event_type = row[3].as<std::string>();
      d.payload_json = row[4].as<std::string>();
      d.event_created_at = FromEpochMicros(row[5].as<int64_t>());
      d.webhook = WebhookFromRow(row, 6);
      out.push_back(std::move(d));
    }
    return out;
  });
}

Status PgStore::FinishDelivery(int64_t delivery_id, const std::string& lease_token,
                               const DeliveryUpdate& update) {
  return PgCall("recording a delivery attempt", [&]() -> Status {
    pqxx::work tx(impl_->conn);
    std::optional<std::string> status;
    if (update.last_status) status = std::to_string(*update.last_status);
    auto rows = tx.exec_params(
        "UPDATE tw.deliveries SET state = $3, attempts = attempts + 1, "
        "  next_attempt_at = now() + ($4::bigint * interval '1 second'), "
        "  last_status = $5::integer, last_error = $6, lease_token = NULL, "
        "  lease_expires_at = NULL, "
        "  delivered_at = CASE WHEN $3 = 'delivered' THEN now() END "
        "WHERE id = $1 AND lease_token = $2 AND state = 'pending' RETURNING id",
        delivery_id, lease_token, update.state, std::to_string(update.next_attempt_in.count()),
        NullableText(status), NullableText(update.last_error));
    if (rows.empty()) {
      return FailedPreconditionError("delivery " + std::to_string(delivery_id) +
                                     " is no longer held by this sender");
    }
    tx.commit();
    return OkStatus();
  });
}

StatusOr<std::vector<DeliveryInfo>> PgStore::ListDeliveries(std::optional<int64_t> webhook_id,
                                                            std::optional<std::string> state,
                                                            int64_t limit) {
  return PgCall("listing deliveries", [&]() -> StatusOr<std::vector<DeliveryInfo>> {
    pqxx::read_transaction tx(impl_->conn);
    SqlBuilder sql;
    if (webhook_id)
      sql.Where("d.webhook_id = " + sql.Param(std::to_string(*webhook_id)) + "::bigint");
    if (state) sql.Where("d.state = " + sql.Param(*state));
    std::string limit_param = sql.Param(std::to_string(limit));
    auto rows = sql.Exec(
        tx,
        std::string("SELECT d.id, d.webhook_id, o.event_id, o.event_type, d.state, d.attempts, ") +
            TW_PG_EPOCH_MICROS("d.next_attempt_at") + ", d.last_status, d.last_error, " +
            TW_PG_EPOCH_MICROS("d.delivered_at") + ", " + TW_PG_EPOCH_MICROS("d.created_at") +
            " FROM tw.deliveries d JOIN tw.outbox o ON o.id = d.outbox_id" + sql.WhereClause() +
            " ORDER BY d.id DESC LIMIT " + limit_param + "::bigint");
    std::vector<DeliveryInfo> out;
    for (const auto& row : rows) {
      DeliveryInfo d;
      d.id = row[0].as<int64_t>();
      d.webhook_id = row[1].as<int64_t>();
      d.event_id = row[2].as<std::string>();
      d.event_type = row[3].as<std::string>();
      d.state = row[4].as<std::string>();
      d.attempts = row[5].as<int>();
      d.next_attempt_at = FromEpochMicros(row[6].as<int64_t>());
      d.last_status = OptionalField<int>(row[7]);
      d.last_error = OptionalField<std::string>(row[8]);
      if (!row[9].is_null()) d.delivered_at = FromEpochMicros(row[9].as<int64_t>());
      d.created_at = FromEpochMicros(row[10].as<int64_t>());
      out.push_back(std::move(d));
    }
    return out;
  });
}

StatusOr<int> PgStore::ReplayDeliveries(std::optional<int64_t> delivery_id,
                                        std::optional<int64_t> webhook_id) {
  return PgCall("replaying deliveries", [&]() -> StatusOr<int> {
    pqxx::work tx(impl_->conn);
    SqlBuilder sql;
    if (delivery_id) {
      sql.Where("id = " + sql.Param(std::to_string(*delivery_id)) + "::bigint");
    } else {
      sql.Where("state = 'dead'");
    }
    if (webhook_id)
      sql.Where("webhook_id = " + sql.Param(std::to_string(*webhook_id)) + "::bigint");
    auto rows = sql.Exec(tx,
                         "UPDATE tw.deliveries SET state = 'pending', attempts = 0, "
                         "  next_attempt_at = now(), lease_token = NULL, "
                         "  lease_expires_at = NULL" +
                             sql.WhereClause() + " RETURNING id");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

}  // namespace tw
