//! The store's schema, as an ordered list of migrations keyed on `PRAGMA user_version`.
//!
//! Never edit a migration that has shipped: append a new one.

use rusqlite::{Connection, TransactionBehavior};

pub const MIGRATIONS: &[&str] = &[
    // 1: the whole first schema.
    r#"
CREATE TABLE experiments (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);
INSERT INTO experiments (name, created_at) VALUES ('default', CAST(strftime('%s','now') AS INTEGER) * 1000);

CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
    name           TEXT NOT NULL,
    family         TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('queued','running','finished','failed','cancelled')),
    status_reason  TEXT,
    created_at     INTEGER NOT NULL,
    started_at     INTEGER,
    finished_at    INTEGER,
    seed           INTEGER,
    data_path      TEXT,
    data_sha256    TEXT,
    data_rows      INTEGER,
    pid            INTEGER,
    host           TEXT
);
CREATE INDEX runs_by_status ON runs(status);
CREATE INDEX runs_by_created ON runs(created_at);

CREATE TABLE params (
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE metrics (
    run_id     TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key        TEXT NOT NULL,
    step       INTEGER NOT NULL DEFAULT 0,
    value      REAL NOT NULL,
    logged_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, key, step)
);

CREATE TABLE curves (
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind    TEXT NOT NULL,
    points  TEXT NOT NULL,
    PRIMARY KEY (run_id, kind)
);

CREATE TABLE artifacts (
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name        TEXT NOT NULL,
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    bytes       INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (run_id, name)
);
CREATE INDEX artifacts_by_sha ON artifacts(sha256);

CREATE TABLE model_versions (
    version      INTEGER PRIMARY KEY,
    run_id       TEXT NOT NULL UNIQUE REFERENCES runs(id),
    sha256       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    description  TEXT
);

CREATE TABLE aliases (
    alias       TEXT PRIMARY KEY,
    version     INTEGER NOT NULL REFERENCES model_versions(version),
    updated_at  INTEGER NOT NULL
);

CREATE TABLE alias_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    alias         TEXT NOT NULL,
    from_version  INTEGER,
    to_version    INTEGER,
    actor         TEXT NOT NULL,
    reason        TEXT,
    at            INTEGER NOT NULL
);

CREATE TABLE predictions (
    id             INTEGER PRIMARY KEY,
    at             INTEGER NOT NULL,
    model_version  INTEGER,
    case_id        INTEGER,
    inputs         TEXT NOT NULL,
    probability    REAL NOT NULL,
    class          INTEGER NOT NULL,
    source         TEXT NOT NULL
);
CREATE INDEX predictions_by_time ON predictions(at);

CREATE TABLE drift_reports (
    id              INTEGER PRIMARY KEY,
    created_at      INTEGER NOT NULL,
    model_version   INTEGER,
    reference       TEXT NOT NULL,
    current         TEXT NOT NULL,
    rows            INTEGER NOT NULL,
    drifted_share   REAL NOT NULL,
    dataset_drift   INTEGER NOT NULL,
    report          TEXT NOT NULL
);
"#,
    // 2: what sync has pushed and applied.
    r#"
CREATE TABLE sync_state (
    kind  TEXT NOT NULL,
    key   TEXT NOT NULL,
    at    INTEGER NOT NULL,
    PRIMARY KEY (kind, key)
);
"#,
    // 3: alias moves replayed from a bucket keep the key they came from, so a move is never
    // replayed twice and its original time orders it among the others.
    r#"
ALTER TABLE alias_events ADD COLUMN pulled_from TEXT;
CREATE INDEX alias_events_by_alias_time ON alias_events(alias, at, id);
"#,
    // 4: the evidence a promotion policy weighed (JSON), kept with the move it allowed or that
    // was forced past it.
    r#"
ALTER TABLE alias_events ADD COLUMN evidence TEXT;
"#,
    // 5: real outcomes, joined to logged predictions by the case id when they arrive.
    r#"
