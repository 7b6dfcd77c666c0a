-- 1:N face galleries (人脸库). The faces table is the source of truth for every node's
-- in-memory search index. Every change to it is numbered in one sequence, kept in
-- gallery_log_head: a writer takes the next number with an UPDATE of that one row, which holds
-- the row's lock until the writer commits, so numbers become visible in the order they were
-- taken and a node that has applied every change up to N has missed none below it.
CREATE TABLE galleries (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- A person in a gallery: the caller's own identifier for them and, encrypted, whatever
-- attributes the caller attached.
CREATE TABLE gallery_persons (
    id TEXT PRIMARY KEY,
    gallery_id TEXT NOT NULL,
    external_id TEXT NOT NULL,
    attributes_enc BYTEA,
    created_at BIGINT NOT NULL,
    UNIQUE (gallery_id, external_id)
);

-- A face: its key is the number of the change that added it (so keys are never reused), its
-- template is encrypted, and a keyed hash of the photo it came from lets a bulk import skip
-- photos already enrolled.
CREATE TABLE gallery_faces (
    face_key BIGINT PRIMARY KEY,
    gallery_id TEXT NOT NULL,
    person_id TEXT NOT NULL,
    template_enc BYTEA NOT NULL,
    source_hash TEXT,
    quality DOUBLE PRECISION,
    image_key TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX gallery_faces_person ON gallery_faces (person_id, face_key);
CREATE INDEX gallery_faces_gallery ON gallery_faces (gallery_id, face_key);
CREATE UNIQUE INDEX gallery_faces_source ON gallery_faces (gallery_id, source_hash);

-- The change log: 'add' and 'remove' name a face, 'drop' a whole gallery.
CREATE TABLE gallery_changes (
    seq BIGINT PRIMARY KEY,
    op TEXT NOT NULL,
    gallery_id TEXT NOT NULL,
    face_key BIGINT,
    at BIGINT NOT NULL
);

CREATE TABLE gallery_log_head (
    id BIGINT PRIMARY KEY,
    seq BIGINT NOT NULL
);
INSERT INTO gallery_log_head (id, seq) VALUES (1, 0);
