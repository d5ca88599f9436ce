-- TransferWatch schema, migration 0003: the job queue the daemons share, where checkpoint files
-- were seen, and run architectures for state-dict checkpoints.

-- How the file's bytes are laid out (read from its zip directory, never by loading it):
-- 'torchscript' runs as is; 'state_dict' and 'legacy' need their run's architecture file.
ALTER TABLE tw.checkpoints
  ADD COLUMN format text CHECK (format IN ('torchscript', 'state_dict', 'legacy'));

-- A run's TorchScript architecture for its state-dict checkpoints (arch.pt in the run folder, or
-- `transferwatch runs set-arch`). Its hash is part of those checkpoints' evaluation keys.
ALTER TABLE tw.runs
  ADD COLUMN arch_path   text CHECK (arch_path LIKE '/%'),
  ADD COLUMN arch_sha256 text CHECK (arch_sha256 ~ '^[0-9a-f]{64}$'),
  ADD CONSTRAINT runs_arch_complete CHECK ((arch_path IS NULL) = (arch_sha256 IS NULL));

-- Every place a checkpoint's bytes were seen: copies, renames, other hosts. A worker evaluates
-- from any of them after re-hashing (the evaluator refuses bytes that do not match).
CREATE TABLE tw.checkpoint_files (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checkpoint_id bigint NOT NULL REFERENCES tw.checkpoints (id) ON DELETE CASCADE,
  host          text NOT NULL CHECK (host <> '' AND length(host) <= 255),
  path          text NOT NULL CHECK (path LIKE '/%' AND length(path) <= 4096),
  -- The file's size and mtime when it was hashed: a daemon restarting over a folder of known
  -- checkpoints skips re-hashing a file whose (host, path, size, mtime) is already here.
  size_bytes    bigint CHECK (size_bytes >= 0),
  mtime_ns      bigint,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (checkpoint_id, host, path)
);

-- One job per evaluation key. States:
--   pending   waiting to be claimed (run_after says from when: retries back off)
--   running   claimed under lease_token until lease_expires_at (heartbeats move it)
--   done      its evaluation is recorded (evaluation_id), in the same transaction
--   dead      failed max_attempts times, or failed in a way a retry cannot fix (last_error)
--   cancelled by an operator
CREATE TABLE tw.jobs (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  evaluation_key     text NOT NULL UNIQUE CHECK (evaluation_key ~ '^[0-9a-f]{64}$'),
  checkpoint_id      bigint NOT NULL REFERENCES tw.checkpoints (id) ON DELETE CASCADE,
  dataset_version_id bigint NOT NULL REFERENCES tw.dataset_versions (id) ON DELETE CASCADE,
  eval_config_sha256 text NOT NULL CHECK (eval_config_sha256 ~ '^[0-9a-f]{64}$'),
  eval_config        text NOT NULL,  -- canonical JSON, as hashed
  eval_config_hash_version integer NOT NULL CHECK (eval_config_hash_version >= 1),
  arch_sha256        text CHECK (arch_sha256 ~ '^[0-9a-f]{64}$'),
  -- Workers claim only jobs of their own evaluator version: the key was computed with it.
  evaluator_version  text NOT NULL CHECK (evaluator_version <> ''),
  -- Higher first: a new checkpoint's jobs before back-fills for a newly registered dataset.
  priority           integer NOT NULL DEFAULT 0,
  state              text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'running', 'done', 'dead', 'cancelled')),
  attempt            integer NOT NULL DEFAULT 0 CHECK (attempt >= 0),
  max_attempts       integer NOT NULL CHECK (max_attempts >= 1),
  run_after          timestamptz NOT NULL DEFAULT now(),
  -- A fresh token per claim: completion, failure and heartbeats match it, so a worker whose
  -- lease was rescued and given to another cannot write (it finds no row).
  lease_token        text CHECK (lease_token ~ '^[0-9a-f]{32}$'),
  leased_by          text,
  lease_expires_at   timestamptz,
  heartbeat_at       timestamptz,
  started_at         timestamptz,
  finished_at        timestamptz,
  evaluation_id      bigint REFERENCES tw.evaluations (id) ON DELETE SET NULL,
  last_error         text,
  -- Every failed attempt: [{"attempt": n, "at": ..., "worker": ..., "error": ...}].
  errors             jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(errors) = 'array'),
  created_at         timestamptz NOT NULL DEFAULT now(),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT jobs_running_has_lease CHECK
    ((state = 'running') = (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL)),
  CONSTRAINT jobs_attempts_bounded CHECK (attempt <= max_attempts)
);
-- The claim's scan: pending jobs in priority order.
CREATE INDEX jobs_pending ON tw.jobs (evaluator_version, priority DESC, id) WHERE state = 'pending';
CREATE INDEX jobs_pending_checkpoint ON tw.jobs (checkpoint_id) WHERE state = 'pending';
-- The rescuer's scan.
CREATE INDEX jobs_running_lease ON tw.jobs (lease_expires_at) WHERE state = 'running';
CREATE INDEX jobs_lease_token ON tw.jobs (lease_token) WHERE lease_token IS NOT NULL;
-- The planner's memory: a (checkpoint, dataset version, config, architecture) that has a job of
-- any evaluator version is planned; an evaluator upgrade re-queues only when asked to.
CREATE INDEX jobs_plan ON tw.jobs (dataset_version_id, eval_config_sha256, checkpoint_id);
CREATE INDEX jobs_state_updated ON tw.jobs (state, updated_at);
