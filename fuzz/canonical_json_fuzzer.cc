// Canonical JSON (common/canonical_json): the strict parser every JSON input goes through, and
// the canonical form that is hashed into evaluation keys.
//
// Invariants: whatever ParseJson accepts canonicalizes (or is refused with InvalidArgument, never
// anything else); the canonical text parses again to an equal value whose canonical text is the
// same bytes (idempotence), so equal values always hash equally; nlohmann's lenient parser, which
// some callers use after ParseJson accepted a text, agrees on the value.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/canonical_json.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto parsed = tw::ParseJson(text, "input.json");
  if (!parsed.ok()) {
    TW_FUZZ_CHECK(parsed.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseJson fails only with InvalidArgument");
    TW_FUZZ_CHECK(parsed.status().message().rfind("input.json:", 0) == 0,
                  "a parse error names the source");
    return 0;
  }
  auto lenient = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  TW_FUZZ_CHECK(!lenient.is_discarded(), "nlohmann accepts what ParseJson accepts");
  TW_FUZZ_CHECK(lenient == *parsed, "nlohmann reads the same value");

  auto canonical = tw::CanonicalJson(*parsed);
  if (!canonical.ok()) {
    TW_FUZZ_CHECK(canonical.status().code() == tw::StatusCode::kInvalidArgument,
                  "CanonicalJson fails only with InvalidArgument");
    return 0;
  }
  auto reparsed = tw::ParseJson(*canonical, "canonical");
  TW_FUZZ_CHECK(reparsed.ok(), "canonical JSON parses");
  TW_FUZZ_CHECK(*reparsed == *parsed, "canonical JSON keeps the value");
  auto again = tw::CanonicalJson(*reparsed);
  TW_FUZZ_CHECK(again.ok() && *again == *canonical, "canonical JSON is idempotent");
  auto hashed = tw::HashCanonicalJson(*reparsed);
  auto hashed_first = tw::HashCanonicalJson(*parsed);
  TW_FUZZ_CHECK(hashed.ok() && hashed_first.ok() && hashed->sha256 == hashed_first->sha256,
                "equal values hash equally");
  return 0;
}
