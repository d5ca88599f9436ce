// Running one evaluation job (protocol/evaluator_protocol.h): one checkpoint on several
// datasets. Datasets with the same preprocessing share one pass over the union of their files:
// every image goes through the model once, and each dataset scores it by its own protocol.
#pragma once

#include <functional>
#include <string>

#include "protocol/evaluator_protocol.h"

namespace tw::eval {

// Receives each event line (JSON, no newline) as it happens.
using EventSink = std::function<void(const std::string& line)>;

// Runs the job and returns transferwatch-eval's exit code (protocol::kEvaluatorExit*). Never
// throws; every failure is an error event naming the file and the reason.
int RunJob(const protocol::Job& job, const EventSink& emit);

}  // namespace tw::eval
