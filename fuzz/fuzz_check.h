// Shared by the fuzz targets: an invariant check that stops the fuzzer with a message.
#pragma once

#include <cstdio>

// On violation: prints what was expected and traps, so libFuzzer keeps the input as a crash.
#define TW_FUZZ_CHECK(condition, what)                                                           \
  do {                                                                                           \
    if (!(condition)) {                                                                          \
      std::fprintf(stderr, "fuzz invariant violated at %s:%d: %s\n  (%s)\n", __FILE__, __LINE__, \
                   what, #condition);                                                            \
      __builtin_trap();                                                                          \
    }                                                                                            \
  } while (false)
