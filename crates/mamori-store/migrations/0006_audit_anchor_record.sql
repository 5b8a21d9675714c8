-- The sequence number of the audit.prune entry that records the anchor, so
-- that retention can check, with one lookup, that the anchor it builds on is
-- the one it made (verification finds that entry by reading the chain).
-- Anchors written before this column existed leave it empty; retention then
-- looks the entry up by its subject.
ALTER TABLE audit_anchor ADD COLUMN recorded_by INTEGER;
