#include "daemon/webhook_sender.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/logging.h"
#include "notify/destination.h"
#include "notify/event.h"
#include "notify/payload.h"
#include "notify/render.h"
#include "notify/retry.h"
#include "notify/sender.h"
#include "notify/signing.h"

namespace tw {
namespace {

std::shared_ptr<spdlog::logger> Log() { return Logger("sender"); }

// The body of a message: one event as RenderMessage renders it, several as one digest.
StatusOr<std::string> RenderBody(const DueMessage& m) {
  auto format = notify::ParseWebhookFormat(m.webhook.format);
  if (!format.ok()) return format.status();
  std::vector<notify::FlagEvent> events;
  for (const DueEvent& e : m.events) {
    auto event = notify::FlagEventFromPayload(e.event_id, e.event_type, e.payload_json);
    if (!event.ok()) return event.status();
    events.push_back(std::move(*event));
  }
  return notify::RenderMessages(*format, events);
}

// An endpoint may echo the request in its error body (research W6): the URL's path and query
// (a chat service's token) and the signing secrets are cut out of what is logged and stored.
std::string WithoutSecrets(std::string text, const std::string& url,
                           const std::vector<std::string>& secrets) {
  std::vector<std::string> needles;
  auto host_at = url.find("://");
  auto path_at = url.find_first_of("/?#", host_at == std::string::npos ? 0 : host_at + 3);
  if (path_at != std::string::npos) {
    std::string rest = url.substr(path_at);
    needles.push_back(rest);
    std::string piece;
    for (char c : rest + "/") {
      if (c == '/' || c == '?' || c == '&' || c == '=' || c == '#') {
        if (piece.size() >= 6) needles.push_back(piece);  // shorter ones are not secrets
        piece.clear();
      } else {
        piece += c;
      }
    }
  }
  for (const auto& secret : secrets) {
    needles.push_back(secret);
    if (secret.rfind("whsec_", 0) == 0) {
      std::string payload = secret.substr(6);
      while (!payload.empty() && payload.back() == '=') payload.pop_back();
      needles.push_back(payload);
    }
  }
  std::sort(needles.begin(), needles.end(),
            [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
  for (const auto& needle : needles) {
    if (needle.empty()) continue;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 3)) {
      text.replace(at, needle.size(), "***");
    }
  }
  return text;
}

}  // namespace

WebhookSender::WebhookSender(Clock& clock, WebhookSenderOptions options)
    : clock_(clock), options_(options) {}

StatusOr<SendSummary> WebhookSender::SendDue(Store& store, const std::string& lease_token) {
  MessageClaim claim;
  claim.lease_token = lease_token;
  claim.now = clock_.WallNow();
  claim.lease = options_.lease;
  claim.max_messages = options_.max_messages_per_round;
  claim.max_events_per_message = options_.max_events_per_message;
  claim.single_event_formats = {"generic"};  // machine consumers want one event per request
  claim.max_messages_per_minute = options_.max_messages_per_minute;
  auto due = store.ClaimDueMessages(claim);
  if (!due.ok()) return due.status();

  SendSummary summary;
  for (const DueMessage& m : *due) {
    ++summary.messages;
    summary.events += static_cast<int>(m.events.size());
    auto finish = [&](const std::string& state, std::chrono::seconds delay,
                      std::optional<int> status, std::optional<std::string> error) {
      DeliveryUpdate update;
      update.state = state;
      update.now = clock_.WallNow();
      update.next_attempt_at = update.now + delay;
      update.last_status = status;
      update.last_error = std::move(error);
      Status recorded = store.FinishMessage(m, lease_token, update);
      if (!recorded.ok()) {
        Log()->warn("message {}: cannot record the attempt: {}", m.message_id, recorded.ToString());
        ++summary.lost;
        return;
      }
      if (state == "delivered") ++summary.delivered;
      if (state == "pending") ++summary.retrying;
      if (state == "dead") ++summary.dead;
    };
    auto url = notify::ParseWebhookUrl(m.webhook.url);
    StatusOr<std::string> body = RenderBody(m);
    if (!url.ok() || !body.ok()) {
      // Nothing a retry can fix: dead at once, the reason kept.
      Status why = url.ok() ? body.status() : url.status();
      Log()->warn("message {} to webhook {}: {}", m.message_id, m.webhook.id, why.message());
      finish("dead", std::chrono::seconds(0), std::nullopt, why.message());
      continue;
    }
    int64_t timestamp =
        std::chrono::duration_cast<std::chrono::seconds>(clock_.WallNow().time_since_epoch())
            .count();
    auto signature = notify::Sign(m.webhook.secrets, m.message_id, timestamp, *body);
    if (!signature.ok()) {
      finish("dead", std::chrono::seconds(0), std::nullopt, signature.status().message());
      continue;
    }
    notify::DeliveryAttempt attempt =
        notify::Deliver(*url, m.webhook.allow_private_network,
                        notify::StandardWebhookHeaders(m.message_id, timestamp, *signature), *body,
                        options_.timeout);
    // Never the full URL: for chat services it is a credential.
    std::string where =
        "webhook " + std::to_string(m.webhook.id) + " (" + notify::RedactUrl(*url) + ")";
    std::string what =
        m.events.size() == 1 ? m.events[0].event_type : std::to_string(m.events.size()) + " events";
    if (attempt.http_status > 0 &&
        notify::ClassifyStatus(attempt.http_status) == notify::DeliveryOutcome::kDelivered) {
      Log()->info("message {} ({}) delivered to {}: HTTP {} in {} ms", m.message_id, what, where,
                  attempt.http_status, attempt.elapsed.count());
      finish("delivered", std::chrono::seconds(0), attempt.http_status, std::nullopt);
      continue;
    }
    std::string error = !attempt.error.ok() ? attempt.error.message()
                                            : "HTTP " + std::to_string(attempt.http_status) + ": " +
                                                  WithoutSecrets(attempt.response_snippet,
                                                                 m.webhook.url, m.webhook.secrets)
                                                      .substr(0, 200);
    std::optional<int> status;
    if (attempt.http_status > 0) status = attempt.http_status;
    auto next = notify::NextDelay(m.attempts + 1, attempt.retry_after);
    if (!next) {
      Log()->warn("message {} ({}) to {}: dead-lettered after {} attempts: {}", m.message_id, what,
                  where, m.attempts + 1, error);
      finish("dead", std::chrono::seconds(0), status, error);
      continue;
    }
    Log()->warn("message {} ({}) to {}: attempt {} failed ({}); next in {} s", m.message_id, what,
                where, m.attempts + 1, error, next->count());
    finish("pending", *next, status, error);
  }
  return summary;
}

}  // namespace tw
