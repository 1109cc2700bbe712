//! squall: async utilities for web applications on tokio.
//!
//! Three parts, each a cargo feature that builds alone:
//!
//! - **`mail`**: an `Email` model and pluggable backends behind one `Mailer` trait: SMTP
//!   (pooled, pipelined, with a timeout on every step), console, an in-memory outbox for
//!   tests, the disk spool that the `spool-drain` program sends from, and (feature
//!   **`redis`**) a Redis queue for many web servers and many drainers. **`mail-templates`**
//!   (default) writes mail as minijinja templates with CSS inlined; **`mail-preview`**
//!   (default) shows queued and captured mail in the browser; **`dkim`** signs what the SMTP
//!   transport sends.
//! - **`assets`** (and **`minijinja`**): template functions `static(...)` and
//!   `static_url(...)` that emit one tag per file in debug mode and one combined, minified,
//!   content-hashed bundle in production, with source maps; live reload in debug mode;
//!   **`esm`** bundles ES module entries (and TypeScript/JSX) with rolldown.
//! - **`testing`**: a cookie-jar HTTP client for integration tests of any tower service,
//!   in-process or over real HTTP.
//!
//! # Mail
//!
//! ```
//! # #[cfg(feature = "mail")]
//! # async fn demo() -> Result<(), squall::mail::Error> {
//! use squall::mail::{Email, Mailer, MemoryMailer};
//!
//! let outbox = MemoryMailer::new();
//! let email = Email::builder()
//!     .from("Site <noreply@example.com>")
//!     .to("peter@example.com")
//!     .subject("Welcome")
//!     .text("Hello Peter")
//!     .build()?;
//! outbox.send(&email).await?;
//! assert_eq!(outbox.messages()[0].subject, "Welcome");
//! # Ok(())
//! # }
//! # #[cfg(feature = "mail")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! A web handler hands mail to the disk spool (`spool:///var/spool/app`) or Redis and
//! returns at once; `spool-drain` sends the queue over SMTP with retries and a dead-letter
//! place. See [`mail`].
//!
//! # Assets
//!
//! ```
//! # #[cfg(feature = "assets")]
//! # fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::{Assets, AssetsConfig, Mode};
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("js"))?;
//! # std::fs::write(dir.path().join("js/a.js"), "function hello(name) { return 'hi ' + name; }")?;
//! # std::fs::write(dir.path().join("js/b.js"), "console.log(hello('you'));")?;
//! # let static_dir = dir.path().to_path_buf();
//! let assets = Assets::new(AssetsConfig {
//!     static_dir: static_dir.clone(),
//!     output_dir: static_dir.join("combined"),
//!     url_prefix: "/static/".into(),
//!     cdn_prefix: Some("//cdn.example.com".into()),
//!     mode: Mode::Production,
//! })?;
//! // One combined, minified, content-hashed file behind the CDN prefix.
//! let url = assets.url(&["js/a.js", "js/b.js"])?;
//! assert!(url.starts_with("//cdn.example.com/combined/a.b.") && url.ends_with(".js"));
//! # Ok(())
//! # }
//! # #[cfg(feature = "assets")]
//! # demo().unwrap();
//! ```
//!
//! In templates the same is `{{ static("js/a.js", "js/b.js") }}` (feature `minijinja`),
//! and `static-bundle` builds every bundle ahead of time. See [`assets`].
//!
//! # Test client
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # async fn demo() {
//! use axum::{Router, routing::get};
//! use squall::testing::TestClient;
//!
//! let app = Router::new().route("/", get(|| async { "hello stranger" }));
//! let client = TestClient::new(app); // in-process: no socket
//! client.get("/").await.assert_status(200).assert_contains("stranger");
//! # }
//! # #[cfg(feature = "testing")]
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo());
//! ```
//!
//! Cookies are kept as a browser keeps them, redirects are followed on request, and forms,
//! JSON and XSRF tokens take one call each. See [`testing`].
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "cli")]
pub mod cli;
mod duration;
#[cfg(any(feature = "mail", feature = "testing"))]
mod sync;

pub use duration::{DurationError, parse_duration};

#[cfg(feature = "mail")]
pub mod mail;

#[cfg(feature = "assets")]
pub mod assets;

#[cfg(feature = "testing")]
pub mod testing;

/// The README's code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "mail-templates", feature = "testing"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
