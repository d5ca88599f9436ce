#include "notify/render.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <vector>

namespace tw::notify {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kEllipsis = "\xE2\x80\xA6";  // U+2026

// Discord embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits).
constexpr size_t kDiscordTitle = 256;
constexpr size_t kDiscordDescription = 4096;
constexpr size_t kDiscordFields = 25;
constexpr size_t kDiscordFieldName = 256;
constexpr size_t kDiscordFieldValue = 1024;
constexpr size_t kDiscordFooter = 2048;
constexpr size_t kDiscordTotal = 6000;
// Slack Block Kit limits.
constexpr size_t kSlackHeader = 150;
constexpr size_t kSlackSectionText = 3000;
constexpr size_t kSlackField = 2000;

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// At most `max` code points; a cut string ends in "…" (counted).
std::string Truncate(std::string_view s, size_t max) {
  if (CodePoints(s) <= max) return std::string(s);
  if (max == 0) return "";
  size_t keep = max - 1, seen = 0, i = 0;
  for (; i < s.size(); ++i) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == keep) break;
      ++seen;
    }
  }
  return std::string(s.substr(0, i)) + std::string(kEllipsis);
}

std::string Dump(const Json& j) {
  // Invalid UTF-8 from a file name is replaced (U+FFFD), never thrown about.
  return j.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}

// Slack mrkdwn: &, < and > are control characters (links, mentions such as <!channel>).
std::string SlackEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '&') {
      out += "&amp;";
    } else if (c == '<') {
      out += "&lt;";
    } else if (c == '>') {
      out += "&gt;";
    } else {
      out += c;
    }
  }
  return out;
}

// The facts every format shows, as plain text.
struct Facts {
  std::string title;
  std::string summary;  // one line, for notification previews
  std::vector<std::pair<std::string, std::string>> fields;
  std::vector<std::pair<std::string, std::string>> variants;  // dataset, result
  std::string variants_heading;
  std::optional<std::string> error;
  std::string cli_hint;
};

std::string Step(const FlagEvent& e) { return e.step ? std::to_string(*e.step) : "-"; }

std::string Interval(double lo, double hi) {
  return "[" + FormatPoints(lo) + ", " + FormatPoints(hi) + "]";
}

std::string Signed(double points) { return (points > 0 ? "+" : "") + FormatPoints(points); }

std::string VariantText(const VariantResult& v) {
  return Signed(v.delta_points) + " pts " + Interval(v.ci_low, v.ci_high) +
         ", p=" + FormatP(v.p_value) + ", Holm p=" + FormatP(v.p_holm) +
         " (n=" + std::to_string(v.n) + ", discordant " + std::to_string(v.discordant) + ")";
}

std::string VariantName(const VariantResult& v) {
  return v.reference_dataset.empty() ? v.dataset : v.dataset + " vs " + v.reference_dataset;
}

StatusOr<Facts> MakeFacts(const FlagEvent& e) {
  Facts f;
  if (e.event_type == "regression") {
    f.title = "Transfer regression: " + e.checkpoint;
    f.variants_heading = "Regressed variants";
  } else if (e.event_type == "no-transfer") {
    f.title = "Gain did not transfer: " + e.checkpoint;
    f.variants_heading = "Variants without the gain";
  } else if (e.event_type == "eval-failed") {
    f.title = "Evaluation failed: " + e.checkpoint;
    f.variants_heading = "Variants";
  } else if (e.event_type == "test") {
    f.title = "TransferWatch test alert";
    f.variants_heading = "Variants (example)";
  } else {
    return InvalidArgumentError("unknown webhook event type '" + e.event_type + "'");
  }
  f.fields.emplace_back("Checkpoint", e.checkpoint);
  f.fields.emplace_back("Run", e.run);
  f.fields.emplace_back("Step", Step(e));
  std::string gain;
  if (!e.reference_checkpoint.empty()) {
    f.fields.emplace_back("Reference", e.reference_checkpoint + " (" + e.reference_kind + ")");
    gain = Signed(e.reference_gain_points) + " pts " +
           Interval(e.reference_ci_low, e.reference_ci_high) + ", p=" + FormatP(e.reference_p) +
           " (n=" + std::to_string(e.reference_n) + ")";
    f.fields.emplace_back(
        (e.reference_dataset.empty() ? std::string("Reference") : e.reference_dataset) + " gain",
        gain);
  }
  for (const VariantResult& v : e.variants) f.variants.emplace_back(VariantName(v), VariantText(v));
  f.error = e.error;
  f.cli_hint = e.cli_hint;
  f.summary = f.title;
  if (!gain.empty()) f.summary += "; " + e.reference_dataset + " " + gain;
  if (!e.variants.empty()) {
    f.summary += "; " + std::to_string(e.variants.size()) +
                 (e.variants.size() == 1 ? " variant" : " variants") + " affected";
  }
  if (e.error) f.summary += "; error: " + Truncate(*e.error, 200);
  return f;
}

