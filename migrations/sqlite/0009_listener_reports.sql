-- Who is listening (docs/design.md, "Who is listening"): each replica's report of the Watch
-- streams open on it, as JSON, rewritten every few seconds; a report not rewritten for a while
-- is a replica that is gone.
CREATE TABLE listener_reports (
    replica      TEXT PRIMARY KEY,
    report       TEXT NOT NULL,
    reported_at  BIGINT NOT NULL
);
