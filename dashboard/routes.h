// The dashboard's routes, for the daemon's route table (daemon/daemon.cc appends them):
//
//   GET  /                      runs, their checkpoint counts, the latest flags, the variants
//   GET  /runs/{name}           a run's accuracy chart, checkpoints and flags
//   GET  /scatter?variant=V&run=R   reference-vs-variant scatter over the pool, R highlighted
//   GET  /flags?run=R           every flag with its numbers
//   GET  /login, POST /login    the token form; sets the session cookie (api/sessions.h)
//   POST /logout                clears the cookie
//
// All are browser pages (api::Route::browser_page): read-only, no script, the session cookie
// accepted in place of the bearer token. /login is public. docs/api.md states the rules and
// docs/dashboard.md what each page shows.
#pragma once

#include <functional>
#include <vector>

#include "api/http_server.h"
#include "common/clock.h"
#include "store/store.h"

namespace tw::dashboard {

struct DashboardOptions {
  // Runs `fn` on a store connection and returns its response (503 when the database is
  // unavailable). Calls may come from several server threads at once; the daemon serialises
  // them on its API connection.
  std::function<api::HttpResponse(const std::function<api::HttpResponse(Store&)>&)> with_store;
  Clock* clock = nullptr;  // for the session cookie's issue time
};

std::vector<api::Route> DashboardRoutes(DashboardOptions options);

}  // namespace tw::dashboard
