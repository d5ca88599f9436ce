// transferwatchd benchmarks, printed side by side:
//   1. detection latency: from the rename of a complete checkpoint into a run folder to its jobs
//      being queued (the NOTIFY sent at the enqueue's commit), with inotify and with rescans only;
//   2. queue throughput: claims + completions per second with 1 and 4 daemons, trivial evaluator;
//   3. daemon RSS: idle, and after 200 and 1,000 evaluations (growth = a leak).
// Usage: daemon_bench DATABASE_URL TRANSFERWATCHD TRANSFERWATCH FAKE_EVALUATOR [--quick]
#include <httplib.h>  // dep::httplib brings its CPPHTTPLIB_* defines
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/pg_admin.h"
#include "store/pg_listener.h"
#include "store/pg_store.h"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string g_url, g_daemon, g_cli, g_fake, g_dir;

double Percentile(std::vector<double> v, double p);

void Check(const tw::Status& status, const char* what) {
  if (!status.ok()) {
    std::cerr << what << ": " << status.ToString() << "\n";
    std::exit(1);
  }
}

bool WriteTorchScriptZip(const std::string& path, const std::string& payload) {
  int error = 0;
  zip_t* zip = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  if (zip == nullptr) return false;
  std::vector<std::pair<std::string, std::string>> entries = {
      {"archive/code/__torch__.py", "def forward(self, x):\n  return x\n"},
      {"archive/constants.pkl", payload},
      {"archive/data.pkl", "data"}};
  for (const auto& [name, contents] : entries) {
    zip_source_t* source = zip_source_buffer(zip, contents.data(), contents.size(), 0);
    zip_int64_t index = zip_file_add(zip, name.c_str(), source, ZIP_FL_OVERWRITE);
    zip_set_file_compression(zip, static_cast<zip_uint64_t>(index), ZIP_CM_STORE, 0);
  }
  return zip_close(zip) == 0;
}

struct Child {
  pid_t pid = -1;
  ~Child() { Stop(); }
  void Stop() {
    if (pid <= 0) return;
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    pid = -1;
  }
};

// A fresh database, with one dataset of 4 files registered through the CLI.
std::string FreshDatabase(const std::string& name) {
  std::string db = "tw_bench_" + name + "_" + std::to_string(::getpid());
  tw::DropDatabase(g_url, db).ok();
  Check(tw::CreateDatabase(g_url, db), "create database");
  std::string conninfo = tw::ConninfoForDatabase(g_url, db);
  std::string data = g_dir + "/data";
  std::filesystem::create_directories(data + "/n01440764");
  for (int i = 0; i < 4; ++i) {
    std::ofstream(data + "/n01440764/img" + std::to_string(i) + ".JPEG") << "image " << i;
  }
  std::string command = g_cli + " --database '" + conninfo + "' dataset add val " + data +
                        " --layout wnid-folders >/dev/null";
  if (std::system(command.c_str()) != 0) {
    std::cerr << "dataset add failed\n";
    std::exit(1);
  }
  return conninfo;
}

std::unique_ptr<Child> StartDaemon(const std::string& conninfo, const std::string& root,
                                   const std::string& name, int slots, bool inotify,
                                   const std::string& rescan = "2s") {
  std::string state = g_dir + "/state-" + name;
  std::filesystem::create_directories(state);
  ::chmod(state.c_str(), 0755);
  std::string config = g_dir + "/" + name + ".toml";
  std::ofstream(config) << "[watch]\nroots = [\"" << root << "\"]\nsettle = \"200ms\"\n"
                        << "rescan_interval = \"" << rescan
                        << "\"\ninotify = " << (inotify ? "true" : "false")
                        << "\n[eval]\nevaluator = \"" << g_fake
                        << "\"\n[workers]\nslots = " << slots
                        << "\npoll_interval = \"1s\"\nplan_interval = \"5s\"\n[api]\nenabled = "
                           "false\n[log]\nlevel = \"warn\"\n";
  auto child = std::make_unique<Child>();
  std::fflush(nullptr);  // or the child's freopen writes our buffered lines again
  child->pid = ::fork();
  if (child->pid == 0) {
    std::string log = g_dir + "/" + name + ".log";
    std::freopen(log.c_str(), "a", stdout);
    std::freopen(log.c_str(), "a", stderr);
    ::execl(g_daemon.c_str(), g_daemon.c_str(), "--config", config.c_str(), "--database",
            conninfo.c_str(), "--state-dir", state.c_str(), nullptr);
    ::_exit(127);
  }
  return child;
}

