#include "cli/flag_commands.h"

#include <unistd.h>

#include "common/process.h"
#include "common/time_util.h"
#include "store/checkpoint_name.h"

namespace tw::cli {
namespace {

using Json = nlohmann::json;

std::string Kinds(const std::vector<std::string>& kinds) {
  std::string out;
  for (const auto& k : kinds) out += (out.empty() ? "" : ",") + k;
  return out;
}

}  // namespace

Status FlagsCommand(CommandContext& ctx, const FlagsOptions& options) {
  FlagFilter filter;
  filter.run_glob = options.run_glob;
  if (options.kind) {
    if (*options.kind != "regression" && *options.kind != "no-transfer") {
      return InvalidArgumentError("--kind must be regression or no-transfer, not '" +
                                  *options.kind + "'");
    }
    filter.verdict = options.kind;
  }
  if (options.since) {
    TW_ASSIGN_OR_RETURN(filter.since, ParseSince(*options.since, ctx.now));
  }
  filter.include_acknowledged = !options.unacknowledged;
  if (options.limit) {
    if (*options.limit < 0) return InvalidArgumentError("--limit must be 0 (all) or more");
    filter.limit = *options.limit == 0 ? INT64_MAX : *options.limit;
  }
  TW_ASSIGN_OR_RETURN(auto flags, ctx.store.ListFlags(filter));
  bool table = ctx.format == OutputFormat::kTable;
  Listing listing;
  listing.list_name = "flags";
  if (table) {
    listing.columns = {{"id", "id"},
                       {"kind", "kind"},
                       {"checkpoint", "checkpoint"},
                       {"reference_checkpoint", "vs"},
                       {"variant", "variant"},
                       {"variant_delta", "variant_delta", 2},
                       {"variant_p_holm", "p_holm", 4},
                       {"reference_dataset", "on"},
                       {"reference_delta", "gain", 2},
                       {"reference_p", "p", 4},
                       {"acknowledged", "ack"}};
  } else {
    for (const char* key : {"id",
                            "kind",
                            "checkpoint",
                            "reference_checkpoint",
                            "reference_kinds",
                            "variant",
                            "variant_n",
                            "variant_only_new",
                            "variant_only_old",
                            "variant_delta",
                            "variant_ci_low",
                            "variant_ci_high",
                            "variant_p",
                            "variant_p_mid",
                            "variant_p_holm",
                            "holm_family_size",
                            "reference_dataset",
                            "reference_n",
                            "reference_only_new",
                            "reference_only_old",
                            "reference_delta",
                            "reference_ci_low",
                            "reference_ci_high",
                            "reference_p",
                            "reference_p_mid",
                            "acknowledged",
                            "created_at"}) {
      listing.columns.push_back({key, ""});
    }
  }
  for (const auto& f : flags) {
    const auto& v = f.variant_numbers;
    const auto& r = f.reference;
    if (table) {
      listing.rows.push_back({f.id, f.verdict, f.checkpoint, f.reference_checkpoint, f.variant,
                              v.delta, f.variant_p_holm, f.reference_dataset, r.delta, r.p,
                              f.acknowledged_at.has_value()});
    } else {
      listing.rows.push_back({f.id,
                              f.verdict,
                              f.checkpoint,
                              f.reference_checkpoint,
                              Kinds(f.reference_kinds),
                              f.variant,
                              v.n,
                              v.only_new,
                              v.only_old,
                              v.delta,
                              v.ci_low,
                              v.ci_high,
                              v.p,
                              v.p_mid,
                              f.variant_p_holm,
                              f.holm_family_size,
                              f.reference_dataset,
                              r.n,
                              r.only_new,
                              r.only_old,
                              r.delta,
                              r.ci_low,
                              r.ci_high,
                              r.p,
                              r.p_mid,
                              f.acknowledged_at.has_value(),
                              FormatIso8601Utc(f.created_at)});
    }
  }
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

Status AcknowledgeFlagCommand(CommandContext& ctx, int64_t id) {
  std::string who = "unknown";
  if (auto user = CurrentUser(); user.ok()) who = user->name;
  TW_RETURN_IF_ERROR(ctx.store.AcknowledgeFlag(id, who));
  ctx.out << "flag " << id << " acknowledged\n";
  return OkStatus();
}

Status PinBaselineCommand(CommandContext& ctx, const std::string& checkpoint,
                          const std::optional<std::string>& note) {
  TW_ASSIGN_OR_RETURN(ResolvedCheckpoint resolved, ResolveCheckpoint(ctx.store, checkpoint));
  if (note && note->size() > 500) return InvalidArgumentError("--note is longer than 500 bytes");
  TW_RETURN_IF_ERROR(ctx.store.PinBaseline(resolved.checkpoint.id, note));
  ctx.out << "baseline " << resolved.checkpoint.display_name << " pinned\n";
  return OkStatus();
}

Status UnpinBaselineCommand(CommandContext& ctx, const std::string& checkpoint) {
  TW_ASSIGN_OR_RETURN(ResolvedCheckpoint resolved, ResolveCheckpoint(ctx.store, checkpoint));
  TW_RETURN_IF_ERROR(ctx.store.UnpinBaseline(resolved.checkpoint.id)
                         .WithContext(resolved.checkpoint.display_name));
  ctx.out << "baseline " << resolved.checkpoint.display_name << " unpinned\n";
  return OkStatus();
}

Status ListBaselinesCommand(CommandContext& ctx) {
  TW_ASSIGN_OR_RETURN(auto baselines, ctx.store.ListBaselines());
  Listing listing;
  listing.list_name = "baselines";
  listing.columns = {{"checkpoint_id", "id"}, {"checkpoint", "checkpoint"}};
  for (const auto& b : baselines) listing.rows.push_back({b.checkpoint_id, b.display_name});
  ctx.out << RenderListing(listing, ctx.format);
  return OkStatus();
}

}  // namespace tw::cli
