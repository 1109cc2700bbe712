//! squall: async utilities for web applications on tokio.
//!
//! Three parts, each a cargo feature that builds alone:
//!
//! - **`mail`**: an `Email` model and pluggable backends behind one `Mailer` trait: SMTP
//!   (pooled, pipelined, with a timeout on every step), console, an in-memory outbox for
//!   tests, and the disk spool that the `spool-drain` program sends from.
//! - **`assets`** (and **`minijinja`**): template functions `static(...)` and
//!   `static_url(...)` that emit one tag per file in debug mode and one combined, minified,
//!   content-hashed bundle in production.
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
#![warn(missing_docs)]
#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used, clippy::expect_used)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod duration;
#[cfg(any(feature = "mail", feature = "assets", feature = "testing"))]
mod sync;

pub use duration::{DurationError, parse_duration};

#[cfg(feature = "mail")]
pub mod mail;

#[cfg(feature = "assets")]
pub mod assets;

#[cfg(feature = "testing")]
pub mod testing;

/// The README's code blocks, compiled and run as doctests.
#[cfg(all(doctest, feature = "mail", feature = "minijinja", feature = "testing"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
