//! The load benchmark's reference: a bare axum server that parses the JSON body and sends it back, measured in
//! the same run as `steward serve` (scripts/bench_serve.sh).
//!
//! ```text
//! cargo run --release -p steward-server --example echo -- 127.0.0.1:0
//! ```

use axum::Json;
use axum::routing::post;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().route(
        "/v2/models/{name}/infer",
        post(|Json(body): Json<serde_json::Value>| async move { Json(body) }),
    );
    axum::serve(listener, app).await
}
