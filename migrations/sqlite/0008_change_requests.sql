-- Approval policies (docs/design.md, "Change requests"): moving `label` in a scope (org '' for
-- the defaults) of a server needs a change request with this many approvals, by people of
-- this role (and, when `approvers` — a JSON array of subjects — is not empty, only by them).
CREATE TABLE approval_policies (
    server         TEXT NOT NULL,
    org            TEXT NOT NULL,
    label          TEXT NOT NULL,
    approvals      BIGINT NOT NULL,
    approver_role  TEXT NOT NULL,
    approvers      TEXT NOT NULL,
    updated_at     BIGINT NOT NULL,
    updated_by     TEXT NOT NULL,
    PRIMARY KEY (server, org, label)
);

-- Change requests: edits and label moves of one scope of a server (`items`, JSON) that apply
-- together once approved. `content_hash` is what approvals are given to; `rules` (JSON) the
-- approval rules fixed when the request was opened; `last_seq` the request's last event, which
-- every change of the request compares and sets (two reviewers acting at once: one wins).
CREATE TABLE change_requests (
    id                BIGINT PRIMARY KEY,
    server            TEXT NOT NULL,
    org               TEXT NOT NULL,
    title             TEXT NOT NULL,
    description       TEXT NOT NULL,
    author            TEXT NOT NULL,
    state             TEXT NOT NULL,
    items             TEXT NOT NULL,
    content_hash      TEXT NOT NULL,
    rules             TEXT NOT NULL,
    scheduled_at      BIGINT,
    scheduled_by      TEXT,
    applied_revision  BIGINT,
    last_seq          BIGINT NOT NULL,
    created_at        BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX change_requests_scope ON change_requests (org, server, id);
CREATE INDEX change_requests_due ON change_requests (state, scheduled_at);

-- A request's trail: opened, edited (its content), retitled, submitted, approved (of
-- `content_hash`), rejected, commented, scheduled, unscheduled, applied, apply_failed,
-- cancelled; who, when, what they said, and whether they held the admin role (an approval
-- counts against policies that need an admin only if so).
CREATE TABLE change_request_events (
    request_id    BIGINT NOT NULL,
    seq           BIGINT NOT NULL,
    action        TEXT NOT NULL,
    actor         TEXT NOT NULL,
    message       TEXT NOT NULL,
    content_hash  TEXT NOT NULL,
    admin         BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (request_id, seq)
);

INSERT INTO counters (name, value) VALUES ('change_requests', 0);
