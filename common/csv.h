// RFC 4180 CSV: a strict reader and a matching writer.
//
// Thread safety: all functions are thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace tw {

struct CsvRecord {
  std::vector<std::string> fields;
  int line;  // 1-based line where the record starts.
};

// Parses `text` as comma-separated records. Fields may be quoted with '"'; inside quotes '""'
// is a quote and commas, CR and LF are literal. Records end at LF or CRLF (or end of text); a
// UTF-8 BOM at the very start is skipped; empty lines are skipped but still counted. Errors
// are InvalidArgument "source_name:line: reason": an unterminated quoted field (line where it
// opened), a quote inside an unquoted field, text between a closing quote and the next
// separator, a NUL byte, a CR not followed by LF outside quotes, invalid UTF-8.
StatusOr<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view source_name);

// `field` as it must appear in a CSV line: quoted (with quotes doubled) when it contains ',',
// '"', CR or LF, starts or ends with a space or tab, or starts with a UTF-8 BOM; else as is.
// ParseCsv reads it back unchanged when it is valid UTF-8 without NUL bytes.
std::string CsvEscapeField(std::string_view field);

// The escaped fields joined with ',' and ending in "\n". A single empty field is written as
// "\"\"\n" so that it does not become an empty line, which ParseCsv skips.
std::string CsvLine(const std::vector<std::string>& fields);

}  // namespace tw