long RssKb(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

std::string MakeRoot(const std::string& name) {
  std::string root = g_dir + "/" + name;
  std::filesystem::create_directories(root + "/run");
  ::chmod(root.c_str(), 0755);
  ::chmod((root + "/run").c_str(), 0755);
  return root;
}

// 3. From a flag's commit (its outbox event and delivery rows) to the webhook receiving it.
void AlertLatency(int samples) {
  std::string db = "tw_bench_alerts_" + std::to_string(::getpid());
  tw::DropDatabase(g_url, db).ok();
  Check(tw::CreateDatabase(g_url, db), "create database");
  std::string conninfo = tw::ConninfoForDatabase(g_url, db);
  for (const std::string name : {"imagenet", "sketch"}) {
    std::string data = g_dir + "/alerts-data/" + name;
    std::filesystem::create_directories(data + "/n01440764");
    for (int i = 0; i < 400; ++i) {
      std::ofstream(data + "/n01440764/img" + std::to_string(1000 + i) + ".JPEG") << name << i;
    }
    std::string command = g_cli + " --database '" + conninfo + "' dataset add " + name + " " +
                          data + " --layout wnid-folders" +
                          (name == "sketch" ? " --reference imagenet" : "") + " >/dev/null";
    if (std::system(command.c_str()) != 0) std::exit(1);
  }
  httplib::Server server;
  std::mutex mu;
  std::map<std::string, Clock::time_point> received;  // webhook-id -> when
  server.Post("/hook", [&](const httplib::Request& req, httplib::Response& res) {
    std::lock_guard<std::mutex> lock(mu);
    received.emplace(req.get_header_value("webhook-id"), Clock::now());
    res.status = 204;
  });
  int port = server.bind_to_any_port("127.0.0.1");
  std::thread serving([&] { server.listen_after_bind(); });
  auto store = tw::PgStore::Connect(conninfo);
  Check(store.status(), "connect");
  tw::NewWebhook hook;
  hook.url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  hook.format = "generic";
  hook.secrets = {"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"};
  hook.events = {"regression"};
  hook.allow_private_network = true;
  Check((*store)->AddWebhook(hook).status(), "add webhook");
  std::string root = MakeRoot("watch-alerts");
  auto daemon = StartDaemon(conninfo, root, "alerts", 2, true);
  std::this_thread::sleep_for(1500ms);
  auto write = [&](const std::string& run, const std::string& name, int imagenet, int sketch) {
    std::filesystem::create_directories(root + "/" + run);
    ::chmod((root + "/" + run).c_str(), 0755);
    std::string path = root + "/" + run + "/" + name;
    // The run and file name in the bytes: every checkpoint its own hash.
    WriteTorchScriptZip(path + ".tmp", run + "/" + name +
                                           " TWFAKE:ACC=imagenet=" + std::to_string(imagenet) +
                                           "; TWFAKE:ACC=sketch=" + std::to_string(sketch) + ";");
    ::chmod((path + ".tmp").c_str(), 0644);
    std::filesystem::rename(path + ".tmp", path);
  };
  for (int i = 0; i < samples; ++i) write("r" + std::to_string(i), "step_1.pt", 200, 240);
  // The first checkpoints are evaluated before the second ones arrive.
  while (true) {
    auto counts = (*store)->Counts();
    if (counts.ok() && counts->evaluations >= 2 * samples) break;
    std::this_thread::sleep_for(50ms);
  }
  for (int i = 0; i < samples; ++i) write("r" + std::to_string(i), "step_2.pt", 300, 160);
  std::vector<tw::DeliveryInfo> delivered;
  auto deadline = Clock::now() + 120s;
  while (Clock::now() < deadline) {
    auto d = (*store)->ListDeliveries(std::nullopt, std::string("delivered"), 10000);
    if (d.ok() && static_cast<int>(d->size()) >= samples) {
      delivered = *d;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  server.stop();
  serving.join();
  // Both clocks are this machine's: the delivery row's created_at is the flag's commit.
  std::vector<double> ms;
  auto steady_now = Clock::now();
  auto wall_now = std::chrono::system_clock::now();
  for (const auto& d : delivered) {
    auto it = received.find(d.event_id);
    if (it == received.end()) continue;
    auto received_wall = wall_now - (steady_now - it->second);
    ms.push_back(std::chrono::duration<double, std::milli>(received_wall - d.created_at).count());
  }
  if (ms.empty()) {
    auto all = (*store)->ListDeliveries(std::nullopt, std::nullopt, 10000);
    auto flags = (*store)->ListFlags(tw::FlagFilter{});
    std::printf("  no webhook was received: %zu deliveries (%s), %zu flags, %zu requests\n",
                all.ok() ? all->size() : 0,
                all.ok() && !all->empty() ? (*all)[0].state.c_str() : "-",
                flags.ok() ? flags->size() : 0, received.size());
    std::ifstream log(g_dir + "/alerts.log");  // the daemon's warnings say why
    std::string line;
    while (std::getline(log, line)) std::printf("    %s\n", line.c_str());
    return;
  }
  std::printf("  %-44s median %7.1f ms   p95 %7.1f ms   (n=%zu)\n",
              "flag committed -> webhook received", Percentile(ms, 0.5), Percentile(ms, 0.95),
              ms.size());
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1) + 0.5)];
}

