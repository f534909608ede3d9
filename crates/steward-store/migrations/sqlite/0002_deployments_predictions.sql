-- Steward metadata schema, version 2 (SQLite): deployments and captured predictions.
CREATE TABLE deployments (
    name            TEXT PRIMARY KEY,
    model_id        INTEGER NOT NULL REFERENCES models (id),
    -- Exactly one of primary_alias / primary_version is set.
    primary_alias   TEXT,
    primary_version INTEGER,
    canary_version  INTEGER,
    canary_percent  REAL,
    shadow_version  INTEGER,
    revision        INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX deployments_by_model ON deployments (model_id);

-- Captured traffic. No foreign key to models: records are history and outlive the model they name.
CREATE TABLE predictions (
    -- A plain rowid (no AUTOINCREMENT): ids only grow while rows exist, which is all paging needs, and it
    -- saves a sqlite_sequence update per captured row.
    id             INTEGER PRIMARY KEY,
    request_id     TEXT NOT NULL,
    at             INTEGER NOT NULL,
    deployment     TEXT,
    model          TEXT NOT NULL,
    version        INTEGER NOT NULL,
    role           TEXT NOT NULL,
    n_rows         INTEGER NOT NULL,
    inputs         TEXT NOT NULL,
    outputs        TEXT NOT NULL,
    latency_micros INTEGER NOT NULL
);
CREATE INDEX predictions_by_model ON predictions (model, version, id);
CREATE INDEX predictions_by_request ON predictions (request_id);
