-- Transfer checks owed. CompleteJob marks the checkpoint in the transaction that records an
-- evaluator result; the daemon clears the mark once the checkpoint's checks (and the re-checks
-- of the later checkpoints that compare with it) have run. A daemon killed, or a database
-- restarted, between the two leaves the mark, and every daemon's planner sweeps the marks older
-- than a lease and runs those checks: a flag is never lost to a crash (found by scripts/chaos).
ALTER TABLE tw.checkpoints ADD COLUMN checks_due_at timestamptz;
CREATE INDEX checkpoints_checks_due ON tw.checkpoints (checks_due_at)
  WHERE checks_due_at IS NOT NULL;
