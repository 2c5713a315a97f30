-- Who created each org: org creation is an audited act like any change.
ALTER TABLE orgs ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
