-- Steward metadata schema, version 1 (SQLite).
CREATE TABLE steward_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  INTEGER NOT NULL
);

CREATE TABLE runs (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    experiment_id INTEGER NOT NULL REFERENCES experiments (id),
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    start_time    INTEGER NOT NULL,
    end_time      INTEGER
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, seq);

CREATE TABLE run_params (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;

CREATE TABLE run_tags (
    run_seq INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;

-- Every observation; the history of a metric is read by (run_seq, key).
CREATE TABLE metrics (
    run_seq   INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL
);
CREATE INDEX metrics_by_run_key ON metrics (run_seq, key, step);

-- The latest observation per (run, key), kept for search.
CREATE TABLE latest_metrics (
    run_seq   INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     REAL NOT NULL,
    step      INTEGER NOT NULL,
    timestamp INTEGER NOT NULL,
    PRIMARY KEY (run_seq, key)
) WITHOUT ROWID;
CREATE INDEX latest_metrics_by_key_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL,
    version      INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    schema       TEXT NOT NULL,
    row_count    INTEGER,
    created_at   INTEGER NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, content_hash)
);

CREATE TABLE run_inputs (
    run_seq    INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    dataset_id INTEGER NOT NULL REFERENCES datasets (id),
    PRIMARY KEY (run_seq, dataset_id)
) WITHOUT ROWID;

CREATE TABLE models (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT,
    tags         TEXT NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- The version counter: incremented in the transaction that inserts the version.
    last_version INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE model_versions (
    model_id       INTEGER NOT NULL REFERENCES models (id),
    version        INTEGER NOT NULL,
    artifact_uri   TEXT NOT NULL,
    artifact_hash  TEXT NOT NULL,
    signature      TEXT,
    metrics        TEXT NOT NULL DEFAULT '{}',
    source_run     TEXT,
    dataset_id     INTEGER REFERENCES datasets (id),
    parent_version INTEGER,
    description    TEXT,
    tags           TEXT NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL,
    PRIMARY KEY (model_id, version)
);

CREATE TABLE aliases (
    model_id INTEGER NOT NULL REFERENCES models (id),
    alias    TEXT NOT NULL,
    version  INTEGER NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

CREATE TABLE alias_history (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id         INTEGER NOT NULL REFERENCES models (id),
    alias            TEXT NOT NULL,
    version          INTEGER,
    previous_version INTEGER,
    actor            TEXT NOT NULL,
    reason           TEXT,
    at               INTEGER NOT NULL
);
CREATE INDEX alias_history_by_model ON alias_history (model_id, alias, id);

-- Append-only: the audit log and the change feed. AUTOINCREMENT keeps ids strictly growing.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at      INTEGER NOT NULL,
    reason  TEXT,
    payload TEXT NOT NULL
);
