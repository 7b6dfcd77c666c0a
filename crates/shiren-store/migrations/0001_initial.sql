-- Shiren's schema, written once for SQLite and PostgreSQL: only types both accept
-- (TEXT, BIGINT, DOUBLE PRECISION, BYTEA), times as Unix milliseconds, booleans as 0/1.
-- Personal data never appears in the clear: names and ID numbers are kept masked for
-- listings plus a keyed hash for look-ups; secrets and face templates are encrypted.

CREATE TABLE access_keys (
    id TEXT PRIMARY KEY,
    secret_enc BYTEA NOT NULL,
    policy TEXT NOT NULL,
    status TEXT NOT NULL,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT
);

CREATE TABLE request_nonces (
    key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at);

CREATE TABLE scenes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    config TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);

CREATE TABLE records (
    id TEXT PRIMARY KEY,
    scene_id TEXT NOT NULL,
    product TEXT NOT NULL,
    passed BIGINT NOT NULL,
    sub_code TEXT NOT NULL,
    score DOUBLE PRECISION,
    quality_score DOUBLE PRECISION,
    attack_score DOUBLE PRECISION,
    order_no TEXT,
    name_masked TEXT,
    id_number_masked TEXT,
    id_number_hash TEXT,
    access_key_id TEXT NOT NULL,
    timings TEXT NOT NULL,
    detail TEXT NOT NULL,
    image_count BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT
);
CREATE INDEX records_scene_time ON records (scene_id, created_at);
CREATE INDEX records_time ON records (created_at);
CREATE INDEX records_order ON records (order_no);
CREATE INDEX records_id_hash ON records (id_number_hash);
CREATE INDEX records_expiry ON records (expires_at);

CREATE TABLE record_images (
    record_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    content_type TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    PRIMARY KEY (record_id, idx)
);

-- Counters survive record deletion and retention: statistics are kept per scene, day and product.
CREATE TABLE daily_stats (
    scene_id TEXT NOT NULL,
    day TEXT NOT NULL,
    product TEXT NOT NULL,
    submissions BIGINT NOT NULL,
    passes BIGINT NOT NULL,
    failures BIGINT NOT NULL,
    comparisons BIGINT NOT NULL,
    PRIMARY KEY (scene_id, day, product)
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL,
    request_id TEXT NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (at);

CREATE TABLE authority_registry (
    id_number_hash TEXT PRIMARY KEY,
    name_hash TEXT NOT NULL,
    id_number_masked TEXT NOT NULL,
    name_masked TEXT NOT NULL,
    template_enc BYTEA,
    created_at BIGINT NOT NULL
);
