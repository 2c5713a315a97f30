-- Single sign-on to the web UI (docs/design.md, "Single sign-on"). Both tables hold hashes of
-- the secrets the browser carries, never the secrets themselves.
--
-- A sign-in under way: what the callback needs to finish it (the nonce the ID token must carry,
-- the PKCE verifier), keyed by the hash of its `state`. Taken (deleted) by the callback, so a
-- code or a state is used once; one left behind expires.
CREATE TABLE sign_in_attempts (
    state_hash     TEXT PRIMARY KEY,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX sign_in_attempts_expiry ON sign_in_attempts (expires_at);

-- A web UI session opened by single sign-on, keyed by the hash of the cookie's id: who, with
-- which rights (as mapped from the ID token's claims at sign-in), until when, and the ID token
-- (the hint the provider's logout asks for).
CREATE TABLE ui_sessions (
    id_hash     TEXT PRIMARY KEY,
    subject     TEXT NOT NULL,
    org         TEXT,
    roles       TEXT NOT NULL,
    id_token    TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX ui_sessions_expiry ON ui_sessions (expires_at);
