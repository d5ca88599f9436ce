// The evaluator's output stream as the CLI and the daemon read it (protocol/evaluator_protocol):
// stdout split into lines exactly as common/process.cc hands them to runner/evaluator_run.cc, each
// line through ParseEventLine. transferwatch-eval runs a checkpoint, i.e. someone else's code, so
// every byte of this stream is hostile input.
//
// Invariants: a malformed line is InvalidArgument; a start event is a JSON object that nlohmann's
// lenient parser (which the runner uses on it) reads too; a result event written back with
// ResultEventJson parses to the same result; accuracies are within 0..100 and counts >= 0. The
// whole input is also tried as a job file (the evaluator's input), which must round-trip through
// JobToJson.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "protocol/evaluator_protocol.h"

namespace {

using tw::protocol::DatasetResult;
using tw::protocol::Event;

bool SameResult(const DatasetResult& a, const DatasetResult& b) {
  if (a.dataset != b.dataset || a.evaluation_key != b.evaluation_key || a.n != b.n ||
      a.excluded != b.excluded || a.top1 != b.top1 || a.top5 != b.top5 || a.nll != b.nll ||
      a.ece != b.ece || a.records_path != b.records_path || a.records_count != b.records_count ||
      a.records_digest != b.records_digest || a.bad_image_count != b.bad_image_count ||
      a.corruption_subsets.size() != b.corruption_subsets.size() ||
      a.bad_images.size() != b.bad_images.size()) {
    return false;
  }
  for (size_t i = 0; i < a.bad_images.size(); ++i) {
    if (a.bad_images[i].path != b.bad_images[i].path ||
        a.bad_images[i].reason != b.bad_images[i].reason) {
      return false;
    }
  }
  for (size_t i = 0; i < a.corruption_subsets.size(); ++i) {
    if (a.corruption_subsets[i].corruption != b.corruption_subsets[i].corruption ||
        a.corruption_subsets[i].severity != b.corruption_subsets[i].severity ||
        a.corruption_subsets[i].top1 != b.corruption_subsets[i].top1) {
      return false;
    }
  }
  return nlohmann::json::parse(a.per_class_json) == nlohmann::json::parse(b.per_class_json) &&
         (a.corruption_json.empty() ? b.corruption_json.empty()
                                    : nlohmann::json::parse(a.corruption_json) ==
                                          nlohmann::json::parse(b.corruption_json));
}

void CheckLine(std::string_view line) {
  auto event = tw::protocol::ParseEventLine(line);
  if (!event.ok()) {
    TW_FUZZ_CHECK(event.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseEventLine fails only with InvalidArgument");
    return;
  }
  TW_FUZZ_CHECK(event->json == line, "the event keeps the line as received");
  switch (event->kind) {
    case Event::Kind::kStart:
    case Event::Kind::kDone: {
      // runner/evaluator_run.cc re-reads a start event with nlohmann's lenient parser.
      auto doc = nlohmann::json::parse(event->json, nullptr, /*allow_exceptions=*/false);
      TW_FUZZ_CHECK(!doc.is_discarded() && doc.is_object(), "start/done events are objects");
      break;
    }
    case Event::Kind::kProgress:
      (void)tw::protocol::ProgressEventJson(event->progress);
      break;
    case Event::Kind::kError:
      break;
    case Event::Kind::kResult: {
      const DatasetResult& r = event->result;
      TW_FUZZ_CHECK(r.n >= 0 && r.excluded >= 0, "counts >= 0");
      TW_FUZZ_CHECK(r.top1 >= 0 && r.top1 <= 100 && r.top5 >= 0 && r.top5 <= 100,
                    "accuracies in percent");
      TW_FUZZ_CHECK(r.bad_image_count >= static_cast<int64_t>(r.bad_images.size()),
                    "bad_image_count counts the listed ones");
      if (r.bad_images.size() > tw::protocol::kMaxBadImagesListed) break;  // written truncated
      const std::string written = tw::protocol::ResultEventJson(r);
      auto again = tw::protocol::ParseEventLine(written);
      TW_FUZZ_CHECK(again.ok(), "a result written by ResultEventJson parses");
      TW_FUZZ_CHECK(again->kind == Event::Kind::kResult, "as a result");
      TW_FUZZ_CHECK(SameResult(again->result, r), "to the same result");
      break;
    }
  }
}

void CheckJob(std::string_view text) {
  auto job = tw::protocol::JobFromJson(text, "job.json");
  if (!job.ok()) {
    TW_FUZZ_CHECK(job.status().code() == tw::StatusCode::kInvalidArgument,
                  "JobFromJson fails only with InvalidArgument");
    return;
  }
  auto written = tw::protocol::JobToJson(*job);
  TW_FUZZ_CHECK(written.ok(), "an accepted job can be written");
  auto again = tw::protocol::JobFromJson(*written, "job-again.json");
  TW_FUZZ_CHECK(again.ok(), "a written job is accepted");
  auto written_again = tw::protocol::JobToJson(*again);
  TW_FUZZ_CHECK(written_again.ok() && *written_again == *written, "the job round-trips");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);
  // As common/process.cc: every '\n' ends a line (a '\r' stays in it); a last line without one
  // is handed over when the stream ends, an empty one is not.
  size_t start = 0;
  for (size_t nl = stream.find('\n'); nl != std::string_view::npos; nl = stream.find('\n', start)) {
    CheckLine(stream.substr(start, nl - start));
    start = nl + 1;
  }
  if (start < stream.size()) CheckLine(stream.substr(start));
  CheckJob(stream);
  return 0;
}
