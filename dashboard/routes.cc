#include "dashboard/routes.h"

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "dashboard/pages.h"
#include "plots/charts.h"
#include "reports/plot_data.h"

namespace tw::dashboard {
namespace {

constexpr int kIndexFlags = 10;
constexpr int kFlagsPageLimit = 500;

PageContext ContextOf(const api::HttpRequest& request) {
  PageContext context;
  context.sessions = request.sessions != nullptr;
  return context;
}

// A query value; an empty one (a form's "(none)") counts as absent.
std::optional<std::string> Query(const api::HttpRequest& request, const std::string& key) {
  auto it = request.query.find(key);
  if (it == request.query.end() || it->second.empty()) return std::nullopt;
  return it->second;
}

api::HttpResponse ErrorResponse(const api::HttpRequest& request, const Status& status) {
  int code = 500;
  std::string message = "internal error";  // details go to the log, not to the page
  switch (status.code()) {
    case StatusCode::kNotFound:
      code = 404;
      message = status.message();
      break;
    case StatusCode::kInvalidArgument:
      code = 400;
      message = status.message();
      break;
    case StatusCode::kUnavailable:
    case StatusCode::kUnknown:
      // The daemon's store wrapper drops its connection on a 503 and reconnects next time.
      code = 503;
      message = "the database is unavailable";
      break;
    default:
      break;
  }
  return api::HtmlOk(ErrorPage(ContextOf(request), code, message), code);
}

api::HttpResponse Redirect(std::string location) {
  api::HttpResponse response = api::HtmlOk("<!doctype html><title>redirect</title>\n", 303);
  response.headers.emplace_back("Location", std::move(location));
  return response;
}

}  // namespace

std::vector<api::Route> DashboardRoutes(DashboardOptions options) {
  auto shared = std::make_shared<DashboardOptions>(std::move(options));
  std::vector<api::Route> routes;
  auto page = [shared](std::string pattern, std::string summary,
                       std::function<api::HttpResponse(const api::HttpRequest&, Store&)> render) {
    api::Route route;
    route.method = "GET";
    route.pattern = std::move(pattern);
    route.summary = std::move(summary);
    route.browser_page = true;
    route.handler = [shared, render](const api::HttpRequest& request) {
      return shared->with_store([&](Store& store) { return render(request, store); });
    };
    return route;
  };

  routes.push_back(page("/", "dashboard: runs, latest flags, variants (HTML)",
                        [](const api::HttpRequest& request, Store& store) {
                          auto runs = ListRunOverviews(store);
                          if (!runs.ok()) return ErrorResponse(request, runs.status());
                          FlagFilter filter;
                          filter.limit = kIndexFlags;
                          auto flags = store.ListFlags(filter);
                          if (!flags.ok()) return ErrorResponse(request, flags.status());
                          auto variants = ListVariants(store);
                          if (!variants.ok()) return ErrorResponse(request, variants.status());
                          return api::HtmlOk(
                              IndexPage(ContextOf(request), *runs, *flags, *variants));
                        }));

  routes.push_back(
      page("/runs/{name}", "dashboard: a run's accuracy chart, checkpoints and flags (HTML)",
           [](const api::HttpRequest& request, Store& store) {
             auto progress = LoadRunProgress(store, request.path_params.at("name"));
             if (!progress.ok()) return ErrorResponse(request, progress.status());
             auto variants = ListVariants(store);
             if (!variants.ok()) return ErrorResponse(request, variants.status());
             const std::string svg = plots::RenderLineChart(RunProgressChart(*progress));
             return api::HtmlOk(RunPage(ContextOf(request), *progress, svg, *variants));
           }));

  routes.push_back(
      page("/scatter", "dashboard: reference-vs-variant scatter (?variant=V&run=R) (HTML)",
           [](const api::HttpRequest& request, Store& store) {
             auto variants = ListVariants(store);
             if (!variants.ok()) return ErrorResponse(request, variants.status());
             std::optional<std::string> variant = Query(request, "variant");
             if (!variant) {
               if (variants->empty()) return api::HtmlOk(NoVariantsPage(ContextOf(request)));
               variant = variants->front().name;
             }
             auto pool = LoadVariantPool(store, *variant, Query(request, "run"));
             if (!pool.ok()) return ErrorResponse(request, pool.status());
             auto runs = ListRunOverviews(store);
             if (!runs.ok()) return ErrorResponse(request, runs.status());
             const std::string svg = plots::RenderScatter(VariantPoolScatter(*pool));
             return api::HtmlOk(ScatterPage(ContextOf(request), *pool, svg, *variants, *runs));
           }));

  routes.push_back(page("/flags", "dashboard: flags with their numbers (?run=R) (HTML)",
                        [](const api::HttpRequest& request, Store& store) {
                          FlagFilter filter;
                          const std::optional<std::string> run = Query(request, "run");
                          if (run) filter.run_glob = LiteralGlob(*run);
                          filter.limit = kFlagsPageLimit;
                          auto flags = store.ListFlags(filter);
                          if (!flags.ok()) return ErrorResponse(request, flags.status());
                          return api::HtmlOk(FlagsPage(ContextOf(request), *flags, run));
                        }));

  api::Route login_form;
  login_form.method = "GET";
  login_form.pattern = "/login";
  login_form.public_route = true;
  login_form.browser_page = true;
  login_form.summary = "dashboard: the token form (HTML)";
  login_form.handler = [](const api::HttpRequest& request) {
    // Without a token there is nothing to log in to.
    if (request.sessions == nullptr) return Redirect("/");
    return api::HtmlOk(LoginPage(Query(request, "next").value_or("/"), ""));
  };
  routes.push_back(std::move(login_form));

  api::Route login;
  login.method = "POST";
  login.pattern = "/login";
  login.public_route = true;
  login.browser_page = true;
  login.summary = "dashboard: check the token, set the session cookie (form: token, next)";
  login.handler = [shared](const api::HttpRequest& request) {
    if (request.sessions == nullptr) return Redirect("/");
    auto type = request.headers.find("content-type");
    if (type == request.headers.end() ||
        type->second.rfind("application/x-www-form-urlencoded", 0) != 0) {
      return api::HtmlOk(LoginPage("/",
                                   "the form must be sent as "
                                   "application/x-www-form-urlencoded"),
                         415);
    }
    auto form = api::ParseFormBody(request.body);
    if (!form.ok()) return api::HtmlOk(LoginPage("/", form.status().message()), 400);
    auto next = form->find("next");
    const std::string target = SafeNext(next == form->end() ? "/" : next->second);
    auto token = form->find("token");
    if (token == form->end() || !request.sessions->TokenMatches(token->second)) {
      api::HttpResponse refused = api::HtmlOk(LoginPage(target, "wrong token"), 401);
      refused.headers.emplace_back("WWW-Authenticate", "Bearer");
      return refused;
    }
    const WallTime now =
        shared->clock != nullptr ? shared->clock->WallNow() : std::chrono::system_clock::now();
    api::HttpResponse response = Redirect(target);
    response.headers.emplace_back("Set-Cookie", request.sessions->SetCookieHeader(now));
    return response;
  };
  routes.push_back(std::move(login));

  api::Route logout;
  logout.method = "POST";
  logout.pattern = "/logout";
  logout.browser_page = true;
  logout.summary = "dashboard: clear the session cookie";
  logout.handler = [](const api::HttpRequest& request) {
    api::HttpResponse response = Redirect(request.sessions == nullptr ? "/" : "/login");
    response.headers.emplace_back("Set-Cookie", std::string(api::kSessionCookieName) +
                                                    "=; HttpOnly; SameSite=Strict; Path=/; "
                                                    "Max-Age=0");
    return response;
  };
  routes.push_back(std::move(logout));
  return routes;
}

}  // namespace tw::dashboard
