#pragma once
// A directory of its own under /tmp for one test, removed with everything in it
// when the test ends (also when it fails). Shared by every module's tests.
#include <stdlib.h>

#include <filesystem>
#include <stdexcept>
#include <string>
#include <system_error>

namespace mtasts_test {

struct TempDir {
  std::filesystem::path path;
  // prefix names the directory after the test that made it, so one left behind
  // by a killed run says whose it is.
  explicit TempDir(const std::string& prefix = "mtasts-test") {
    std::string pattern = "/tmp/" + prefix + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
      throw std::system_error(errno, std::generic_category(), "mkdtemp " + pattern);
    }
    path = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace mtasts_test
