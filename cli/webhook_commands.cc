#include "cli/webhook_commands.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/csv.h"
#include "common/file_util.h"
#include "common/time_util.h"
#include "common/utf8.h"
#include "notify/destination.h"
#include "notify/event.h"
#include "notify/render.h"
#include "notify/sender.h"
#include "notify/signing.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

constexpr size_t kTableErrorChars = 60;
constexpr std::chrono::milliseconds kTestTimeout{10000};
constexpr const char* kEventTypes[] = {"regression", "no-transfer", "eval-failed", "test"};

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
  return out;
}

// The stored URL, redacted; a URL that no longer parses is not echoed at all.
std::string Redacted(const std::string& url) {
  auto parsed = notify::ParseWebhookUrl(url);
  return parsed.ok() ? notify::RedactUrl(*parsed) : std::string("(invalid URL)");
}

StatusOr<std::vector<std::string>> ParseEvents(const std::optional<std::string>& text) {
  if (!text) return std::vector<std::string>{"regression"};
  std::vector<std::string> events;
  size_t start = 0;
  while (true) {
    size_t comma = text->find(',', start);
    std::string item =
        text->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item.empty()) {
      return InvalidArgumentError("--events: empty event type in '" + *text +
                                  "' (a comma list of regression, no-transfer, eval-failed, test)");
    }
    if (std::find(std::begin(kEventTypes), std::end(kEventTypes), item) == std::end(kEventTypes)) {
      return InvalidArgumentError("--events: unknown event type '" + item +
                                  "' (expected regression, no-transfer, eval-failed or test)");
    }
    if (std::find(events.begin(), events.end(), item) == events.end()) events.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return events;
}

// Like the API token file: a regular file nobody but its owner can read, one line.
StatusOr<std::string> ReadSecretFile(const std::string& path) {
  const std::string what = "webhook secret file " + path;
  TW_ASSIGN_OR_RETURN(std::string secret, ReadOwnerOnlyLine(path, what, /*max_bytes=*/4096));
  // The decoder's message never echoes the secret.
  TW_RETURN_IF_ERROR(notify::DecodeSecret(secret).status().WithContext(what));
  return secret;
}

StatusOr<WebhookInfo> FindWebhook(Store& store, int64_t id) {
  TW_ASSIGN_OR_RETURN(std::vector<WebhookInfo> webhooks, store.ListWebhooks());
  for (auto& w : webhooks) {
    if (w.id == id) return std::move(w);
  }
  return NotFoundError("no webhook with id " + std::to_string(id));
}

// A made-up regression, labelled as a test everywhere a reader looks.
notify::FlagEvent TestEvent(TimePoint now) {
  notify::FlagEvent e;
  e.event_type = "test";
  e.event_id = notify::NewMessageId();
  e.checkpoint = "example/step_100.pt";
  e.run = "example";
  e.step = 100;
  e.checkpoint_sha256 = std::string(64, '0');
  e.reference_checkpoint = "example/step_90.pt";
  e.reference_kind = "previous";
  e.reference_dataset = "imagenet";
  e.reference_gain_points = 0.84;
  e.reference_ci_low = 0.41;
  e.reference_ci_high = 1.27;
  e.reference_p = 0.00012;
  e.reference_n = 50000;
  notify::VariantResult v;
  v.dataset = "imagenet-v2";
  v.reference_dataset = "imagenet";
  v.delta_points = -1.32;
  v.ci_low = -2.05;
  v.ci_high = -0.59;
  v.p_value = 0.0004;
  v.p_holm = 0.0012;
  v.n = 10000;
  v.discordant = 812;
  e.variants.push_back(v);
  e.cli_hint =
      "This is a TEST message from `transferwatch webhook test`; the numbers are made up. "
      "A real alert would suggest: transferwatch compare example/step_90.pt example/step_100.pt";
  e.created_at = FormatIso8601Utc(now);
  return e;
}

}  // namespace

