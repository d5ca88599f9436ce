// Message bodies for each kind of destination, from a FlagEvent.
//
// Every format states the checkpoint, run, step, the reference checkpoint and kind, the
// reference-dataset gain with its CI and p, each variant's drop with CI, p and Holm-adjusted p,
// and the CLI hint. Points are shown with 2 decimals, p-values with 3 significant digits
// (0.0312, 0.500, 1.23e-04). The generic format is the event itself as JSON, documented by
// schemas/webhook-event.schema.json. Output is deterministic (golden-file tested). Thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "notify/event.h"

namespace tw::notify {

enum class WebhookFormat { kSlack, kMattermost, kDiscord, kTeams, kGeneric };

// "slack" | "mattermost" | "discord" | "teams" | "generic" (case-insensitive).
StatusOr<WebhookFormat> ParseWebhookFormat(std::string_view name);
std::string_view WebhookFormatName(WebhookFormat format);

// The JSON body to POST. Discord's embed limits are enforced (title 256, description 4096,
// 25 fields, field name 256 / value 1024, 6000 characters in all): text is cut with "…" and the
// message says how many variants were left out. InvalidArgument for an unknown event type.
StatusOr<std::string> RenderMessage(WebhookFormat format, const FlagEvent& event);

// The body of a message carrying `events` (a burst coalesced by the sender). One event: exactly
// RenderMessage. Several: one post that opens with "N TransferWatch alerts: 2 regressions, ..."
// and shows each event as the format's unit: Slack blocks between dividers (within 50 blocks),
// a Mattermost attachment each, a Discord embed each (at most 10, 6000 characters together),
// a Teams container each. Events that do not fit are counted ("… 3 more alerts not shown").
// Generic endpoints get one event per request: several is InvalidArgument.
StatusOr<std::string> RenderMessages(WebhookFormat format, const std::vector<FlagEvent>& events);

// The number formats used in messages: "-1.23" (2 decimals) and 3 significant digits for p.
std::string FormatPoints(double points);
std::string FormatP(double p);

}  // namespace tw::notify
