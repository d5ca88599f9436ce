// Streaming SHA-256 of a large file: throughput and peak memory of Sha256FileHex. bench/run
// times coreutils' sha256sum and a plain read (cat) of the same file beside it.
//
// Usage: hash_bench FILE
#include <sys/resource.h>

#include <chrono>
#include <cstdio>

#include "common/sha256.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hash_bench FILE\n");
    return 2;
  }
  struct rusage before {};
  ::getrusage(RUSAGE_SELF, &before);
  auto t0 = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  auto digest = tw::Sha256FileHex(argv[1], &bytes);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!digest.ok()) {
    std::fprintf(stderr, "hash_bench: %s\n", digest.status().ToString().c_str());
    return 1;
  }
  struct rusage after {};
  ::getrusage(RUSAGE_SELF, &after);
  std::printf("%s %.3f s %.0f MB/s peak_rss_kb=%ld\n", digest->c_str(), seconds,
              static_cast<double>(bytes) / 1e6 / seconds, after.ru_maxrss);
  return 0;
}