Status WebhookAddCommand(CommandContext& ctx, const WebhookAddOptions& options) {
  auto url = notify::ParseWebhookUrl(options.url);
  if (!url.ok()) return url.status().WithContext("webhook URL");
  auto format = notify::ParseWebhookFormat(options.format);
  if (!format.ok()) return format.status().WithContext("--format");
  TW_ASSIGN_OR_RETURN(std::vector<std::string> events, ParseEvents(options.events));
  NewWebhook webhook;
  webhook.url = options.url;
  webhook.format = std::string(notify::WebhookFormatName(*format));
  webhook.events = events;
  webhook.allow_private_network = options.allow_private_network;
  std::optional<std::string> generated;
  if (options.secret_file) {
    TW_ASSIGN_OR_RETURN(std::string secret, ReadSecretFile(*options.secret_file));
    webhook.secrets.push_back(std::move(secret));
  } else {
    TW_ASSIGN_OR_RETURN(std::string secret, notify::GenerateSecret());
    generated = secret;
    webhook.secrets.push_back(std::move(secret));
  }
  TW_ASSIGN_OR_RETURN(int64_t id, ctx.store.AddWebhook(webhook));
  const std::string redacted = notify::RedactUrl(*url);
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "webhook " << id << " added: " << redacted << " (" << webhook.format << ", "
            << Join(events) << ")\n";
    if (generated) {
      ctx.out << "secret: " << *generated << " (shown once: store it in the receiver)\n";
    }
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["id"] = id;
  j["url_redacted"] = redacted;
  j["format"] = webhook.format;
  if (ctx.format == OutputFormat::kJson) {
    j["events"] = events;
  } else {
    j["events"] = Join(events);
  }
  j["allow_private_network"] = webhook.allow_private_network;
  if (generated) j["secret"] = *generated;
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

Status WebhookListCommand(CommandContext& ctx) {
  TW_ASSIGN_OR_RETURN(std::vector<WebhookInfo> webhooks, ctx.store.ListWebhooks());
  Listing listing;
  listing.list_name = "webhooks";
  listing.columns = {{"id", "id"},
                     {"url", "url"},
                     {"format", "format"},
                     {"events", "events"},
                     {"allow_private_network", "private ok"},
                     {"secrets", "secrets"},
                     {"created_at", "created"}};
  for (const auto& w : webhooks) {
    listing.rows.push_back({w.id, Redacted(w.url), w.format, Join(w.events),
                            w.allow_private_network, static_cast<int64_t>(w.secrets.size()),
                            FormatIso8601Utc(w.created_at)});
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status WebhookRemoveCommand(CommandContext& ctx, int64_t id) {
  TW_RETURN_IF_ERROR(ctx.store.RemoveWebhook(id).WithContext("webhook " + std::to_string(id)));
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "webhook " << id << " removed\n";
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["id"] = id;
  j["removed"] = true;
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

Status WebhookTestCommand(CommandContext& ctx, int64_t id) {
  TW_ASSIGN_OR_RETURN(WebhookInfo webhook, FindWebhook(ctx.store, id));
  auto url = notify::ParseWebhookUrl(webhook.url);
  if (!url.ok()) return url.status().WithContext("webhook " + std::to_string(id) + " URL");
  TW_ASSIGN_OR_RETURN(notify::WebhookFormat format, notify::ParseWebhookFormat(webhook.format));
  const notify::FlagEvent event = TestEvent(ctx.now);
  TW_ASSIGN_OR_RETURN(std::string body, notify::RenderMessage(format, event));
  const int64_t timestamp = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count();
  auto signature = notify::Sign(webhook.secrets, event.event_id, timestamp, body);
  if (!signature.ok()) {
    return signature.status().WithContext("webhook " + std::to_string(id) + " secrets");
  }
  const notify::HttpHeaders headers =
      notify::StandardWebhookHeaders(event.event_id, timestamp, *signature);
  // Deliver sets Content-Type: application/json itself.
  notify::DeliveryAttempt attempt =
      notify::Deliver(*url, webhook.allow_private_network, headers, body, kTestTimeout);
  const std::string redacted = notify::RedactUrl(*url);
  const bool answered = attempt.http_status != 0;
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << "webhook " << id << " test to " << redacted << ": ";
    if (answered) {
      ctx.out << "HTTP " << attempt.http_status;
    } else {
      ctx.out << "no answer";
    }
    ctx.out << " in " << attempt.elapsed.count() << " ms (event " << event.event_id << ")\n";
    if (!attempt.response_snippet.empty()) {
      ctx.out << "response: " << attempt.response_snippet << "\n";
    }
  } else {
    nlohmann::ordered_json j;
    j["id"] = id;
    j["url_redacted"] = redacted;
    j["event_id"] = event.event_id;
    j["http_status"] = answered ? Json(attempt.http_status) : Json(nullptr);
    j["elapsed_ms"] = attempt.elapsed.count();
    j["response_snippet"] = attempt.response_snippet;
    j["error"] = attempt.error.ok() ? Json(nullptr) : Json(attempt.error.message());
    PrintObject(j, ctx.format, ctx.out);
  }
  if (!attempt.error.ok()) {
    if (attempt.error.code() == StatusCode::kPermissionDenied) {
      return PermissionDeniedError(
          "webhook " + std::to_string(id) + " test refused: " + attempt.error.message() +
          " (add the webhook with --allow-private-network to reach internal addresses)");
    }
    if (!answered) {
      return attempt.error.WithContext("webhook " + std::to_string(id) + " test");
    }
  }
  if (attempt.http_status < 200 || attempt.http_status > 299) {
    std::string message = "webhook " + std::to_string(id) + " test: the receiver answered HTTP " +
                          std::to_string(attempt.http_status);
    if (!attempt.error.ok()) message += " (" + attempt.error.message() + ")";
    return UnavailableError(message);
  }
  return OkStatus();
}

Status WebhookDeliveriesCommand(CommandContext& ctx, const WebhookDeliveriesOptions& options) {
  if (options.state && *options.state != "pending" && *options.state != "delivered" &&
      *options.state != "dead") {
    return InvalidArgumentError("--state must be pending, delivered or dead, not '" +
                                *options.state + "'");
  }
  int64_t limit = 100;
  if (options.limit) {
    if (*options.limit < 0) return InvalidArgumentError("--limit must be 0 (all) or more");
    limit = *options.limit == 0 ? INT64_MAX : *options.limit;
  }
  TW_ASSIGN_OR_RETURN(std::vector<DeliveryInfo> deliveries,
                      ctx.store.ListDeliveries(options.webhook_id, options.state, limit));
  bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  listing.list_name = "deliveries";
  listing.columns = {{"id", "id"},
                     {"webhook_id", "webhook"},
                     {"event_id", "event"},
                     {"event_type", "type"},
                     {"message_id", "message"},
                     {"state", "state"},
                     {"attempts", "attempts"},
                     {"next_attempt_at", "next attempt"},
                     {"last_status", "last status"},
                     {"last_error", "last error"},
                     {"delivered_at", "delivered"}};
  for (const auto& d : deliveries) {
    Json error = OrNull(d.last_error);
    if (table && d.last_error) error = TruncateUtf8(*d.last_error, kTableErrorChars);
    listing.rows.push_back(
        {d.id, d.webhook_id, d.event_id, d.event_type, OrNull(d.message_id), d.state, d.attempts,
         FormatIso8601Utc(d.next_attempt_at), d.last_status ? Json(*d.last_status) : Json(nullptr),
         error, d.delivered_at ? Json(FormatIso8601Utc(*d.delivered_at)) : Json(nullptr)});
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status WebhookReplayCommand(CommandContext& ctx, const WebhookReplayOptions& options) {
  if (options.delivery_id && options.dead) {
    return InvalidArgumentError("webhook replay takes a DELIVERY_ID or --dead, not both");
  }
  if (!options.delivery_id && !options.dead) {
    return InvalidArgumentError("webhook replay needs a DELIVERY_ID or --dead [--webhook ID]");
  }
  if (options.delivery_id && options.webhook_id) {
    return InvalidArgumentError("--webhook goes with --dead, not with a DELIVERY_ID");
  }
  TW_ASSIGN_OR_RETURN(int n, ctx.store.ReplayDeliveries(options.delivery_id, options.webhook_id));
  if (options.delivery_id && n == 0) {
    return NotFoundError("no delivery with id " + std::to_string(*options.delivery_id));
  }
  if (ctx.format == OutputFormat::kTable) {
    ctx.out << n << " delivery(ies) queued again\n";
    return OkStatus();
  }
  nlohmann::ordered_json j;
  j["deliveries"] = n;
  j["outcome"] = "queued again";
  PrintObject(j, ctx.format, ctx.out);
  return OkStatus();
}

}  // namespace tw::cli
