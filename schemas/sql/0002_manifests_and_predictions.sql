-- TransferWatch schema, migration 0002: dataset manifests and versions, and what an evaluator
-- run records beyond the aggregate numbers (per-sample predictions, per-class accuracy).

-- A manifest: every file's relative path, SHA-256 and label(s), plus the scoring protocol,
-- as canonical JSON (docs/datasets.md). Content-addressed and immutable.
CREATE TABLE tw.manifests (
  sha256       text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
  canonical    text NOT NULL,
  -- Digest of the (path, sha256) list alone: manifests with the same one describe the same
  -- images (ImageNet val and ReaL), which the evaluator runs through the model once.
  files_sha256 text NOT NULL CHECK (files_sha256 ~ '^[0-9a-f]{64}$'),
  num_files    integer NOT NULL CHECK (num_files > 0),
  total_bytes  bigint NOT NULL CHECK (total_bytes >= 0),
  created_at   timestamptz NOT NULL DEFAULT now()
);

-- Each registration of a dataset with new content is a new version; old evaluations keep
-- pointing at the manifest they were computed on (evaluations.manifest_sha256).
CREATE TABLE tw.dataset_versions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  dataset_id      bigint NOT NULL REFERENCES tw.datasets (id) ON DELETE CASCADE,
  version         integer NOT NULL CHECK (version >= 1),
  manifest_sha256 text NOT NULL REFERENCES tw.manifests (sha256),
  -- Where the files were on the registering host. Workers on other hosts map it (daemon config).
  root            text NOT NULL CHECK (root LIKE '/%'),
  -- The dataset's default preprocessing (img_size, crop_pct, interpolation, mean, std,
  -- channels), overridden by flags at evaluation time.
  default_config  jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(default_config) = 'object'),
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (dataset_id, version),
  UNIQUE (dataset_id, manifest_sha256)
);

-- The dataset's current manifest is its newest version's.
ALTER TABLE tw.datasets
  ADD CONSTRAINT datasets_manifest_known FOREIGN KEY (manifest_sha256) REFERENCES tw.manifests (sha256);

ALTER TABLE tw.evaluations
  -- A state-dict checkpoint is evaluated through an architecture file; its hash is part of the
  -- evaluation key and recorded here.
  ADD COLUMN arch_sha256 text CHECK (arch_sha256 ~ '^[0-9a-f]{64}$'),
  -- Accuracy (percent) per model class; null entries for classes without samples.
  ADD COLUMN per_class jsonb CHECK (per_class IS NULL OR jsonb_typeof(per_class) = 'array'),
  ADD COLUMN predictions_digest text CHECK (predictions_digest ~ '^[0-9a-f]{64}$');

-- Per-sample predictions of one evaluation, in the manifest's file order: top-5 classes,
-- correct or not, probability of the true class (scoring/records.h, format 'twpr1').
CREATE TABLE tw.predictions (
  evaluation_id bigint PRIMARY KEY REFERENCES tw.evaluations (id) ON DELETE CASCADE,
  format        text NOT NULL CHECK (format = 'twpr1'),
  num_samples   integer NOT NULL CHECK (num_samples >= 0),
  digest        text NOT NULL CHECK (digest ~ '^[0-9a-f]{64}$'),
  data          bytea NOT NULL
);
