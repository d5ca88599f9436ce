// PgStore: webhook destinations and the delivery queue (schemas/sql/0004_transfer_checks.sql).
// Deliveries are claimed like jobs: FOR UPDATE SKIP LOCKED and a lease token, so any daemon may
// send and exactly one sends each attempt.

#include <algorithm>

#include "common/message_id.h"
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
using pg::ToEpochMicros;

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

namespace {

// The webhook-id of a message of several events: derived from its events (sorted), so it is
// the same whichever daemon forms it.
std::string BatchMessageId(std::vector<std::string> event_ids) {
  std::sort(event_ids.begin(), event_ids.end());
  std::string seed;
  for (const auto& id : event_ids) seed += id + "\n";
  return DerivedMessageId(seed);
}

}  // namespace

StatusOr<std::vector<DueMessage>> PgStore::ClaimDueMessages(const MessageClaim& claim) {
  return PgCall("claiming webhook messages", [&]() -> StatusOr<std::vector<DueMessage>> {
    pqxx::work tx(impl_->conn);
    const int64_t now = ToEpochMicros(claim.now);
    // Lock the destinations that have due events first (SKIP LOCKED: another daemon claiming
    // for one of them keeps it, and we never wait), so counting a destination's recent messages
    // and claiming new ones is one step per destination across daemons.
    auto hooks = tx.exec_params(
        std::string("SELECT ") + kWebhookColumns +
            " FROM tw.webhooks w WHERE EXISTS (SELECT 1 FROM tw.deliveries d "
            "  WHERE d.webhook_id = w.id AND d.state = 'pending' AND d.next_attempt_at <= " +
            std::string(TW_PG_TIMESTAMP_FROM_MICROS("$1")) +
            "  AND (d.lease_expires_at IS NULL OR d.lease_expires_at < " +
            std::string(TW_PG_TIMESTAMP_FROM_MICROS("$1")) +
            ")) ORDER BY w.id FOR UPDATE OF w SKIP LOCKED",
        now);
    std::vector<DueMessage> out;
    for (const auto& hook_row : hooks) {
      if (static_cast<int>(out.size()) >= claim.max_messages) break;
      WebhookInfo webhook = WebhookFromRow(hook_row);
      int budget = claim.max_messages - static_cast<int>(out.size());
      if (claim.max_messages_per_minute > 0) {
        auto recent = tx.exec_params(
            "SELECT count(DISTINCT message_id) FROM tw.deliveries WHERE webhook_id = $1 "
            "AND last_attempt_at > " +
                std::string(TW_PG_TIMESTAMP_FROM_MICROS("$2")) +
                " - interval '60 seconds' AND message_id IS NOT NULL",
            webhook.id, now);
        int spent = recent[0][0].as<int>();
        budget = std::min(budget, claim.max_messages_per_minute - spent);
        if (budget <= 0) continue;  // stays due; coalesced when the minute frees
      }
      auto rows = tx.exec_params(
          "SELECT d.id, d.attempts, d.message_id, o.event_id, o.event_type, o.payload::text, " +
              std::string(TW_PG_EPOCH_MICROS("o.created_at")) +
              " FROM tw.deliveries d JOIN tw.outbox o ON o.id = d.outbox_id "
              "WHERE d.webhook_id = $1 AND d.state = 'pending' AND d.next_attempt_at <= " +
              std::string(TW_PG_TIMESTAMP_FROM_MICROS("$2")) +
              " AND (d.lease_expires_at IS NULL OR d.lease_expires_at < " +
              std::string(TW_PG_TIMESTAMP_FROM_MICROS("$2")) +
              ") ORDER BY d.next_attempt_at, o.created_at, d.id FOR UPDATE OF d",
          webhook.id, now);
      // Retries first, as they were (same id, same events); then the new events, coalesced.
      std::vector<DueMessage> retries;
      std::vector<DueMessage> fresh;
      bool single = std::find(claim.single_event_formats.begin(), claim.single_event_formats.end(),
                              webhook.format) != claim.single_event_formats.end();
      size_t per_message =
          single ? 1 : static_cast<size_t>(std::max(1, claim.max_events_per_message));
      for (const auto& row : rows) {
        DueEvent event;
        event.delivery_id = row[0].as<int64_t>();
        event.event_id = row[3].as<std::string>();
        event.event_type = row[4].as<std::string>();
        event.payload_json = row[5].as<std::string>();
        event.event_created_at = FromEpochMicros(row[6].as<int64_t>());
        auto message_id = OptionalField<std::string>(row[2]);
        if (message_id) {
          auto it = std::find_if(retries.begin(), retries.end(),
                                 [&](const DueMessage& m) { return m.message_id == *message_id; });
          if (it == retries.end()) {
            retries.push_back(DueMessage{*message_id, row[1].as<int>(), webhook, {}});
            it = retries.end() - 1;
          }
          it->events.push_back(std::move(event));
        } else {
          if (fresh.empty() || fresh.back().events.size() >= per_message) {
            fresh.push_back(DueMessage{"", 0, webhook, {}});
          }
          fresh.back().events.push_back(std::move(event));
        }
      }
      std::vector<DueMessage> chosen;
      for (auto* group : {&retries, &fresh}) {
        for (auto& m : *group) {
          if (static_cast<int>(chosen.size()) >= budget) break;
          chosen.push_back(std::move(m));
        }
      }
      for (auto& m : chosen) {
        std::vector<std::string> ids;
        std::vector<std::string> delivery_ids;
        for (const auto& e : m.events) {
          ids.push_back(e.event_id);
          delivery_ids.push_back(std::to_string(e.delivery_id));
        }
        if (m.message_id.empty()) m.message_id = ids.size() == 1 ? ids[0] : BatchMessageId(ids);
        tx.exec_params(
            "UPDATE tw.deliveries SET lease_token = $1, "
            "  lease_expires_at = " +
                std::string(TW_PG_TIMESTAMP_FROM_MICROS("$2")) +
                " + ($3::bigint * interval '1 millisecond'), message_id = $4, "
                "  last_attempt_at = " +
                std::string(TW_PG_TIMESTAMP_FROM_MICROS("$2")) + " WHERE id = ANY($5::bigint[])",
            claim.lease_token, now, std::to_string(claim.lease.count()), m.message_id,
            TextArray(delivery_ids));
        out.push_back(std::move(m));
      }
    }
    tx.commit();
    return out;
  });
}

