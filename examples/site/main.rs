//! The squall example site: an axum app that uses all three parts of squall.
//!
//! ```text
//! cargo run --example site                            # http://127.0.0.1:8000, debug assets
//! SQUALL_ASSETS=production cargo run --example site   # hashed, minified bundles
//! ```
//!
//! Contact mail goes to the disk spool in `./spool` unless `SQUALL_MAIL_URL` says
//! otherwise; send it with `spool-drain --queue spool:spool --via smtp://...`.
#![allow(missing_docs)]

mod app;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("SQUALL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let config = app::SiteConfig::from_env(root)?;
    let addr = std::env::var("SQUALL_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr} (set SQUALL_ADDR): {e}"))?;
    println!("squall example site on http://{}", listener.local_addr()?);
    println!(
        "  mail: {} · assets: {:?}{}",
        config.mail_url,
        config.assets_mode,
        config
            .cdn_prefix
            .as_deref()
            .map(|p| format!(" from {p}"))
            .unwrap_or_default()
    );
    axum::serve(listener, app::router(config)?).await?;
    Ok(())
}
