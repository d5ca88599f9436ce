-- TransferWatch schema, migration 0004: paired transfer checks between checkpoints, pinned
-- baselines, and the outbox of events for webhook delivery.

-- Checkpoints every new checkpoint is also compared with (`transferwatch baseline pin`).
CREATE TABLE tw.baselines (
  checkpoint_id bigint PRIMARY KEY REFERENCES tw.checkpoints (id) ON DELETE CASCADE,
  note          text CHECK (length(note) <= 500),
  pinned_at     timestamptz NOT NULL DEFAULT now()
);

-- One row per (checkpoint, reference checkpoint, variant dataset): the paired comparison on the
-- variant and on its reference dataset, with every number, and the verdict. Recomputing is
-- idempotent (the unique key); a regression or no-transfer row is a flag.
CREATE TABLE tw.transfer_checks (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  checkpoint_id           bigint NOT NULL REFERENCES tw.checkpoints (id) ON DELETE CASCADE,
  reference_checkpoint_id bigint NOT NULL REFERENCES tw.checkpoints (id) ON DELETE CASCADE,
  -- Why that checkpoint: the run's previous one, the run's best so far on the primary
  -- reference dataset, or a pinned baseline (several kinds may name the same checkpoint).
  reference_kinds         text[] NOT NULL CHECK (reference_kinds <@ ARRAY['previous', 'best', 'baseline']
                                                 AND cardinality(reference_kinds) >= 1),
  variant_dataset_id      bigint NOT NULL REFERENCES tw.datasets (id) ON DELETE CASCADE,
  reference_dataset_id    bigint NOT NULL REFERENCES tw.datasets (id) ON DELETE CASCADE,
  variant_evaluation_id   bigint NOT NULL REFERENCES tw.evaluations (id) ON DELETE CASCADE,
  variant_reference_evaluation_id bigint NOT NULL REFERENCES tw.evaluations (id) ON DELETE CASCADE,
  verdict                 text NOT NULL CHECK (verdict IN ('none', 'regression', 'no-transfer')),
  alpha                   double precision NOT NULL CHECK (alpha > 0 AND alpha < 1),
  min_gain                double precision NOT NULL CHECK (min_gain >= 0),
  -- On the reference dataset ref(V): new minus old, percent points, its CI and exact p.
  ref_n                   integer NOT NULL CHECK (ref_n > 0),
  ref_only_new            integer NOT NULL CHECK (ref_only_new >= 0),
  ref_only_old            integer NOT NULL CHECK (ref_only_old >= 0),
  ref_delta               double precision NOT NULL,
  ref_ci_low              double precision NOT NULL,
  ref_ci_high             double precision NOT NULL,
  ref_p                   double precision NOT NULL CHECK (ref_p >= 0 AND ref_p <= 1),
  ref_p_mid               double precision NOT NULL CHECK (ref_p_mid >= 0 AND ref_p_mid <= 1),
  -- On the variant V.
  var_n                   integer NOT NULL CHECK (var_n > 0),
  var_only_new            integer NOT NULL CHECK (var_only_new >= 0),
  var_only_old            integer NOT NULL CHECK (var_only_old >= 0),
  var_delta               double precision NOT NULL,
  var_ci_low              double precision NOT NULL,
  var_ci_high             double precision NOT NULL,
  var_p                   double precision NOT NULL CHECK (var_p >= 0 AND var_p <= 1),
  var_p_mid               double precision NOT NULL CHECK (var_p_mid >= 0 AND var_p_mid <= 1),
  var_p_holm              double precision NOT NULL CHECK (var_p_holm >= 0 AND var_p_holm <= 1),
  holm_family_size        integer NOT NULL CHECK (holm_family_size >= 1),
  acknowledged_at         timestamptz,
  acknowledged_by         text,
  created_at              timestamptz NOT NULL DEFAULT now(),
  UNIQUE (checkpoint_id, reference_checkpoint_id, variant_dataset_id),
  CONSTRAINT transfer_checks_not_self CHECK (checkpoint_id <> reference_checkpoint_id)
);
CREATE INDEX transfer_checks_flags ON tw.transfer_checks (created_at DESC) WHERE verdict <> 'none';

-- Events to deliver (webhooks), written in the transaction that produced them; a sender in
-- any daemon delivers them. event_id is the webhook-id, stable across retries.
CREATE TABLE tw.outbox (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id    text NOT NULL UNIQUE CHECK (event_id ~ '^msg_[0-9A-Za-z]{10,40}$'),
  event_type  text NOT NULL CHECK (event_type IN ('regression', 'no-transfer', 'eval-failed', 'test')),
  -- What produced it: one event per (checkpoint, reference checkpoint, type) for flags.
  dedup_key   text NOT NULL UNIQUE,
  payload     jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Webhook destinations (`transferwatch webhook add`). Secrets are whsec_ values; two during a
-- rotation (both signatures are sent). They are read by the senders and never logged.
CREATE TABLE tw.webhooks (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  url                   text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2048),
  format                text NOT NULL
                        CHECK (format IN ('slack', 'mattermost', 'discord', 'teams', 'generic')),
  secrets               text[] NOT NULL CHECK (cardinality(secrets) BETWEEN 1 AND 2),
  events                text[] NOT NULL DEFAULT ARRAY['regression']
                        CHECK (events <@ ARRAY['regression', 'no-transfer', 'eval-failed', 'test']
                               AND cardinality(events) >= 1),
  allow_private_network boolean NOT NULL DEFAULT false,
  created_at            timestamptz NOT NULL DEFAULT now()
);

-- One delivery per (event, destination), created with the event: the sender's queue.
CREATE TABLE tw.deliveries (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  outbox_id        bigint NOT NULL REFERENCES tw.outbox (id) ON DELETE CASCADE,
  webhook_id       bigint NOT NULL REFERENCES tw.webhooks (id) ON DELETE CASCADE,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  lease_token      text CHECK (lease_token ~ '^[0-9a-f]{32}$'),
  lease_expires_at timestamptz,
  last_status      integer,
  last_error       text,
  delivered_at     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (outbox_id, webhook_id)
);
CREATE INDEX deliveries_due ON tw.deliveries (next_attempt_at) WHERE state = 'pending';
