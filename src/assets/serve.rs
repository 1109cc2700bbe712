//! Serving bundles, digested static files and sources over HTTP: tower-http's `ServeDir`
//! with the headers a shared cache needs.
//!
//! Bundles and digested files (`logo.<hash16>.png`) have hashed names, so the output
//! directory is served as cacheable forever, with
//! the `.br` and `.gz` siblings to clients that accept them, `Vary: Accept-Encoding` on
//! every answer that could have been another encoding, and a strong `ETag` that
//! `If-None-Match` revalidates into a `304` (which carries the same `Cache-Control` and
//! `Vary`). Only content-hashed names are served from it: `manifest.json`, temporary files
//! and anything else without a digest in its name answer `404`. The sources, in debug, are
//! revalidated on every request.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.0123456789abcdef.js"), "var app = 1;")?;
//! std::fs::write(dir.path().join("manifest.json"), "{}")?;
//! let get = |path: &str| http::Request::get(path).body(String::new());
//! let service = squall::assets::serve_immutable(dir.path());
//! let response = service.clone().oneshot(get("/app.0123456789abcdef.js")?).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
//! assert_eq!(response.headers()["vary"], "accept-encoding");
//! let etag = response.headers()["etag"].clone();
//!
//! let again = http::Request::get("/app.0123456789abcdef.js")
//!     .header("if-none-match", etag)
//!     .body(String::new())?;
//! let response = service.clone().oneshot(again).await?;
//! assert_eq!(response.status(), 304);
//! assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
//!
//! assert_eq!(service.oneshot(get("/manifest.json")?).await?.status(), 404);
//! # Ok(()) }
//! ```
//!
//! The `ETag` is tower-http's: the modification time and size of the file sent (each
//! encoding is its own file, so each has its own tag). Servers behind one load balancer
//! that copied the files without keeping their modification times give different tags for
//! the same file; that costs a full response on revalidation, never a wrong one, and
//! `immutable` means browsers seldom revalidate at all.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use http::{HeaderValue, StatusCode, header};
use tower::Service;
use tower_http::services::ServeDir;
use tower_http::services::fs::{
    Backend, DefaultServeDirFallback, ServeFileSystemResponseBody, TokioBackend, TokioFile,
};
use tower_http::set_header::SetResponseHeader;

use super::digest::is_content_hashed;

/// What `ServeDir` answers.
type Response = http::Response<ServeFileSystemResponseBody>;

/// Computes one header from the response.
type HeaderFn = fn(&Response) -> Option<HeaderValue>;

type Inner = SetResponseHeader<
    SetResponseHeader<ServeDir<DefaultServeDirFallback, Files>, HeaderFn>,
    HeaderFn,
>;

/// The service [`serve_immutable`] and [`serve_no_cache`] return: tower-http's
/// `ServeDir` (with `.gz`/`.br` siblings, `ETag`, `Vary`) setting `Cache-Control`.
///
/// A `tower::Service` for any request body; mount it with axum's `nest_service`.
#[derive(Debug, Clone)]
pub struct ServeAssets {
    inner: Inner,
}

impl<B> Service<http::Request<B>> for ServeAssets
where
    B: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        <Inner as Service<http::Request<B>>>::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        Box::pin(self.inner.call(request))
    }
}

/// The file system as `ServeDir` sees it; with `hashed_only`, a file whose name carries no
/// content digest does not exist.
#[derive(Debug, Clone, Copy)]
struct Files {
    hashed_only: bool,
}

type NotFound<T> = Pin<Box<dyn Future<Output = io::Result<T>> + Send>>;

impl Files {
    fn hidden(&self, path: &Path) -> bool {
        self.hashed_only
            && !path
                .file_name()
                .and_then(|name| name.to_str())
                .is_some_and(is_content_hashed)
    }

    fn not_found<T: Send + 'static>() -> NotFound<T> {
        Box::pin(std::future::ready(Err(io::ErrorKind::NotFound.into())))
    }
}

impl Backend for Files {
    type File = TokioFile;
    type Metadata = std::fs::Metadata;
    type OpenFuture = <TokioBackend as Backend>::OpenFuture;
    type MetadataFuture = <TokioBackend as Backend>::MetadataFuture;

    fn open(&self, path: PathBuf) -> Self::OpenFuture {
        if self.hidden(&path) {
            return Self::not_found();
        }
        TokioBackend.open(path)
    }

    fn metadata(&self, path: PathBuf) -> Self::MetadataFuture {
        if self.hidden(&path) {
            return Self::not_found();
        }
        TokioBackend.metadata(path)
    }
}

const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const NO_CACHE: HeaderValue = HeaderValue::from_static("no-cache");

/// Cacheable forever: the answers a cache may store (200, 206) and the 304 that
/// revalidates them (RFC 9110 §15.4.5: a 304 carries the `Cache-Control` a 200 would).
fn immutable(response: &Response) -> Option<HeaderValue> {
    let status = response.status();
    (status.is_success() || status == StatusCode::NOT_MODIFIED).then_some(IMMUTABLE)
}

fn no_cache(_: &Response) -> Option<HeaderValue> {
    Some(NO_CACHE)
}

/// tower-http sends `Vary: accept-encoding` on 200s; a 304 must carry it too.
fn vary_on_not_modified(response: &Response) -> Option<HeaderValue> {
    (response.status() == StatusCode::NOT_MODIFIED)
        .then_some(HeaderValue::from_static("accept-encoding"))
}

fn serve(dir: &Path, hashed_only: bool, cache: HeaderFn) -> ServeAssets {
    let serve_dir = ServeDir::with_backend(dir, Files { hashed_only })
        .precompressed_br()
        .precompressed_gzip();
    let vary = SetResponseHeader::if_not_present(
        serve_dir,
        header::VARY,
        vary_on_not_modified as HeaderFn,
    );
    ServeAssets {
        inner: SetResponseHeader::overriding(vary, header::CACHE_CONTROL, cache),
    }
}

/// Serves `dir` (the output directory) with
/// `Cache-Control: public, max-age=31536000, immutable` on success and on `304`,
/// `Vary: Accept-Encoding`, a strong `ETag` (`If-None-Match` answers `304`), and the
/// `.br`/`.gz` siblings to clients that accept them. Only content-hashed names
/// (`a.b.<hash16>.js`, `logo.<hash16>.png`) are served: `manifest.json` and anything else
/// answers `404`. Mount it where the bundles' URLs point, e.g.
/// `Router::new().nest_service("/static/combined", serve_immutable("static/combined"))`.
pub fn serve_immutable(dir: impl AsRef<Path>) -> ServeAssets {
    serve(dir.as_ref(), true, immutable)
}

/// Serves `dir` (the sources, in debug) with `Cache-Control: no-cache`, so the browser
/// revalidates every file (with its `ETag`).
pub fn serve_no_cache(dir: impl AsRef<Path>) -> ServeAssets {
    serve(dir.as_ref(), false, no_cache)
}
