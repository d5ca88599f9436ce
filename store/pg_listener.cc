#include "store/pg_listener.h"

#include "store/pg_internal.h"

namespace tw {

namespace {
class Receiver : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& conn, const char* channel, int* count)
      : pqxx::notification_receiver(conn, channel), count_(count) {}
  void operator()(const std::string& /*payload*/, int /*backend_pid*/) override { ++*count_; }

 private:
  int* count_;
};
}  // namespace

struct PgJobListener::Impl {
  explicit Impl(const std::string& conninfo)
      : conn(conninfo), jobs(conn, "tw_jobs", &count), outbox(conn, "tw_outbox", &count) {}
  int count = 0;
  pqxx::connection conn;
  Receiver jobs;    // jobs queued, released, rescued, retried
  Receiver outbox;  // events to deliver
};

PgJobListener::PgJobListener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgJobListener::~PgJobListener() = default;

StatusOr<std::unique_ptr<PgJobListener>> PgJobListener::Connect(const std::string& conninfo) {
  std::unique_ptr<Impl> impl;
  Status status = pg::PgCall("cannot listen for job notifications", [&] {
    impl = std::make_unique<Impl>(conninfo);
    // LISTEN is sent when the first transaction (or await) runs; make it happen now, so a
    // notification sent right after Connect returns is not missed.
    pqxx::nontransaction tx(impl->conn);
    tx.exec("SELECT 1");
    return OkStatus();
  });
  if (!status.ok()) return UnavailableError(status.message());
  return std::unique_ptr<PgJobListener>(new PgJobListener(std::move(impl)));
}

StatusOr<int> PgJobListener::Wait(std::chrono::milliseconds timeout) {
  int before = impl_->count;
  Status status = pg::PgCall("waiting for job notifications", [&] {
    long ms = static_cast<long>(timeout.count());
    impl_->conn.await_notification(ms / 1000, (ms % 1000) * 1000);
    return OkStatus();
  });
  if (!status.ok()) return UnavailableError(status.message());
  return impl_->count - before;
}

}  // namespace tw
