-- Orgs (tenants). The defaults are stored with org = '' (no row here), which keeps every key
-- NOT NULL and every unique index simple.
CREATE TABLE orgs (
    slug        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- One row, the global revision counter. Every write transaction takes the next value first,
-- which serializes writers so that commit order = revision order (see DESIGN.md, "Stores").
CREATE TABLE counters (
    name   TEXT PRIMARY KEY,
    value  BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('revision', 0);

-- Head row of each entry (prompt or resource) of the defaults or of an org: its current
-- version, whether it is active (an inactive org row hides the default of the same key) and
-- whether it was deleted (kept as a tombstone so the view's revision never goes backwards).
-- version = 0: a pure "hide" marker with no content of its own.
CREATE TABLE entries (
    kind        TEXT NOT NULL,
    server      TEXT NOT NULL,
    org         TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    active      BOOLEAN NOT NULL,
    deleted     BOOLEAN NOT NULL,
    revision    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, server, org, key)
);

-- Immutable content of every version of every entry.
CREATE TABLE entry_versions (
    kind        TEXT NOT NULL,
    server      TEXT NOT NULL,
    org         TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    message     TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, server, org, key, version)
);

-- The audit log, the transactional outbox of the relay and the replay log of Watch, in one.
CREATE TABLE changes (
    revision    BIGINT PRIMARY KEY,
    org         TEXT NOT NULL,
    server      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    keys        TEXT NOT NULL,
    action      TEXT NOT NULL,
    actor       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    published   BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX changes_org_server ON changes (org, server, revision);
