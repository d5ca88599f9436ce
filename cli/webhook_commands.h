// The CLI's webhook commands: `webhook add|list|remove|test|deliveries|replay`. Like
// commands.h, each prints to ctx.out and returns a Status (main maps it to the exit code).
//
// Webhook URLs of chat services are credentials themselves (the path holds the token), and
// secrets are credentials: output shows URLs only redacted (notify::RedactUrl) and a secret only
// once, when `webhook add` generated it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "common/status.h"

namespace tw::cli {

struct WebhookAddOptions {
  std::string url;
  std::string format;                      // slack | mattermost | discord | teams | generic
  std::optional<std::string> secret_file;  // else a secret is generated and printed once
  std::optional<std::string> events;       // comma list; default "regression"
  bool allow_private_network = false;
};
Status WebhookAddCommand(CommandContext& ctx, const WebhookAddOptions& options);

Status WebhookListCommand(CommandContext& ctx);

Status WebhookRemoveCommand(CommandContext& ctx, int64_t id);

// Sends a signed, clearly labelled test event to the webhook now (not through the outbox).
// Unavailable when the receiver does not answer 2xx; the attempt's error (PermissionDenied for
// an SSRF refusal) otherwise.
Status WebhookTestCommand(CommandContext& ctx, int64_t id);

struct WebhookDeliveriesOptions {
  std::optional<int64_t> webhook_id;
  std::optional<std::string> state;  // pending | delivered | dead
  std::optional<int64_t> limit;      // default 100; 0 = all
};
Status WebhookDeliveriesCommand(CommandContext& ctx, const WebhookDeliveriesOptions& options);

struct WebhookReplayOptions {
  std::optional<int64_t> delivery_id;
  bool dead = false;  // every dead delivery (of --webhook, when given)
  std::optional<int64_t> webhook_id;
};
Status WebhookReplayCommand(CommandContext& ctx, const WebhookReplayOptions& options);

}  // namespace tw::cli