std::string MoreVariants(size_t left_out) {
  return std::string(kEllipsis) + " " + std::to_string(left_out) + " more " +
         (left_out == 1 ? "variant" : "variants") + " not shown";
}

// ---- Slack (Block Kit) ----

Json SlackBody(const Facts& f) {
  Json blocks = Json::array();
  blocks.push_back({{"type", "header"},
                    {"text", {{"type", "plain_text"}, {"text", Truncate(f.title, kSlackHeader)}}}});
  Json fields = Json::array();
  for (const auto& [name, value] : f.fields) {
    fields.push_back(
        {{"type", "mrkdwn"},
         {"text", Truncate("*" + SlackEscape(name) + "*\n" + SlackEscape(value), kSlackField)}});
  }
  blocks.push_back({{"type", "section"}, {"fields", fields}});
  if (!f.variants.empty()) {
    std::string text = "*" + f.variants_heading + "*";
    size_t shown = 0;
    for (const auto& [name, value] : f.variants) {
      std::string line = "\n\xE2\x80\xA2 *" + SlackEscape(name) + "*: " + SlackEscape(value);
      if (CodePoints(text) + CodePoints(line) + 40 > kSlackSectionText) break;
      text += line;
      ++shown;
    }
    if (shown < f.variants.size()) text += "\n" + MoreVariants(f.variants.size() - shown);
    blocks.push_back({{"type", "section"}, {"text", {{"type", "mrkdwn"}, {"text", text}}}});
  }
  if (f.error) {
    blocks.push_back({{"type", "section"},
                      {"text",
                       {{"type", "mrkdwn"},
                        {"text", Truncate("*Error*\n```" + SlackEscape(*f.error) + "```",
                                          kSlackSectionText)}}}});
  }
  if (!f.cli_hint.empty()) {
    blocks.push_back(
        {{"type", "context"},
         {"elements",
          Json::array({{{"type", "mrkdwn"},
                        {"text", Truncate("`" + SlackEscape(f.cli_hint) + "`", kSlackField)}}})}});
  }
  Json body = {{"text", SlackEscape(f.summary)}, {"blocks", blocks}};
  return body;
}

// ---- Mattermost (message attachments) ----

std::string Color(const FlagEvent& e) {
  if (e.event_type == "regression") return "#D00000";
  if (e.event_type == "no-transfer") return "#E8A200";
  if (e.event_type == "eval-failed") return "#7A0000";
  return "#2F80ED";
}

Json MattermostBody(const FlagEvent& e, const Facts& f) {
  Json fields = Json::array();
  for (const auto& [name, value] : f.fields) {
    fields.push_back({{"short", name != "Reference"}, {"title", name}, {"value", value}});
  }
  std::string text;
  if (!f.variants.empty()) {
    text = "**" + f.variants_heading + "**";
    for (const auto& [name, value] : f.variants) text += "\n- **" + name + "**: " + value;
  }
  if (f.error)
    text += (text.empty() ? "" : "\n") + std::string("**Error**\n```\n") + *f.error + "\n```";
  Json attachment = {{"fallback", f.summary}, {"color", Color(e)}, {"title", f.title}};
  if (!text.empty()) attachment["text"] = text;
  attachment["fields"] = fields;
  if (!f.cli_hint.empty()) attachment["footer"] = f.cli_hint;
  Json body = {{"text", f.summary}, {"attachments", Json::array({attachment})}};
  return body;
}

// ---- Discord (embeds) ----

int DiscordColor(const FlagEvent& e) { return std::stoi(Color(e).substr(1), nullptr, 16); }

