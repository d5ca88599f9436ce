#include "notify/payload.h"

#include <nlohmann/json.hpp>

namespace tw::notify {
namespace {

using Json = nlohmann::json;

std::string Text(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

double Number(const Json& j, const char* key, double fallback) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<double>() : fallback;
}

int64_t Integer(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

StatusOr<FlagEvent> FlagEventFromPayload(std::string_view event_id, std::string_view event_type,
                                         std::string_view payload_json) {
  Json j = Json::parse(payload_json, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("event " + std::string(event_id) + ": payload is not an object");
  }
  FlagEvent e;
  e.event_type = std::string(event_type);
  e.event_id = std::string(event_id);
  e.checkpoint = Text(j, "checkpoint");
  e.run = Text(j, "run");
  if (auto it = j.find("step"); it != j.end() && it->is_number_integer()) {
    e.step = it->get<int64_t>();
  }
  e.checkpoint_sha256 = Text(j, "checkpoint_sha256");
  e.reference_checkpoint = Text(j, "reference_checkpoint");
  if (auto it = j.find("reference_kinds"); it != j.end() && it->is_array()) {
    for (const auto& kind : *it) {
      if (!kind.is_string()) continue;
      e.reference_kind += (e.reference_kind.empty() ? "" : ",") + kind.get<std::string>();
    }
  }
  e.reference_dataset = Text(j, "reference_dataset");
  e.reference_gain_points = Number(j, "reference_gain_points", 0);
  e.reference_ci_low = Number(j, "reference_ci_low", 0);
  e.reference_ci_high = Number(j, "reference_ci_high", 0);
  e.reference_p = Number(j, "reference_p", 1);
  e.reference_n = Integer(j, "reference_n");
  if (auto it = j.find("variants"); it != j.end()) {
    if (!it->is_array()) {
      return InvalidArgumentError("event " + std::string(event_id) + ": variants is not a list");
    }
    for (const auto& v : *it) {
      if (!v.is_object()) continue;
      VariantResult r;
      r.dataset = Text(v, "dataset");
      r.reference_dataset = Text(v, "reference_dataset");
      r.delta_points = Number(v, "delta_points", 0);
      r.ci_low = Number(v, "ci_low", 0);
      r.ci_high = Number(v, "ci_high", 0);
      r.p_value = Number(v, "p_value", 1);
      r.p_holm = Number(v, "p_holm", 1);
      r.n = Integer(v, "n");
      r.discordant = Integer(v, "discordant");
      e.variants.push_back(std::move(r));
    }
  }
  e.cli_hint = Text(j, "cli_hint");
  e.created_at = Text(j, "created_at");
  if (auto it = j.find("error"); it != j.end() && it->is_string()) e.error = it->get<std::string>();
  if (e.checkpoint.empty()) {
    return InvalidArgumentError("event " + std::string(event_id) + ": no checkpoint");
  }
  return e;
}

}  // namespace tw::notify
