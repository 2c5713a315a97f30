-- The revision at which an org was registered: it counts in the revision of each of the org's
-- views, so a view read while the org was unknown (`org_unknown` on the read responses) is
-- never answered `not_modified` once the org exists. 0 for orgs registered before this (their
-- views never said "unknown") and for an org registered while the defaults were empty.
ALTER TABLE orgs ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
