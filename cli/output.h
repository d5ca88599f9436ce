// How listings are printed: a table for people, JSON and CSV for programs.
//
// JSON is one object holding one plural-named list ({"results": [...]}); CSV has one header line
// whose names are the JSON keys. Values are typed (numbers stay numbers in JSON and CSV); the
// table shows numbers with the column's fixed decimals.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "common/status.h"

namespace tw::cli {

enum class OutputFormat { kTable, kJson, kCsv };

StatusOr<OutputFormat> ParseOutputFormat(const std::string& text);

struct Column {
  std::string key;     // JSON key and CSV header
  std::string header;  // table header
  int decimals = -1;   // fixed decimals for numbers in the table; -1: as is
};

struct Listing {
  std::string list_name;  // "results", "models", ...
  std::vector<Column> columns;
  std::vector<std::vector<nlohmann::json>> rows;  // one value per column; null prints as "-"
};

std::string RenderListing(const Listing& listing, OutputFormat format);

// A JSON value, or null when absent.
nlohmann::json OrNull(const std::optional<std::string>& v);
nlohmann::json OrNull(const std::optional<double>& v);
nlohmann::json OrNull(const std::optional<int>& v);
nlohmann::json OrNull(const std::optional<int64_t>& v);

// A flat object (a status, a command's outcome): JSON as is; table and CSV as key/value rows.
void PrintObject(const nlohmann::ordered_json& object, OutputFormat format, std::ostream& out);

// A JSON value as one CSV cell / table cell: strings as is, numbers in shortest round-trip form
// (or fixed `decimals`), null as "" (CSV) or "-" (table), booleans as true/false.
std::string CellText(const nlohmann::json& value, int decimals, bool for_table);

// Plain text table of already formatted cells; numeric-looking columns are right-aligned.
std::string RenderTextTable(const std::vector<std::string>& headers,
                            const std::vector<std::vector<std::string>>& rows);

}  // namespace tw::cli
