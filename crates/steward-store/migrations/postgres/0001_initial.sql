-- Steward metadata schema, version 1 (PostgreSQL).
CREATE TABLE steward_meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE experiments (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT,
    created_at  BIGINT NOT NULL
);

CREATE TABLE runs (
    seq           BIGSERIAL PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    experiment_id BIGINT NOT NULL REFERENCES experiments (id),
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    start_time    BIGINT NOT NULL,
    end_time      BIGINT
);
CREATE INDEX runs_by_experiment ON runs (experiment_id, seq);

CREATE TABLE run_params (
    run_seq BIGINT NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
);

CREATE TABLE run_tags (
    run_seq BIGINT NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_seq, key)
);

-- No foreign key on the history: the insert takes run_seq from the runs row in the same statement, and runs are
-- never deleted, so the reference always holds; a per-row key check would cost about a third of a batch's time.
CREATE TABLE metrics (
    run_seq   BIGINT NOT NULL,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    step      BIGINT NOT NULL,
    timestamp BIGINT NOT NULL
);
CREATE INDEX metrics_by_run_key ON metrics (run_seq, key, step);

CREATE TABLE latest_metrics (
    run_seq   BIGINT NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    key       TEXT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    step      BIGINT NOT NULL,
    timestamp BIGINT NOT NULL,
    PRIMARY KEY (run_seq, key)
);
CREATE INDEX latest_metrics_by_key_value ON latest_metrics (key, value);

CREATE TABLE datasets (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    version      BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    schema       JSONB NOT NULL,
    row_count    BIGINT,
    created_at   BIGINT NOT NULL,
    UNIQUE (name, version),
    UNIQUE (name, content_hash)
);

CREATE TABLE run_inputs (
    run_seq    BIGINT NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    dataset_id BIGINT NOT NULL REFERENCES datasets (id),
    PRIMARY KEY (run_seq, dataset_id)
);

CREATE TABLE models (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT,
    tags         JSONB NOT NULL DEFAULT '{}',
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    -- The version counter: its row lock serialises registrations into one model.
    last_version BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE model_versions (
    model_id       BIGINT NOT NULL REFERENCES models (id),
    version        BIGINT NOT NULL,
    artifact_uri   TEXT NOT NULL,
    artifact_hash  TEXT NOT NULL,
    signature      JSONB,
    metrics        JSONB NOT NULL DEFAULT '{}',
    source_run     TEXT,
    dataset_id     BIGINT REFERENCES datasets (id),
    parent_version BIGINT,
    description    TEXT,
    tags           JSONB NOT NULL DEFAULT '{}',
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (model_id, version)
);

CREATE TABLE aliases (
    model_id BIGINT NOT NULL REFERENCES models (id),
    alias    TEXT NOT NULL,
    version  BIGINT NOT NULL,
    PRIMARY KEY (model_id, alias),
    FOREIGN KEY (model_id, version) REFERENCES model_versions (model_id, version)
);

CREATE TABLE alias_history (
    id               BIGSERIAL PRIMARY KEY,
    model_id         BIGINT NOT NULL REFERENCES models (id),
    alias            TEXT NOT NULL,
    version          BIGINT,
    previous_version BIGINT,
    actor            TEXT NOT NULL,
    reason           TEXT,
    at               BIGINT NOT NULL
);
CREATE INDEX alias_history_by_model ON alias_history (model_id, alias, id);

-- Append-only: the audit log and the change feed. Inserts take an advisory lock first (see postgres.rs), so ids
-- become visible in increasing order.
CREATE TABLE events (
    id      BIGSERIAL PRIMARY KEY,
    kind    TEXT NOT NULL,
    subject TEXT NOT NULL,
    actor   TEXT NOT NULL,
    at      BIGINT NOT NULL,
    reason  TEXT,
    payload JSONB NOT NULL
);
