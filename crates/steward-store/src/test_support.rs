//! Fresh, isolated stores for tests (this crate's conformance suite and other crates' integration tests).

use crate::error::StoreResult;

/// The environment variable that names a PostgreSQL server for tests, e.g.
/// `postgres://steward:steward@127.0.0.1:5432/steward_test`. CI sets it; without it PostgreSQL tests are skipped.
pub const POSTGRES_URL_VAR: &str = "STEWARD_TEST_POSTGRES_URL";

/// Set (CI sets it) to make a missing PostgreSQL a test failure instead of a skip.
pub const REQUIRE_POSTGRES_VAR: &str = "STEWARD_REQUIRE_POSTGRES";

/// The PostgreSQL server for tests, or `None` (after saying so on stderr) when it is not configured.
pub fn postgres_url(test: &str) -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os(REQUIRE_POSTGRES_VAR).is_some() => {
            panic!("{test}: {REQUIRE_POSTGRES_VAR} is set but {POSTGRES_URL_VAR} is not")
        }
        _ => {
            eprintln!("SKIPPED {test} on PostgreSQL: {POSTGRES_URL_VAR} is not set");
            None
        }
    }
}

/// Creates an empty schema with a unique name on the test server and returns a URI whose connections use it,
/// so that every test starts from a fresh store without creating a database.
pub async fn fresh_postgres_uri(base: &str) -> StoreResult<String> {
    let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
    let config: tokio_postgres::Config = base
        .parse()
        .map_err(|e| crate::StoreError::InvalidArgument(format!("{POSTGRES_URL_VAR}: {e}")))?;
    let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await?;
    drop(client);
    let _ = driver.await;
    let separator = if base.contains('?') { '&' } else { '?' };
    Ok(format!(
        "{base}{separator}options=-c%20search_path%3D{schema}"
    ))
}