Status PgStore::FinishMessage(const DueMessage& message, const std::string& lease_token,
                              const DeliveryUpdate& update) {
  return PgCall("recording a delivery attempt", [&]() -> Status {
    pqxx::work tx(impl_->conn);
    std::optional<std::string> status;
    if (update.last_status) status = std::to_string(*update.last_status);
    std::vector<std::string> ids;
    for (const auto& e : message.events) ids.push_back(std::to_string(e.delivery_id));
    auto rows = tx.exec_params(
        "UPDATE tw.deliveries SET state = $3, attempts = attempts + 1, "
        "  next_attempt_at = " +
            std::string(TW_PG_TIMESTAMP_FROM_MICROS("$4")) +
            ", last_status = $5::integer, last_error = $6, lease_token = NULL, "
            "  lease_expires_at = NULL, "
            "  delivered_at = CASE WHEN $3 = 'delivered' THEN " +
            std::string(TW_PG_TIMESTAMP_FROM_MICROS("$7")) +
            " END "
            "WHERE id = ANY($1::bigint[]) AND lease_token = $2 AND state = 'pending' RETURNING id",
        TextArray(ids), lease_token, update.state, ToEpochMicros(update.next_attempt_at),
        NullableText(status), NullableText(update.last_error), ToEpochMicros(update.now));
    if (rows.size() != ids.size()) {
      // Another sender took the message over (our lease expired): record nothing.
      return FailedPreconditionError("message " + message.message_id +
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
            ", d.message_id FROM tw.deliveries d JOIN tw.outbox o ON o.id = d.outbox_id" +
            sql.WhereClause() + " ORDER BY d.id DESC LIMIT " + limit_param + "::bigint");
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
      d.message_id = OptionalField<std::string>(row[11]);
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
                         "  lease_expires_at = NULL, message_id = NULL" +
                             sql.WhereClause() + " RETURNING id");
    tx.commit();
    return static_cast<int>(rows.size());
  });
}

}  // namespace tw
