-- Change webhooks: endpoints admins register per scope (an org, or '' for the defaults), with
-- the event types they want and their signing secrets (Standard Webhooks, `whsec_`; two during
-- a rotation, the newer first, the older until `previous_until`).
CREATE TABLE webhooks (
    id              TEXT PRIMARY KEY,
    org             TEXT NOT NULL,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    -- JSON array of event types; '[]' = every type.
    events          TEXT NOT NULL,
    secret          TEXT NOT NULL,
    previous_secret TEXT NOT NULL DEFAULT '',
    previous_until  BIGINT NOT NULL DEFAULT 0,
    enabled         BOOLEAN NOT NULL,
    -- Why it was disabled ('' when enabled, or disabled by an admin).
    disabled_reason TEXT NOT NULL DEFAULT '',
    -- Changes up to this revision predate the endpoint: not delivered to it.
    since_revision  BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    created_by      TEXT NOT NULL
);
CREATE INDEX webhooks_org ON webhooks (org);

-- One message to one endpoint: made from a committed change (or a test ping) by the fan-out,
-- sent by whichever replica claims it (`lease_until`), retried on its schedule. `attempts`
-- counts the attempts claimed, so no attempt is ever sent twice.
CREATE TABLE webhook_deliveries (
    id           TEXT PRIMARY KEY,
    webhook      TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    revision     BIGINT NOT NULL,
    event        TEXT NOT NULL,
    payload      TEXT NOT NULL,
    -- pending (waits while its endpoint is off), delivered, or failed (retries spent).
    state        TEXT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    next_at      BIGINT NOT NULL,
    lease_until  BIGINT NOT NULL DEFAULT 0,
    created_at   BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_next ON webhook_deliveries (webhook, state, next_at);
CREATE INDEX webhook_deliveries_of ON webhook_deliveries (webhook, created_at);

-- Each attempt: when, the HTTP status (0: no answer) or error, how long it took.
CREATE TABLE webhook_attempts (
    delivery     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt      BIGINT NOT NULL,
    at           BIGINT NOT NULL,
    status       BIGINT NOT NULL,
    error        TEXT NOT NULL,
    duration_ms  BIGINT NOT NULL,
    PRIMARY KEY (delivery, attempt)
);

-- How far the fan-out has turned changes into deliveries: changes after it are still to do.
-- Starts at the current revision: history from before webhooks is not delivered.
INSERT INTO counters (name, value) SELECT 'webhooks', value FROM counters WHERE name = 'revision';
