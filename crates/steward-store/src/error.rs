use thiserror::Error;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("{kind} '{name}' not found")]
    NotFound { kind: &'static str, name: String },

    #[error("{kind} '{name}' already exists")]
    AlreadyExists { kind: &'static str, name: String },

    #[error("invalid {kind} '{name}': {reason}")]
    InvalidName {
        kind: &'static str,
        name: String,
        reason: String,
    },

    #[error("{0}")]
    InvalidArgument(String),

    /// The request is well formed but the current state forbids it (e.g. deleting a model that has aliases).
    #[error("{0}")]
    Conflict(String),

    #[error("invalid page token '{0}': pass the token returned by the previous page")]
    InvalidPageToken(String),

    #[error(
        "{location} is not a Steward store (it has tables but no steward_meta); point --store/STEWARD_HOME at a Steward store or an empty location"
    )]
    NotSteward { location: String },

    #[error(
        "{location} was written by a newer Steward (schema version {found}, this binary knows up to {supported}); upgrade steward"
    )]
    NewerSchema {
        location: String,
        found: i64,
        supported: i64,
    },

    #[error(
        "unsupported store URI '{0}': use sqlite:///path/to/steward.db or postgres://user:pass@host/db"
    )]
    UnsupportedUri(String),

    #[error("SQLite error: {0}")]
    Sqlite(#[from] rusqlite::Error),

    #[error("PostgreSQL error: {0}")]
    Postgres(#[from] tokio_postgres::Error),

    #[error("PostgreSQL connection pool: {0}")]
    Pool(String),

    #[error("corrupt value in the store: {0}")]
    Corrupt(String),

    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn not_found(kind: &'static str, name: impl Into<String>) -> Self {
        StoreError::NotFound {
            kind,
            name: name.into(),
        }
    }

    pub fn already_exists(kind: &'static str, name: impl Into<String>) -> Self {
        StoreError::AlreadyExists {
            kind,
            name: name.into(),
        }
    }

    /// True when the caller can fix the problem by changing the request (HTTP 4xx, CLI exit code 1 with a hint);
    /// false when the store or its backend failed.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. }
                | StoreError::AlreadyExists { .. }
                | StoreError::InvalidName { .. }
                | StoreError::InvalidArgument(_)
                | StoreError::Conflict(_)
                | StoreError::InvalidPageToken(_)
                | StoreError::NotSteward { .. }
                | StoreError::NewerSchema { .. }
                | StoreError::UnsupportedUri(_)
        )
    }

    /// A stable machine-readable code, used by the JSON error shape of the CLI and the server.
    pub fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::AlreadyExists { .. } => "already_exists",
            StoreError::InvalidName { .. } => "invalid_name",
            StoreError::InvalidArgument(_) => "invalid_argument",
            StoreError::Conflict(_) => "conflict",
            StoreError::InvalidPageToken(_) => "invalid_page_token",
            StoreError::NotSteward { .. } => "not_a_steward_store",
            StoreError::NewerSchema { .. } => "newer_schema",
            StoreError::UnsupportedUri(_) => "unsupported_store_uri",
            StoreError::Sqlite(_)
            | StoreError::Postgres(_)
            | StoreError::Pool(_)
            | StoreError::Corrupt(_)
            | StoreError::Io(_) => "store_failure",
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
