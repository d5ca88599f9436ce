-- TransferWatch schema, migration 0001: runs, checkpoints, datasets, eval configs, evaluations.
--
-- Forward-only: once applied anywhere, this file never changes (the migrator records its
-- SHA-256 and refuses to run when an applied file was edited). Later changes are new files.
-- Every table lives in the schema "tw" so that a shared database stays tidy.
-- Hashes are lowercase hex SHA-256 text; the CHECKs keep anything else out.

CREATE TABLE tw.runs (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- The run folder's name (not the host's path): the same run seen from two hosts is one run.
  name       text NOT NULL UNIQUE
             CHECK (name <> '' AND length(name) <= 255 AND position('/' IN name) = 0),
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tw.checkpoints (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- 'file': a checkpoint file, identified by the SHA-256 of its bytes.
  -- 'import': a published model imported with its results (timm); it has no file.
  origin        text NOT NULL CHECK (origin IN ('file', 'import')),
  sha256        text UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  run_id        bigint REFERENCES tw.runs (id),
  -- The file name inside its run, or the imported model's name.
  name          text NOT NULL CHECK (name <> '' AND length(name) <= 1024),
  import_source text CHECK (import_source ~ '^[a-z0-9][a-z0-9_-]*$'),
  step          bigint,
  size_bytes    bigint CHECK (size_bytes >= 0),
  -- Sidecar data of a file; param_count_m, pretrain etc. of an imported model.
  metadata      jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT checkpoints_file_has_hash CHECK ((origin = 'file') = (sha256 IS NOT NULL)),
  CONSTRAINT checkpoints_file_has_run CHECK ((origin = 'file') = (run_id IS NOT NULL)),
  CONSTRAINT checkpoints_import_has_source CHECK ((origin = 'import') = (import_source IS NOT NULL))
);
-- An imported model is named once per source; files are unique by hash (above).
CREATE UNIQUE INDEX checkpoints_import_name ON tw.checkpoints (import_source, name)
  WHERE origin = 'import';
CREATE INDEX checkpoints_run_step ON tw.checkpoints (run_id, step) WHERE run_id IS NOT NULL;
-- Name patterns (`--model 'resnet50*'`) narrow by their literal prefix with LIKE 'prefix%'.
CREATE INDEX checkpoints_name_prefix ON tw.checkpoints (name text_pattern_ops);

CREATE TABLE tw.datasets (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name            text NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
  -- The dataset gains are measured on when this one is a variant (imagenet-a -> imagenet-a-clean).
  reference_id    bigint REFERENCES tw.datasets (id),
  -- Label layout, class subset, multi-label rule, preprocessing constraints (canonical JSON).
  protocol        jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(protocol) = 'object'),
  -- NULL for a dataset known only from imported results, until `dataset add` attaches one.
  manifest_sha256 text CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  num_samples     integer CHECK (num_samples >= 0),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT datasets_not_own_reference CHECK (reference_id <> id)
);

CREATE TABLE tw.eval_configs (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sha256       text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  hash_version integer NOT NULL CHECK (hash_version >= 1),
  -- The exact canonical JSON text that was hashed (docs/canonical-json.md); jsonb would reorder.
  canonical    text NOT NULL,
  config       jsonb GENERATED ALWAYS AS (canonical::jsonb) STORED,
  created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tw.evaluations (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- SHA-256 over checkpoint, dataset manifest, eval config and evaluator version: same key,
  -- same result, so it is recorded once.
  evaluation_key  text NOT NULL UNIQUE CHECK (evaluation_key ~ '^[0-9a-f]{64}$'),
  checkpoint_id   bigint NOT NULL REFERENCES tw.checkpoints (id),
  dataset_id      bigint NOT NULL REFERENCES tw.datasets (id),
  eval_config_id  bigint NOT NULL REFERENCES tw.eval_configs (id),
  -- The manifest evaluated against; NULL only for imported results.
  manifest_sha256 text CHECK (manifest_sha256 ~ '^[0-9a-f]{64}$'),
  source          text NOT NULL CHECK (source IN ('import', 'evaluator')),
  -- Accuracies in percent, as timm writes them.
  top1            double precision NOT NULL CHECK (top1 >= 0 AND top1 <= 100),
  top5            double precision CHECK (top5 >= 0 AND top5 <= 100),
  num_samples     integer CHECK (num_samples >= 0),
  -- Negative log-likelihood and expected calibration error (15 bins): the brief's scalar
  -- metrics besides accuracy, columns so that "best by NLL" is an index scan. NULL when unknown
  -- (published results carry neither).
  nll             double precision CHECK (nll >= 0),
  ece             double precision CHECK (ece >= 0 AND ece <= 1),
  -- Further metrics by name (CE/mCE, per-class summaries...), numbers by convention of writers.
  metrics         jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metrics) = 'object'),
  -- Where the numbers came from: source file and its SHA-256, or code/LibTorch versions, host.
  provenance      jsonb NOT NULL CHECK (jsonb_typeof(provenance) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT evaluations_evaluator_has_manifest
    CHECK (source = 'import' OR manifest_sha256 IS NOT NULL)
);
CREATE INDEX evaluations_checkpoint ON tw.evaluations (checkpoint_id, dataset_id);
CREATE INDEX evaluations_dataset_top1 ON tw.evaluations (dataset_id, top1 DESC);
CREATE INDEX evaluations_dataset_nll ON tw.evaluations (dataset_id, nll);
CREATE INDEX evaluations_dataset_ece ON tw.evaluations (dataset_id, ece);
-- Newest first, ties by id: the default order of history queries, read straight off the index.
CREATE INDEX evaluations_created_at ON tw.evaluations (created_at, id);
