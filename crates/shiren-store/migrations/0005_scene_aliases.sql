-- A numeric alias per scene, for the vendor facades: Alibaba Cloud's SceneId is an integer and
-- Tencent Cloud's RuleId a numeric string, while a native scene id is text. Aliases start above
-- a million so that they never look like small counters, and are never reused.
ALTER TABLE scenes ADD COLUMN alias BIGINT;
UPDATE scenes SET alias = 1000000 + (
    SELECT COUNT(*) FROM scenes AS earlier
    WHERE earlier.created_at < scenes.created_at
       OR (earlier.created_at = scenes.created_at AND earlier.id <= scenes.id)
);
CREATE UNIQUE INDEX scenes_alias ON scenes (alias);
