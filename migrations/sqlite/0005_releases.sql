-- Release labels (docs/design.md, "Releases"). `latest` is the head row in `entries`; every
-- other label of an entry is a row here naming the state it points at: a version, the active
-- flag and the deleted flag, so a label can publish a hide or a deletion as well as content.
-- `production` rows exist only for scopes whose release policy is manual: in an auto scope
-- production follows the head.
CREATE TABLE entry_labels (
    kind        TEXT NOT NULL,
    server      TEXT NOT NULL,
    org         TEXT NOT NULL,
    label       TEXT NOT NULL,
    key         TEXT NOT NULL,
    version     BIGINT NOT NULL,
    active      BOOLEAN NOT NULL,
    deleted     BOOLEAN NOT NULL,
    revision    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, server, org, label, key)
);

-- Every move of a label: the label's history (from which state to which, who, when, why).
-- from_version NULL: the label did not point at the entry before.
CREATE TABLE label_moves (
    kind          TEXT NOT NULL,
    server        TEXT NOT NULL,
    org           TEXT NOT NULL,
    key           TEXT NOT NULL,
    label         TEXT NOT NULL,
    revision      BIGINT NOT NULL,
    from_version  BIGINT,
    from_active   BOOLEAN,
    from_deleted  BOOLEAN,
    to_version    BIGINT NOT NULL,
    to_active     BOOLEAN NOT NULL,
    to_deleted    BOOLEAN NOT NULL,
    actor         TEXT NOT NULL,
    message       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (kind, server, org, key, label, revision)
);

-- The labels that exist besides `latest` and `production` (created by their first move), and
-- whether only admins may move them (`production` may have a row only to be protected).
-- Declared: created by a global admin for every org to see; an undeclared label (created by a
-- move) is known only where it points (the defaults, or the org that moved it), so one org
-- cannot learn another's label names.
CREATE TABLE labels (
    name        TEXT PRIMARY KEY,
    protected   BOOLEAN NOT NULL,
    declared    BOOLEAN NOT NULL,
    created_at  BIGINT NOT NULL,
    created_by  TEXT NOT NULL
);

-- Scopes whose saves do not go live by themselves (no row: auto). The revision of the last
-- policy change counts in the scope's production views, so a view's revision never goes back
-- when production returns to following the head.
CREATE TABLE release_policies (
    server      TEXT NOT NULL,
    org         TEXT NOT NULL,
    manual      BOOLEAN NOT NULL,
    revision    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    updated_by  TEXT NOT NULL,
    PRIMARY KEY (server, org)
);

-- The labels whose views a change touched, as a JSON array; '' (changes from before labels):
-- every label.
ALTER TABLE changes ADD COLUMN labels TEXT NOT NULL DEFAULT '';

-- Gradual rollouts of a default entry's label: orgs in the cohort (those listed, and those whose
-- hash bucket of (org, server, kind, key) is below `percent`) read `target_version` at the
-- label; the others read where the label's row points. One rollout per (entry, label).
CREATE TABLE rollouts (
    kind            TEXT NOT NULL,
    server          TEXT NOT NULL,
    label           TEXT NOT NULL,
    key             TEXT NOT NULL,
    target_version  BIGINT NOT NULL,
    percent         BIGINT NOT NULL,
    orgs            TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (kind, server, label, key)
);

-- Every step of every rollout (start, set, complete, abort): its history.
CREATE TABLE rollout_steps (
    kind            TEXT NOT NULL,
    server          TEXT NOT NULL,
    label           TEXT NOT NULL,
    key             TEXT NOT NULL,
    revision        BIGINT NOT NULL,
    action          TEXT NOT NULL,
    target_version  BIGINT NOT NULL,
    percent         BIGINT NOT NULL,
    orgs            TEXT NOT NULL,
    actor           TEXT NOT NULL,
    message         TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (kind, server, label, key, revision)
);

-- With org '' (a default changed): only these orgs' views changed (a rollout's cohort moved), as
-- a JSON array; '': every org's.
ALTER TABLE changes ADD COLUMN orgs TEXT NOT NULL DEFAULT '';

-- What a label move or a rollout step did beyond its keys, as JSON (why, and each entry's from
-- and to; a rollout step's cohort); '' for other changes.
ALTER TABLE changes ADD COLUMN detail TEXT NOT NULL DEFAULT '';