CREATE TABLE outcomes (
    case_id  INTEGER PRIMARY KEY,
    label    INTEGER NOT NULL CHECK (label IN (0, 1)),
    raw      TEXT NOT NULL,
    source   TEXT NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX predictions_by_case ON predictions(case_id);
"#,
    // 6: each logged prediction keeps the data-quality findings of its inputs.
    r#"
ALTER TABLE predictions ADD COLUMN quality TEXT;
"#,
    // 7: the prediction log is an outbox. Each row carries its prediction id, the request's id,
    // the replica and model that answered, and the segment it was sealed into (NULL: waiting;
    // 0: from before capture, never shipped). Segments sealed here ('out') or imported from the
    // bucket ('in') are kept by key, so neither is shipped or imported twice, with the range of
    // row ids they hold (no index on `segment`: each logged row would pay for it). Outcomes wait
    // in their own outbox; those that name a prediction id join by it.
    r#"
ALTER TABLE predictions ADD COLUMN prediction_id TEXT;
ALTER TABLE predictions ADD COLUMN request_id TEXT;
ALTER TABLE predictions ADD COLUMN replica TEXT;
ALTER TABLE predictions ADD COLUMN model_name TEXT;
ALTER TABLE predictions ADD COLUMN alias TEXT;
ALTER TABLE predictions ADD COLUMN run_id TEXT;
ALTER TABLE predictions ADD COLUMN threshold REAL;
ALTER TABLE predictions ADD COLUMN segment INTEGER;
UPDATE predictions SET segment = 0;
CREATE UNIQUE INDEX predictions_by_prediction_id ON predictions(prediction_id, replica)
    WHERE prediction_id IS NOT NULL;
CREATE INDEX predictions_unsealed ON predictions(id) WHERE segment IS NULL;
CREATE TABLE capture_segments (
    id          INTEGER PRIMARY KEY,
    direction   TEXT NOT NULL CHECK (direction IN ('out', 'in')),
    kind        TEXT NOT NULL CHECK (kind IN ('predictions', 'outcomes')),
    key         TEXT NOT NULL,
    replica     TEXT NOT NULL,
    seq         INTEGER NOT NULL,
    rows        INTEGER NOT NULL,
    bytes       INTEGER,
    first_at    INTEGER,
    first_id    INTEGER,
    last_id     INTEGER,
    sealed_at   INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    shipped_at  INTEGER,
    UNIQUE (direction, kind, key)
);
CREATE INDEX capture_segments_unshipped ON capture_segments(id)
    WHERE direction = 'out' AND shipped_at IS NULL;
CREATE TABLE outcome_outbox (
    id             INTEGER PRIMARY KEY,
    case_id        TEXT,
    prediction_id  TEXT,
    label          INTEGER NOT NULL CHECK (label IN (0, 1)),
    raw            TEXT NOT NULL,
    source         TEXT NOT NULL,
    at             INTEGER NOT NULL,
    replica        TEXT NOT NULL,
    segment        INTEGER
);
CREATE INDEX outcome_outbox_unsealed ON outcome_outbox(id) WHERE segment IS NULL;
CREATE TABLE prediction_outcomes (
    prediction_id  TEXT PRIMARY KEY,
    label          INTEGER NOT NULL CHECK (label IN (0, 1)),
    raw            TEXT NOT NULL,
    source         TEXT NOT NULL,
    at             INTEGER NOT NULL
);
CREATE TABLE workspace_facts (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
"#,
    // 8: a logged prediction is sealed without being written again. A segment keeps its model
    // and hour beside its row ids, which find its rows; rows past the last sealed id that no
    // segment holds are the ones waiting.
    r#"
DROP INDEX predictions_unsealed;
ALTER TABLE capture_segments ADD COLUMN model TEXT;
ALTER TABLE capture_segments ADD COLUMN period_ms INTEGER;
CREATE INDEX capture_segments_sealed ON capture_segments(kind, direction, last_id);
"#,
    // 9: case ids are text, kept as the table wrote them (`MRN-000123`, a UUID, `00042`). The
    // log's integer column steps aside (`case_id_int`, no longer written) and each logged id is
    // copied once as text; outcomes are keyed by text. Text affinity keeps `00042` as written.
    r#"
DROP INDEX predictions_by_case;
ALTER TABLE predictions RENAME COLUMN case_id TO case_id_int;
ALTER TABLE predictions ADD COLUMN case_id TEXT;
UPDATE predictions SET case_id = CAST(case_id_int AS TEXT) WHERE case_id_int IS NOT NULL;
CREATE INDEX predictions_by_case ON predictions(case_id);
CREATE TABLE outcomes_by_text (
    case_id  TEXT PRIMARY KEY,
    label    INTEGER NOT NULL CHECK (label IN (0, 1)),
    raw      TEXT NOT NULL,
    source   TEXT NOT NULL,
    at       INTEGER NOT NULL
);
INSERT INTO outcomes_by_text (case_id, label, raw, source, at)
    SELECT CAST(case_id AS TEXT), label, raw, source, at FROM outcomes;
DROP TABLE outcomes;
ALTER TABLE outcomes_by_text RENAME TO outcomes;
"#,
    // 10: runs logged through the MLflow tracking API live beside staytrack's own: a run says
    // who recorded it and may be deleted softly (restorable); experiments carry their artifact
    // location; runs and experiments carry tags; runs carry the datasets they read; MLflow's
    // registered models keep their own names, versions, aliases and alias moves.
    r#"
ALTER TABLE runs ADD COLUMN source TEXT NOT NULL DEFAULT 'staytrack';
ALTER TABLE runs ADD COLUMN deleted_at INTEGER;
ALTER TABLE runs ADD COLUMN user_id TEXT;
ALTER TABLE runs ADD COLUMN parent_run_id TEXT;
ALTER TABLE experiments ADD COLUMN artifact_location TEXT;
ALTER TABLE experiments ADD COLUMN updated_at INTEGER;
ALTER TABLE experiments ADD COLUMN deleted_at INTEGER;
CREATE INDEX runs_by_experiment ON runs(experiment_id, created_at);
CREATE TABLE experiment_tags (
    experiment_id  INTEGER NOT NULL REFERENCES experiments(id),
    key            TEXT NOT NULL,
    value          TEXT NOT NULL,
    PRIMARY KEY (experiment_id, key)
);
CREATE TABLE run_tags (
    run_id  TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    key     TEXT NOT NULL,
    value   TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
CREATE TABLE run_inputs (
    run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    digest       TEXT NOT NULL,
    source_type  TEXT NOT NULL,
    source       TEXT NOT NULL,
    schema       TEXT,
    profile      TEXT,
    tags         TEXT NOT NULL,
    PRIMARY KEY (run_id, name, digest)
);
CREATE TABLE registered_models (
    name         TEXT PRIMARY KEY,
    description  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE TABLE registered_versions (
    name         TEXT NOT NULL REFERENCES registered_models(name),
    version      INTEGER NOT NULL,
    run_id       TEXT,
    source       TEXT NOT NULL,
    description  TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE registered_aliases (
    name        TEXT NOT NULL,
    alias       TEXT NOT NULL,
    version     INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (name, alias),
    FOREIGN KEY (name, version) REFERENCES registered_versions(name, version)
);
CREATE TABLE registered_alias_events (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    alias         TEXT NOT NULL,
    from_version  INTEGER,
    to_version    INTEGER,
    actor         TEXT NOT NULL,
    at            INTEGER NOT NULL
);
"#,
];

/// The schema version this build writes.
pub fn latest() -> i64 {
    MIGRATIONS.len() as i64
}

pub fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the pending migrations. Each runs in an immediate transaction that re-reads the version
/// first, so two processes opening a new store at once do not both apply the same step.
pub fn migrate(conn: &mut Connection) -> Result<i64, MigrateError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let v = user_version(&tx)?;
        if v < 0 {
            return Err(MigrateError::Foreign { found: v });
        }
        if v > latest() {
            return Err(MigrateError::Newer {
                found: v,
                known: latest(),
            });
        }
        if v == latest() {
            tx.commit()?;
            return Ok(v);
        }
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tx.pragma_update(None, "user_version", v + 1)?;
        tx.commit()?;
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the database has schema version {found}, newer than this staytrack's {known}; upgrade staytrack")]
    Newer { found: i64, known: i64 },
    #[error("the database has schema version {found}, which staytrack never writes; it is not a staytrack store")]
    Foreign { found: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}
