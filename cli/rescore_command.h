// `transferwatch rescore CKPT --dataset NAME`: scores a checkpoint's stored per-sample predictions
// under a dataset that shares their images (a new label set such as ImageNet-ReaL) without
// running the model, and records the result as an evaluation of that dataset.
//
// Images are matched by SHA-256: a prediction depends only on an image's bytes and the eval
// config (batches are padded to full shape), so an image with the same hash got the same
// prediction whatever its path or dataset. The source is one stored evaluation of the
// checkpoint with the target's eval config, chosen deterministically: one covering every file,
// on the target's reference dataset first, then the one covering the most files, then the
// newest. What can be rescored is scoring/rescore.h's rule (multi-label targets over the source's
// classes); the rest is refused with the reason.
//
// The result is recorded under the evaluation key `eval` would give it (the source's evaluator
// version), so `eval` answers the dataset from it, `eval --force` can check it bit for bit, and
// a second rescore finds it recorded. Provenance names the source evaluation.
#pragma once

#include <string>

#include "cli/commands.h"

namespace tw::cli {

struct RescoreOptions {
  std::string checkpoint;  // any checkpoint name (hash prefix, RUN/FILE)
  std::string dataset;     // the target
};
Status Rescore(CommandContext& ctx, const RescoreOptions& options);

}  // namespace tw::cli
