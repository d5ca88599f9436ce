// How people name a checkpoint on the command line, and how a name is resolved:
//   a SHA-256 prefix of at least 8 hex digits   3f2a9c01
//   RUN/FILE                                    baseline/epoch_010.pt
//   an imported MODEL, optionally @IMG_SIZE     resnet50.a1_in1k@288
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "store/model.h"
#include "store/store.h"

namespace tw {

// The interpretations of `text`, in the order they are tried (a hex string is first a hash
// prefix, then a model name). InvalidArgument for an empty or malformed name.
StatusOr<std::vector<CheckpointSelector>> ParseCheckpointName(std::string_view text);

struct ResolvedCheckpoint {
  CheckpointInfo checkpoint;
  std::optional<int> img_size;  // set when the name carried @IMG_SIZE
};

// Resolves `text` to exactly one checkpoint: the first interpretation that matches anything
// decides. NotFound when nothing matches (or the model has no evaluation at @IMG_SIZE);
// InvalidArgument when several checkpoints match (the message lists them).
StatusOr<ResolvedCheckpoint> ResolveCheckpoint(Store& store, std::string_view text);

}  // namespace tw