Json DiscordBody(const FlagEvent& e, const Facts& f) {
  std::string title = Truncate(f.title, kDiscordTitle);
  std::string footer = Truncate(f.cli_hint, kDiscordFooter);
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& [name, value] : f.fields) {
    fields.emplace_back(Truncate(name, kDiscordFieldName),
                        Truncate(value.empty() ? "-" : value, kDiscordFieldValue));
  }
  size_t fixed_fields = fields.size();
  for (const auto& [name, value] : f.variants) {
    fields.emplace_back(Truncate(name, kDiscordFieldName), Truncate(value, kDiscordFieldValue));
  }
  std::string base_description =
      f.error ? "Error:\n```\n" + Truncate(*f.error, 3000) + "\n```" : std::string();
  auto description_for = [&](size_t left_out) {
    std::string d = base_description;
    if (left_out > 0) d += (d.empty() ? "" : "\n") + MoreVariants(left_out) + " (see the CLI)";
    return Truncate(d, kDiscordDescription);
  };
  auto total = [&](const std::string& description) {
    size_t n = CodePoints(title) + CodePoints(description) + CodePoints(footer);
    for (const auto& [name, value] : fields) n += CodePoints(name) + CodePoints(value);
    return n;
  };
  // Drop variant fields from the end until the embed fits 25 fields and 6000 characters.
  while (fields.size() > fixed_fields &&
         (fields.size() > kDiscordFields ||
          total(description_for(f.variants.size() - (fields.size() - fixed_fields))) >
              kDiscordTotal)) {
    fields.pop_back();
  }
  size_t left_out = f.variants.size() - (fields.size() - fixed_fields);
  std::string description = description_for(left_out);
  Json jfields = Json::array();
  for (size_t i = 0; i < fields.size(); ++i) {
    jfields.push_back({{"name", fields[i].first}, {"value", fields[i].second}, {"inline", i < 3}});
  }
  Json embed = {{"title", title}};
  if (!description.empty()) embed["description"] = description;
  embed["color"] = DiscordColor(e);
  embed["fields"] = jfields;
  if (!footer.empty()) embed["footer"] = {{"text", footer}};
  if (!e.created_at.empty()) embed["timestamp"] = e.created_at;
  // No @everyone / role / user pings from names inside the message.
  Json body = {{"content", Truncate(f.summary, 2000)},
               {"allowed_mentions", {{"parse", Json::array()}}},
               {"embeds", Json::array({embed})}};
  return body;
}

// ---- Microsoft Teams (Workflows: an Adaptive Card 1.4) ----

Json TeamsBody(const FlagEvent& e, const Facts& f) {
  Json body = Json::array();
  body.push_back({{"type", "TextBlock"},
                  {"size", "Large"},
                  {"weight", "Bolder"},
                  {"color", e.event_type == "test" ? "Accent" : "Attention"},
                  {"text", f.title},
                  {"wrap", true}});
  Json facts = Json::array();
  for (const auto& [name, value] : f.fields) facts.push_back({{"title", name}, {"value", value}});
  body.push_back({{"type", "FactSet"}, {"facts", facts}});
  if (!f.variants.empty()) {
    body.push_back({{"type", "TextBlock"},
                    {"text", f.variants_heading},
                    {"weight", "Bolder"},
                    {"wrap", true},
                    {"spacing", "Medium"}});
    Json vfacts = Json::array();
    for (const auto& [name, value] : f.variants) {
      vfacts.push_back({{"title", name}, {"value", value}});
    }
    body.push_back({{"type", "FactSet"}, {"facts", vfacts}});
  }
  if (f.error) {
    body.push_back({{"type", "TextBlock"}, {"text", "Error"}, {"weight", "Bolder"}});
    body.push_back(
        {{"type", "TextBlock"}, {"text", *f.error}, {"fontType", "Monospace"}, {"wrap", true}});
  }
  if (!f.cli_hint.empty()) {
    body.push_back({{"type", "TextBlock"},
                    {"text", f.cli_hint},
                    {"fontType", "Monospace"},
                    {"isSubtle", true},
                    {"wrap", true}});
  }
  Json card = {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
               {"type", "AdaptiveCard"},
               {"version", "1.4"},
               {"body", body}};
  Json message = {
      {"type", "message"},
      {"summary", f.summary},
      {"attachments", Json::array({{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                    {"contentUrl", nullptr},
                                    {"content", card}}})}};
  return message;
}

// ---- Generic: the event (schemas/webhook-event.schema.json) ----

Json GenericBody(const FlagEvent& e) {
  Json variants = Json::array();
  for (const VariantResult& v : e.variants) {
    variants.push_back({{"dataset", v.dataset},
                        {"reference_dataset", v.reference_dataset},
                        {"delta_points", v.delta_points},
                        {"ci_low", v.ci_low},
                        {"ci_high", v.ci_high},
                        {"p_value", v.p_value},
                        {"p_holm", v.p_holm},
                        {"n", v.n},
                        {"discordant", v.discordant}});
  }
  Json data = {{"event_id", e.event_id},
               {"checkpoint", e.checkpoint},
               {"run", e.run},
               {"step", e.step ? Json(*e.step) : Json(nullptr)},
               {"checkpoint_sha256", e.checkpoint_sha256}};
  if (!e.reference_checkpoint.empty()) {
    data["reference"] = {{"checkpoint", e.reference_checkpoint},
                         {"kind", e.reference_kind},
                         {"dataset", e.reference_dataset},
                         {"gain_points", e.reference_gain_points},
                         {"ci_low", e.reference_ci_low},
                         {"ci_high", e.reference_ci_high},
                         {"p_value", e.reference_p},
                         {"n", e.reference_n}};
  } else {
    data["reference"] = nullptr;
  }
  data["variants"] = variants;
  data["cli_hint"] = e.cli_hint;
  data["error"] = e.error ? Json(*e.error) : Json(nullptr);
  Json body = {
      {"type", "transferwatch." + e.event_type}, {"timestamp", e.created_at}, {"data", data}};
  return body;
}

}  // namespace

