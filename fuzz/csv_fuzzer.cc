// CSV (common/csv): the strict RFC 4180 reader behind the timm importer and the label files.
//
// Invariants: errors are InvalidArgument naming the source and a line; line numbers grow; and
// the writer round-trips: the records written back with CsvLine parse to the same fields.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/csv.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto records = tw::ParseCsv(text, "input.csv");
  if (!records.ok()) {
    TW_FUZZ_CHECK(records.status().code() == tw::StatusCode::kInvalidArgument,
                  "ParseCsv fails only with InvalidArgument");
    TW_FUZZ_CHECK(records.status().message().rfind("input.csv:", 0) == 0,
                  "a CSV error names the source");
    return 0;
  }
  std::string written;
  int last_line = 0;
  for (const auto& record : *records) {
    TW_FUZZ_CHECK(record.line > last_line, "records come in line order");
    TW_FUZZ_CHECK(!record.fields.empty(), "a record has a field");
    last_line = record.line;
    written += tw::CsvLine(record.fields);
  }
  auto reread = tw::ParseCsv(written, "written.csv");
  TW_FUZZ_CHECK(reread.ok(), "what CsvLine writes parses");
  TW_FUZZ_CHECK(reread->size() == records->size(), "as many records");
  for (size_t i = 0; i < records->size(); ++i) {
    TW_FUZZ_CHECK((*reread)[i].fields == (*records)[i].fields, "the same fields");
  }
  return 0;
}
