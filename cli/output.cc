#include "cli/output.h"

#include <algorithm>
#include <cstdio>

#include "common/canonical_json.h"
#include "common/csv.h"

namespace tw::cli {

StatusOr<OutputFormat> ParseOutputFormat(const std::string& text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "json") return OutputFormat::kJson;
  if (text == "csv") return OutputFormat::kCsv;
  return InvalidArgumentError("invalid --format \"" + text + "\": expected table, json or csv");
}

std::string CellText(const nlohmann::json& value, int decimals, bool for_table) {
  if (value.is_null()) return for_table ? "-" : "";
  if (value.is_string()) return value.get<std::string>();
  if (value.is_boolean()) return value.get<bool>() ? "true" : "false";
  if (value.is_number_integer()) return value.dump();
  if (value.is_number_float()) {
    double x = value.get<double>();
    if (for_table && decimals >= 0) {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
      return buf;
    }
    return FormatCanonicalNumber(x);
  }
  return value.dump();
}

namespace {

bool LooksNumeric(const std::string& s) {
  if (s.empty() || s == "-") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e';
  });
}

// Display width in code points (close enough for names; no East Asian width tables).
size_t DisplayWidth(const std::string& s) {
  size_t width = 0;
  for (unsigned char c : s) {
    if ((c & 0xC0) != 0x80) ++width;
  }
  return width;
}

}  // namespace

std::string RenderTextTable(const std::vector<std::string>& headers,
                            const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(headers.size());
  std::vector<bool> numeric(headers.size(), true);
  for (size_t c = 0; c < headers.size(); ++c) width[c] = DisplayWidth(headers[c]);
  for (const auto& row : rows) {
    for (size_t c = 0; c < row.size() && c < width.size(); ++c) {
      width[c] = std::max(width[c], DisplayWidth(row[c]));
      if (row[c] != "-" && !row[c].empty() && !LooksNumeric(row[c])) numeric[c] = false;
    }
  }
  auto pad = [&](const std::string& text, size_t c, bool right) {
    std::string fill(width[c] - std::min(width[c], DisplayWidth(text)), ' ');
    return right ? fill + text : text + fill;
  };
  std::string out;
  for (size_t c = 0; c < headers.size(); ++c) {
    if (c) out += "  ";
    out += pad(headers[c], c, numeric[c]);
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  out += '\n';
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < headers.size(); ++c) {
      if (c) line += "  ";
      line += pad(c < row.size() ? row[c] : "", c, numeric[c]);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + '\n';
  }
  return out;
}

std::string RenderListing(const Listing& listing, OutputFormat format) {
  switch (format) {
    case OutputFormat::kJson: {
      nlohmann::ordered_json items = nlohmann::ordered_json::array();
      for (const auto& row : listing.rows) {
        nlohmann::ordered_json item = nlohmann::ordered_json::object();
        for (size_t c = 0; c < listing.columns.size(); ++c) {
          item[listing.columns[c].key] = nlohmann::ordered_json(row[c]);
        }
        items.push_back(std::move(item));
      }
      nlohmann::ordered_json doc = {{listing.list_name, std::move(items)}};
      return doc.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    }
    case OutputFormat::kCsv: {
      std::vector<std::string> header;
      for (const auto& column : listing.columns) header.push_back(column.key);
      std::string out = CsvLine(header);
      for (const auto& row : listing.rows) {
        std::vector<std::string> cells;
        for (size_t c = 0; c < listing.columns.size(); ++c) {
          cells.push_back(CellText(row[c], -1, false));
        }
        out += CsvLine(cells);
      }
      return out;
    }
    case OutputFormat::kTable: {
      std::vector<std::string> headers;
      for (const auto& column : listing.columns) headers.push_back(column.header);
      std::vector<std::vector<std::string>> cells;
      for (const auto& row : listing.rows) {
        std::vector<std::string> line;
        for (size_t c = 0; c < listing.columns.size(); ++c) {
          line.push_back(CellText(row[c], listing.columns[c].decimals, true));
        }
        cells.push_back(std::move(line));
      }
      return RenderTextTable(headers, cells);
    }
  }
  return "";
}

void PrintObject(const nlohmann::ordered_json& object, OutputFormat format, std::ostream& out) {
  if (format == OutputFormat::kJson) {
    out << object.dump(2) << "\n";
    return;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& [key, value] : object.items()) {
    rows.push_back({key, CellText(nlohmann::json(value), -1, true)});
  }
  if (format == OutputFormat::kCsv) {
    out << "key,value\n";
    for (const auto& row : rows) out << CsvLine({row[0], row[1]});
    return;
  }
  out << RenderTextTable({"key", "value"}, rows);
}

nlohmann::json OrNull(const std::optional<std::string>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
nlohmann::json OrNull(const std::optional<double>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
nlohmann::json OrNull(const std::optional<int>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}
nlohmann::json OrNull(const std::optional<int64_t>& v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

}  // namespace tw::cli