void DetectionLatency(bool inotify, int samples) {
  std::string conninfo = FreshDatabase(inotify ? "inotify" : "polling");
  std::string root = MakeRoot(inotify ? "watch-inotify" : "watch-polling");
  auto daemon = StartDaemon(conninfo, root, inotify ? "inotify" : "polling", 0, inotify, "1s");
  auto listener = tw::PgJobListener::Connect(conninfo);
  Check(listener.status(), "listen");
  std::this_thread::sleep_for(1500ms);  // READY
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    std::string tmp = root + "/run/.c" + std::to_string(i) + ".pt.tmp";
    WriteTorchScriptZip(tmp, "weights " + std::to_string(i) + (inotify ? "i" : "p"));
    ::chmod(tmp.c_str(), 0644);
    (*listener)->Wait(10ms).ok();  // drain anything earlier
    auto start = Clock::now();
    std::filesystem::rename(tmp, root + "/run/c" + std::to_string(i) + ".pt");
    int seen = 0;
    while (seen == 0 && Clock::now() - start < 10s) {
      auto n = (*listener)->Wait(100ms);
      if (n.ok()) seen += *n;
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::this_thread::sleep_for(50ms);
  }
  std::printf("  %-44s median %7.1f ms   p95 %7.1f ms   (n=%d)\n",
              inotify ? "inotify (close-write / moved-to)" : "rescans only (every 1 s)",
              Percentile(ms, 0.5), Percentile(ms, 0.95), samples);
}

// Checkpoints registered and their jobs queued directly, then `daemons` daemons drain them.
void Throughput(int daemons, int slots, int jobs, bool report_rss) {
  std::string name = "q" + std::to_string(daemons);
  std::string conninfo = FreshDatabase(name);
  std::string root = MakeRoot("watch-" + name);
  // The files are written before any daemon starts; the first rescan registers and plans them.
  for (int i = 0; i < jobs; ++i) {
    std::string path = root + "/run/c" + std::to_string(i) + ".pt";
    WriteTorchScriptZip(path, name + " weights " + std::to_string(i));
    ::chmod(path.c_str(), 0644);
  }
  auto store = tw::PgStore::Connect(conninfo);
  Check(store.status(), "connect");
  std::vector<std::unique_ptr<Child>> children;
  for (int d = 0; d < daemons; ++d) {
    children.push_back(StartDaemon(conninfo, root, name + "-" + std::to_string(d), slots, true));
  }
  std::this_thread::sleep_for(1000ms);
  long idle_rss = RssKb(children[0]->pid);
  // Timed from the first claim to the last completion.
  Clock::time_point first{}, last{};
  long rss_200 = 0;
  while (true) {
    auto counts = (*store)->CountJobs();
    if (!counts.ok()) continue;
    if (first == Clock::time_point{} && (counts->running > 0 || counts->done > 0)) {
      first = Clock::now();
    }
    if (rss_200 == 0 && counts->done >= 200) rss_200 = RssKb(children[0]->pid);
    if (counts->done + counts->dead >= jobs) {
      last = Clock::now();
      break;
    }
    std::this_thread::sleep_for(20ms);
  }
  double s = std::chrono::duration<double>(last - first).count();
  long final_rss = RssKb(children[0]->pid);
  std::printf("  %d daemon(s) x %d slot(s): %5d jobs in %6.2f s = %7.1f claims+completions/s\n",
              daemons, slots, jobs, s, jobs / s);
  if (report_rss) {
    std::printf("  daemon RSS: idle %ld KiB, after 200 evaluations %ld KiB, after %d: %ld KiB\n",
                idle_rss, rss_200, jobs, final_rss);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 5) {
    std::cerr << "usage: daemon_bench DATABASE_URL TRANSFERWATCHD TRANSFERWATCH FAKE_EVALUATOR "
                 "[--quick]\n";
    return 2;
  }
  g_url = argv[1];
  g_daemon = argv[2];
  g_cli = argv[3];
  g_fake = argv[4];
  bool quick = argc > 5 && std::string(argv[5]) == "--quick";
  char pattern[] = "/tmp/tw-daemon-bench-XXXXXX";
  g_dir = ::mkdtemp(pattern);
  ::chmod(g_dir.c_str(), 0755);
  std::printf("\nDetection latency: rename of a complete checkpoint -> its jobs queued\n");
  DetectionLatency(true, quick ? 10 : 40);
  DetectionLatency(false, quick ? 5 : 15);
  std::printf("\nAlerts: a regression flag to its webhook (NOTIFY-woken sender, 127.0.0.1)\n");
  AlertLatency(quick ? 5 : 20);
  std::printf("\nQueue throughput with a trivial evaluator (one process per claim)\n");
  int jobs = quick ? 200 : 1000;
  Throughput(1, 2, jobs, /*report_rss=*/true);
  Throughput(4, 1, jobs, false);
  std::filesystem::remove_all(g_dir);
  return 0;
}
