// Retention (`transferwatch gc`): what may go after a while, and the figures it frees.
//
// Kept forever: every evaluation row (top-1, top-5, NLL, ECE, metrics, per-class, provenance and
// the predictions digest), every transfer check (flags with all their numbers), done jobs, and
// pending or dead webhook deliveries. Pruned:
//   - per-sample predictions (tw.predictions) of evaluations recorded before the cutoff, except
//     those of pinned baselines (every new checkpoint is compared with them);
//   - dead jobs finished before the cutoff: their per-attempt error history. The row itself
//     stays, with its last error: it is the planner's memory that this evaluation was tried,
//     and deleting it would queue the evaluation again (and announce its failure again);
//   - webhook events whose every delivery was delivered before the cutoff (or that had no
//     destination): the delivered rows are deleted and the event's payload emptied. The event
//     row stays, a few dozen bytes, because its dedup key is what keeps a recomputed flag from
//     being announced twice.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "store/model.h"

namespace tw {

struct GcOptions {
  std::chrono::milliseconds per_sample_older_than{std::chrono::hours(24 * 90)};
  std::chrono::milliseconds dead_jobs_older_than{std::chrono::hours(24 * 30)};
  std::chrono::milliseconds delivered_older_than{std::chrono::hours(24 * 30)};
  bool dry_run = false;  // count what would go, change nothing
  TimePoint now;         // injected: the cutoffs are now minus the ages
};

// One category's figures. `bytes` is the stored size of the values that go (pg_column_size:
// compressed as PostgreSQL stores them, TOAST included), not counting tuple headers and index
// entries. The space is reused by PostgreSQL after (auto)vacuum; files shrink only with VACUUM
// FULL.
struct GcCategory {
  std::string name;        // "per-sample predictions", "dead jobs", "delivered webhook events"
  std::string unit;        // what `rows` counts: "evaluations", "jobs", "events"
  TimePoint cutoff;        // older than this
  int64_t rows = 0;        // rows deleted or compacted
  int64_t extra_rows = 0;  // delivered events only: the delivery rows deleted
  int64_t bytes = 0;       // freed
  int64_t kept_rows = 0;   // not eligible yet, or protected (baselines, undelivered)
};

struct GcReport {
  bool dry_run = false;
  std::vector<GcCategory> categories;  // in the order above
};

}  // namespace tw
