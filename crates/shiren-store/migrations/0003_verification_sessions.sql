-- Interactive verification sessions (LR_FR, ID_PRO, PV_FV): created by a signed caller, then
-- driven by a person through the capture page, on whichever node the load balancer picks, so
-- every step's state lives here. The capture token is kept only as its SHA-256; the claimed
-- identity, the reference template and the callback token are encrypted; state changes are
-- conditional updates, so two nodes can never both take the same step.
CREATE TABLE verification_sessions (
    id TEXT PRIMARY KEY,
    scene_id TEXT NOT NULL,
    product TEXT NOT NULL,
    liveness TEXT NOT NULL,
    state TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    access_key_id TEXT NOT NULL,
    order_no TEXT,
    return_url TEXT,
    callback_url TEXT,
    -- Encrypted JSON: name and ID number (ID_PRO), reference template (PV_FV), callback token.
    sealed BYTEA NOT NULL,
    consent TEXT,
    challenge TEXT,
    nonce_hash TEXT,
    started_at BIGINT,
    outcome TEXT,
    record_id TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    finished_at BIGINT
);
CREATE INDEX verification_sessions_expiry ON verification_sessions (expires_at);

-- Digests of accepted capture frames, so that a frame seen in one session fails another.
CREATE TABLE frame_digests (
    digest TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX frame_digests_expiry ON frame_digests (expires_at);

-- Callbacks owed to callers, retried with backoff until delivered or out of attempts. A node
-- claims one by moving its due time forward (a lease), so two nodes do not send it together.
CREATE TABLE callbacks (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    url TEXT NOT NULL,
    access_key_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    due_at BIGINT NOT NULL,
    last_error TEXT,
    created_at BIGINT NOT NULL,
    delivered_at BIGINT
);
CREATE INDEX callbacks_due ON callbacks (delivered_at, due_at);
