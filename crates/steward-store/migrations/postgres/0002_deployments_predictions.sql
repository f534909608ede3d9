-- Steward metadata schema, version 2 (PostgreSQL): deployments and captured predictions.
CREATE TABLE deployments (
    name            TEXT PRIMARY KEY,
    model_id        BIGINT NOT NULL REFERENCES models (id),
    -- Exactly one of primary_alias / primary_version is set.
    primary_alias   TEXT,
    primary_version BIGINT,
    canary_version  BIGINT,
    canary_percent  DOUBLE PRECISION,
    shadow_version  BIGINT,
    revision        BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    updated_by      TEXT NOT NULL
);
CREATE INDEX deployments_by_model ON deployments (model_id);

-- Captured traffic. No foreign key to models: records are history and outlive the model they name.
CREATE TABLE predictions (
    id             BIGSERIAL PRIMARY KEY,
    request_id     TEXT NOT NULL,
    at             BIGINT NOT NULL,
    deployment     TEXT,
    model          TEXT NOT NULL,
    version        BIGINT NOT NULL,
    role           TEXT NOT NULL,
    n_rows         BIGINT NOT NULL,
    inputs         JSON  NOT NULL,
    outputs        JSON  NOT NULL,
    latency_micros BIGINT NOT NULL
);
CREATE INDEX predictions_by_model ON predictions (model, version, id);
CREATE INDEX predictions_by_request ON predictions (request_id);
