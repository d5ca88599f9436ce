// A temporary directory for one test, removed with everything in it on destruction.
#pragma once

#include <string>

namespace tw::testing {

class TempDir {
 public:
  // Creates /tmp/tw-test-XXXXXX with mode 0755 (other users, such as the embedded cluster's,
  // must be able to reach what tests put in it). Aborts the test binary if it cannot.
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Writes `contents` to `path` (creating or truncating); aborts on failure.
void WriteTestFile(const std::string& path, const std::string& contents);
std::string ReadTestFile(const std::string& path);

}  // namespace tw::testing