std::string FormatPoints(double points) {
  if (!std::isfinite(points)) return "nan";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f", points);
  std::string s(buf);
  if (s == "-0.00") s = "0.00";
  return s;
}

std::string FormatP(double p) {
  if (!std::isfinite(p)) return "nan";
  char buf[64];
  if (p < 1e-3) {
    std::snprintf(buf, sizeof buf, "%.2e", p);
  } else {
    int decimals = 2 - static_cast<int>(std::floor(std::log10(p)));
    decimals = std::clamp(decimals, 0, 5);
    std::snprintf(buf, sizeof buf, "%.*f", decimals, p);
  }
  return buf;
}

StatusOr<WebhookFormat> ParseWebhookFormat(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (WebhookFormat f :
       {WebhookFormat::kSlack, WebhookFormat::kMattermost, WebhookFormat::kDiscord,
        WebhookFormat::kTeams, WebhookFormat::kGeneric}) {
    if (WebhookFormatName(f) == lower) return f;
  }
  return InvalidArgumentError("unknown webhook format '" + std::string(name) +
                              "' (expected slack, mattermost, discord, teams or generic)");
}

std::string_view WebhookFormatName(WebhookFormat format) {
  switch (format) {
    case WebhookFormat::kSlack:
      return "slack";
    case WebhookFormat::kMattermost:
      return "mattermost";
    case WebhookFormat::kDiscord:
      return "discord";
    case WebhookFormat::kTeams:
      return "teams";
    case WebhookFormat::kGeneric:
      return "generic";
  }
  return "generic";
}

namespace {

// The body of one event's message, as JSON.
StatusOr<Json> MessageBody(WebhookFormat format, const FlagEvent& event) {
  StatusOr<Facts> facts = MakeFacts(event);
  if (!facts.ok()) return facts.status();
  switch (format) {
    case WebhookFormat::kSlack:
      return SlackBody(*facts);
    case WebhookFormat::kMattermost:
      return MattermostBody(event, *facts);
    case WebhookFormat::kDiscord:
      return DiscordBody(event, *facts);
    case WebhookFormat::kTeams:
      return TeamsBody(event, *facts);
    case WebhookFormat::kGeneric:
      return GenericBody(event);
  }
  return InvalidArgumentError("unknown webhook format");
}

}  // namespace

StatusOr<std::string> RenderMessage(WebhookFormat format, const FlagEvent& event) {
  try {
    StatusOr<Json> body = MessageBody(format, event);
    if (!body.ok()) return body.status();
    return Dump(*body);
  } catch (const std::exception& e) {  // nlohmann::json; should not happen with `replace`
    return InternalError(std::string("rendering a webhook message failed: ") + e.what());
  }
}

