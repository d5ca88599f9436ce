#include "common/csv.h"

#include <utility>

#include "common/utf8.h"

namespace tw {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

class CsvParser {
 public:
  CsvParser(std::string_view text, std::string_view source_name)
      : text_(text), source_name_(source_name) {}

  StatusOr<std::vector<CsvRecord>> Parse() {
    if (text_.substr(0, kUtf8Bom.size()) == kUtf8Bom) pos_ = kUtf8Bom.size();
    std::vector<CsvRecord> records;
    while (pos_ < text_.size()) {
      // Empty lines are skipped: a trailing blank line is common and carries no record.
      if (text_[pos_] == '\n' || text_[pos_] == '\r') {
        TW_RETURN_IF_ERROR(ConsumeLineEnd());
        continue;
      }
      CsvRecord record;
      record.line = line_;
      TW_RETURN_IF_ERROR(ParseRecord(&record.fields));
      records.push_back(std::move(record));
    }
    return records;
  }

 private:
  // Parses fields up to and including the record's line end (or the end of the text).
  Status ParseRecord(std::vector<std::string>* fields) {
    while (true) {
      std::string field;
      if (pos_ < text_.size() && text_[pos_] == '"') {
        TW_RETURN_IF_ERROR(ParseQuotedField(&field));
      } else {
        TW_RETURN_IF_ERROR(ParseUnquotedField(&field));
      }
      fields->push_back(std::move(field));
      if (pos_ >= text_.size()) return OkStatus();
      if (text_[pos_] == ',') {
        ++pos_;  // A ',' at the very end still yields one more (empty) field.
        continue;
      }
      return ConsumeLineEnd();
    }
  }

  Status ParseQuotedField(std::string* field) {
    const int open_line = line_;
    ++pos_;  // Opening quote.
    while (true) {
      if (pos_ >= text_.size()) return Error(open_line, "unterminated quoted field");
      const char c = text_[pos_];
      if (c == '"') {
        if (pos_ + 1 < text_.size() && text_[pos_ + 1] == '"') {
          field->push_back('"');
          pos_ += 2;
          continue;
        }
        ++pos_;  // Closing quote.
        break;
      }
      if (c == '\n') ++line_;
      TW_RETURN_IF_ERROR(AppendChar(field));
    }
    if (pos_ < text_.size() && text_[pos_] != ',' && text_[pos_] != '\n' && text_[pos_] != '\r') {
      return Error(line_, "unexpected character after closing quote");
    }
    return OkStatus();
  }

  Status ParseUnquotedField(std::string* field) {
    while (pos_ < text_.size()) {
      const char c = text_[pos_];
      if (c == ',' || c == '\n' || c == '\r') return OkStatus();
      if (c == '"') return Error(line_, "quote inside an unquoted field");
      TW_RETURN_IF_ERROR(AppendChar(field));
    }
    return OkStatus();
  }

  // Appends the character at pos_ (a whole UTF-8 sequence) to `field` and advances past it.
  Status AppendChar(std::string* field) {
    if (text_[pos_] == '\0') return Error(line_, "NUL byte");
    const size_t len = Utf8SequenceLength(text_, pos_);
    if (len == 0) return Error(line_, "invalid UTF-8");
    field->append(text_, pos_, len);
    pos_ += len;
    return OkStatus();
  }

  // Consumes LF or CRLF at pos_.
  Status ConsumeLineEnd() {
    if (text_[pos_] == '\r') {
      if (pos_ + 1 >= text_.size() || text_[pos_ + 1] != '\n') {
        return Error(line_, "CR not followed by LF");
      }
      ++pos_;
    }
    ++pos_;
    ++line_;
    return OkStatus();
  }

  Status Error(int line, std::string_view reason) const {
    return InvalidArgumentError(std::string(source_name_) + ":" + std::to_string(line) + ": " +
                                std::string(reason));
  }

  std::string_view text_;
  std::string_view source_name_;
  size_t pos_ = 0;
  int line_ = 1;  // Line of pos_: 1 + the LFs before it.
};

bool NeedsQuotes(std::string_view field) {
  if (field.find_first_of(",\"\r\n") != std::string_view::npos) return true;
  if (field.empty()) return false;
  const auto is_blank = [](char c) { return c == ' ' || c == '\t'; };
  // Readers that trim would lose edge blanks; a leading BOM would be eaten on the first line.
  return is_blank(field.front()) || is_blank(field.back()) ||
         field.substr(0, kUtf8Bom.size()) == kUtf8Bom;
}

}  // namespace

StatusOr<std::vector<CsvRecord>> ParseCsv(std::string_view text, std::string_view source_name) {
  return CsvParser(text, source_name).Parse();
}

std::string CsvEscapeField(std::string_view field) {
  if (!NeedsQuotes(field)) return std::string(field);
  std::string out = "\"";
  for (const char c : field) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string CsvLine(const std::vector<std::string>& fields) {
  if (fields.size() == 1 && fields[0].empty()) return "\"\"\n";
  std::string line;
  for (size_t i = 0; i < fields.size(); ++i) {
    if (i > 0) line.push_back(',');
    line.append(CsvEscapeField(fields[i]));
  }
  line.push_back('\n');
  return line;
}

}  // namespace tw
