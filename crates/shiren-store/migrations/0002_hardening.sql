-- Audit entries carry the server's request id; the caller's own x-request-id (unsigned, not
-- unique) and the peer address are kept beside it, never instead of it.
ALTER TABLE audit_log ADD COLUMN client_request_id TEXT;
ALTER TABLE audit_log ADD COLUMN source TEXT;
CREATE INDEX audit_log_actor ON audit_log (actor, at);

-- Image objects to delete, until object storage confirms their removal: those of deleted records
-- (a record is removed at once, and an object delete that fails is retried by the sweeper
-- instead of leaving a face image behind forever), and those a call is about to write, queued
-- before the write and dequeued with the record that references them, so that a call cut off
-- in between leaves no unreferenced face image. `due_at` is when the sweeper may delete it.
CREATE TABLE object_deletions (
    object_key TEXT PRIMARY KEY,
    record_id TEXT NOT NULL,
    due_at BIGINT NOT NULL
);
