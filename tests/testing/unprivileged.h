// Permission checks cannot be tested as root (root reads every file), and CI runs as root. This
// runs a function as user `nobody` in a forked child when the test runs as root, and directly
// otherwise, and hands back the Status it returned.
#pragma once

#include <functional>

#include "common/status.h"

namespace tw::testing {

Status RunUnprivileged(const std::function<Status()>& fn);

}  // namespace tw::testing
