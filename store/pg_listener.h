// JobNotifications over a dedicated PostgreSQL connection that LISTENs on 'tw_jobs' and
// 'tw_outbox'.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"
#include "store/job_queue.h"

namespace tw {

class PgJobListener : public JobNotifications {
 public:
  // Unavailable when the server cannot be reached.
  static StatusOr<std::unique_ptr<PgJobListener>> Connect(const std::string& conninfo);
  ~PgJobListener() override;

  StatusOr<int> Wait(std::chrono::milliseconds timeout) override;

 private:
  struct Impl;
  explicit PgJobListener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tw