namespace {

std::string DigestSummary(const std::vector<FlagEvent>& events) {
  int regressions = 0, no_transfers = 0, failures = 0, other = 0;
  for (const FlagEvent& e : events) {
    if (e.event_type == "regression") {
      ++regressions;
    } else if (e.event_type == "no-transfer") {
      ++no_transfers;
    } else if (e.event_type == "eval-failed") {
      ++failures;
    } else {
      ++other;
    }
  }
  std::string parts;
  auto add = [&](int n, const char* one, const char* many) {
    if (n == 0) return;
    parts += (parts.empty() ? "" : ", ") + std::to_string(n) + " " + (n == 1 ? one : many);
  };
  add(regressions, "regression", "regressions");
  add(no_transfers, "gain that did not transfer", "gains that did not transfer");
  add(failures, "failed evaluation", "failed evaluations");
  add(other, "other alert", "other alerts");
  return std::to_string(events.size()) + " TransferWatch alerts: " + parts;
}

std::string NotShown(size_t n) {
  return std::string(kEllipsis) + " " + std::to_string(n) + " more " +
         (n == 1 ? "alert" : "alerts") + " not shown (transferwatch flags)";
}

// Slack allows 50 blocks per message; each event takes at most 5 plus a divider.
constexpr size_t kSlackBlocks = 50;
// Discord allows 10 embeds per message, 6000 characters across all of them.
constexpr size_t kDiscordEmbeds = 10;

size_t DiscordEmbedSize(const Json& embed) {
  size_t n = 0;
  if (embed.contains("title")) n += CodePoints(embed["title"].get<std::string>());
  if (embed.contains("description")) n += CodePoints(embed["description"].get<std::string>());
  if (embed.contains("footer")) n += CodePoints(embed["footer"]["text"].get<std::string>());
  for (const auto& field : embed["fields"]) {
    n += CodePoints(field["name"].get<std::string>()) +
         CodePoints(field["value"].get<std::string>());
  }
  return n;
}

StatusOr<std::string> RenderDigest(WebhookFormat format, const std::vector<FlagEvent>& events) {
  std::vector<Json> singles;
  for (const FlagEvent& e : events) {
    StatusOr<Json> one = MessageBody(format, e);
    if (!one.ok()) return one.status();
    singles.push_back(std::move(*one));
  }
  std::string summary = DigestSummary(events);
  switch (format) {
    case WebhookFormat::kSlack: {
      Json blocks = Json::array();
      blocks.push_back(
          {{"type", "header"},
           {"text", {{"type", "plain_text"}, {"text", Truncate(summary, kSlackHeader)}}}});
      size_t shown = 0;
      for (const Json& one : singles) {
        const Json& more = one["blocks"];
        if (blocks.size() + 1 + more.size() + 1 > kSlackBlocks) break;
        blocks.push_back({{"type", "divider"}});
        for (const Json& b : more) blocks.push_back(b);
        ++shown;
      }
      if (shown < singles.size()) {
        blocks.push_back(
            {{"type", "context"},
             {"elements",
              Json::array({{{"type", "mrkdwn"},
                            {"text", SlackEscape(NotShown(singles.size() - shown))}}})}});
      }
      return Dump({{"text", SlackEscape(summary)}, {"blocks", blocks}});
    }
    case WebhookFormat::kMattermost: {
      Json attachments = Json::array();
      for (const Json& one : singles) {
        for (const Json& a : one["attachments"]) attachments.push_back(a);
      }
      return Dump({{"text", summary}, {"attachments", attachments}});
    }
    case WebhookFormat::kDiscord: {
      Json embeds = Json::array();
      size_t total = 0;
      for (const Json& one : singles) {
        const Json& embed = one["embeds"][0];
        size_t size = DiscordEmbedSize(embed);
        if (embeds.size() >= kDiscordEmbeds || total + size > kDiscordTotal) break;
        total += size;
        embeds.push_back(embed);
      }
      std::string content = summary;
      if (embeds.size() < singles.size())
        content += "\n" + NotShown(singles.size() - embeds.size());
      return Dump({{"content", Truncate(content, 2000)},
                   {"allowed_mentions", {{"parse", Json::array()}}},
                   {"embeds", embeds}});
    }
    case WebhookFormat::kTeams: {
      Json body = Json::array();
      body.push_back({{"type", "TextBlock"},
                      {"size", "Large"},
                      {"weight", "Bolder"},
                      {"text", summary},
                      {"wrap", true}});
      for (const Json& one : singles) {
        body.push_back({{"type", "Container"},
                        {"separator", true},
                        {"spacing", "Large"},
                        {"items", one["attachments"][0]["content"]["body"]}});
      }
      Json card = {{"$schema", "http://adaptivecards.io/schemas/adaptive-card.json"},
                   {"type", "AdaptiveCard"},
                   {"version", "1.4"},
                   {"body", body}};
      return Dump(
          {{"type", "message"},
           {"summary", summary},
           {"attachments", Json::array({{{"contentType", "application/vnd.microsoft.card.adaptive"},
                                         {"contentUrl", nullptr},
                                         {"content", card}}})}});
    }
    case WebhookFormat::kGeneric:
      break;
  }
  return InvalidArgumentError(
      "generic webhooks get one event per request; a digest has no generic form");
}

}  // namespace

StatusOr<std::string> RenderMessages(WebhookFormat format, const std::vector<FlagEvent>& events) {
  if (events.empty()) return InvalidArgumentError("a message needs at least one event");
  if (events.size() == 1) return RenderMessage(format, events[0]);
  try {
    return RenderDigest(format, events);
  } catch (const std::exception& e) {  // nlohmann::json; should not happen with `replace`
    return InternalError(std::string("rendering a webhook digest failed: ") + e.what());
  }
}

}  // namespace tw::notify
