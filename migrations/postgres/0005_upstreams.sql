-- The gateway's registry: per server, the upstream MCP endpoint `/mcp/{server}` forwards to.
-- Versioned like entries: the head row names the current version (deleted: no upstream, the
-- history kept), every version is immutable, with who wrote it and why.
CREATE TABLE upstreams (
    server      TEXT PRIMARY KEY,
    version     BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL,
    revision    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

CREATE TABLE upstream_versions (
    server      TEXT NOT NULL,
    version     BIGINT NOT NULL,
    body        TEXT NOT NULL,
    actor       TEXT NOT NULL,
    message     TEXT NOT NULL,
    revision    BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (server, version)
);
