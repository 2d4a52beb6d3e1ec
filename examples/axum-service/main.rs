//! An axum service that enforces a Palisade bundle in process: the
//! `palisade_gateway::GatewayLayer` decides every request (route table, JWT, rate
//! limits, Cedar policies, plugins) before a handler runs, with no network
//! hop. SIGHUP reloads the bundle (incident response without a redeploy).
//! With `PALISADE_RATE_LIMIT_REDIS=redis://host:6379`, replicas share their
//! rate limits through Redis.
//!
//! ```sh
//! cargo run --release --example axum-service -- policies/gateway-baseline 127.0.0.1:3000
//! T=$(palisade token --key examples/gateway/dev-signing-key.pem --sub alice \
//!       --claim iss=https://id.example.com --claim aud=orders-api \
//!       --claim tenant=acme --claim 'scope=orders:read orders:write')
//! curl -si localhost:3000/tenants/acme/orders/1 -H "Authorization: Bearer $T"   # 200
//! curl -si localhost:3000/tenants/globex/orders/1 -H "Authorization: Bearer $T" # 403
//! ```

use axum::Extension;
use axum::extract::Path;
use axum::routing::get;
use palisade_engine::Engine;
use palisade_gateway::{GatewayLayer, HttpDecision};
use std::sync::Arc;
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let bundle_dir = args
        .next()
        .unwrap_or_else(|| "policies/gateway-baseline".to_owned());
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".to_owned());

    // An engine that builds each bundle's `[gateway]` table.
    let engine = Arc::new(palisade_gateway::engine()?);
    let bundle = engine
        .load_bundle(&bundle_dir)
        .map_err(|e| format!("{bundle_dir}: {e}"))?;
    warm_up(&bundle);
    let mut layer = GatewayLayer::new(bundle);
    // Replicas share their rate limits through Redis when one is named.
    if let Ok(url) = std::env::var("PALISADE_RATE_LIMIT_REDIS") {
        let limiter = palisade_gateway::RedisLimiter::new(&url, Duration::from_millis(25))?
            .on_change(|up, why| {
                if up {
                    eprintln!("axum-service: Redis answers again; limits are shared");
                } else {
                    eprintln!("axum-service: Redis does not answer ({why}); counting locally");
                }
            });
        let limiter = Arc::new(limiter);
        tokio::spawn(ping(Arc::clone(&limiter)));
        layer = layer.share_limits(limiter);
    }

    let app = axum::Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/tenants/{tenant}/orders/{id}", get(view_order))
        .layer(layer.clone());

    tokio::spawn(reload_on_sighup(engine, layer, bundle_dir));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    eprintln!(
        "axum-service: listening on http://{}",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// Only requests the bundle allowed get here; the decision says who asked.
async fn view_order(
    Path((tenant, id)): Path<(String, String)>,
    Extension(decision): Extension<HttpDecision>,
) -> String {
    format!(
        "order {tenant}/{id} for {}\n",
        decision.principal.unwrap_or_default()
    )
}

/// Fetches the keys of a `jwks_url` before the bundle decides, so that
/// no request waits for them (nothing to do for a JWKS file).
fn warm_up(bundle: &palisade_engine::Bundle) {
    if let Err(e) = palisade_gateway::fetch_remote_keys(bundle) {
        eprintln!("axum-service: {e}; the first token that needs the keys fetches them again");
    }
}

/// Checks Redis every two seconds, so that an idle service notices (and
/// logs) that it stopped answering.
async fn ping(limiter: Arc<palisade_gateway::RedisLimiter>) {
    loop {
        let _ = limiter.ping().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Loads the bundle again on SIGHUP; a bundle that does not load is
/// refused and the old one keeps deciding.
async fn reload_on_sighup(engine: Arc<Engine>, layer: GatewayLayer, dir: String) {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut hup) = signal(SignalKind::hangup()) else {
        return;
    };
    while hup.recv().await.is_some() {
        match engine.load_bundle(&dir) {
            Ok(b) => {
                warm_up(&b);
                layer.replace_bundle(b);
                eprintln!("axum-service: bundle reloaded");
            }
            Err(e) => eprintln!("axum-service: reload refused, keeping the old bundle: {e}"),
        }
    }
}
