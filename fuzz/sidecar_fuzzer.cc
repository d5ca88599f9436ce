// Sidecar JSON (watch/sidecar): the file a training script writes beside a checkpoint.
//
// Invariants: errors are InvalidArgument starting with the file's name; an accepted sidecar's
// canonical form is accepted again and gives the same sidecar (so re-reading a stored sidecar
// cannot change a checkpoint's step, epoch, hyperparameters or commit); its hparams_json is
// canonical JSON of an object.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/canonical_json.h"
#include "fuzz/fuzz_check.h"
#include "watch/sidecar.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto sidecar = tw::watch::ParseSidecar(bytes, "epoch_012.json");
  if (!sidecar.ok()) {
    TW_FUZZ_CHECK(sidecar.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseSidecar fails only with InvalidArgument");
    TW_FUZZ_CHECK(sidecar.status().message().rfind("epoch_012.json", 0) == 0,
                  "a sidecar error names the file");
    return 0;
  }
  TW_FUZZ_CHECK(!sidecar->step || *sidecar->step >= 0, "step >= 0");
  TW_FUZZ_CHECK(!sidecar->epoch || *sidecar->epoch >= 0, "epoch >= 0");
  TW_FUZZ_CHECK(sidecar->sha256.size() == 64, "the file's SHA-256");
  auto hparams = tw::ParseJson(sidecar->hparams_json, "hparams");
  TW_FUZZ_CHECK(hparams.ok() && hparams->is_object(), "hparams_json is an object");
  auto hparams_again = tw::CanonicalJson(*hparams);
  TW_FUZZ_CHECK(hparams_again.ok() && *hparams_again == sidecar->hparams_json,
                "hparams_json is canonical");

  auto again = tw::watch::ParseSidecar(sidecar->canonical_json, "stored.json");
  TW_FUZZ_CHECK(again.ok(), "a sidecar's canonical form is a valid sidecar");
  TW_FUZZ_CHECK(again->step == sidecar->step, "same step");
  TW_FUZZ_CHECK(again->epoch == sidecar->epoch, "same epoch");
  TW_FUZZ_CHECK(again->hparams_json == sidecar->hparams_json, "same hparams");
  TW_FUZZ_CHECK(again->git_commit == sidecar->git_commit, "same git commit");
  TW_FUZZ_CHECK(again->canonical_json == sidecar->canonical_json, "canonical form is idempotent");
  return 0;
}
