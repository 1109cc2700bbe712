//! Serving bundles and sources over HTTP: tower-http's `ServeDir` with the
//! `Cache-Control` each needs.
//!
//! Bundles have hashed names, so the output directory is served as cacheable forever, with
//! the `.br` and `.gz` siblings to clients that accept them; the sources, in debug, are
//! revalidated on every request.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("app.0123456789abcdef.js"), "var app = 1;")?;
//! let request = http::Request::get("/app.0123456789abcdef.js").body(String::new())?;
//! let response = squall::assets::serve_immutable(dir.path()).oneshot(request).await?;
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["cache-control"], "public, max-age=31536000, immutable");
//! # Ok(()) }
//! ```

use std::path::Path;

use http::HeaderValue;
use tower_http::services::ServeDir;
use tower_http::services::fs::ServeFileSystemResponseBody;
use tower_http::set_header::SetResponseHeader;

/// What `ServeDir` answers.
type Response = http::Response<ServeFileSystemResponseBody>;

/// The service [`serve_immutable`] and [`serve_no_cache`] return: tower-http's
/// `ServeDir` (with `.gz`/`.br` siblings) setting `Cache-Control` on success.
pub type ServeAssets = SetResponseHeader<
    ServeDir,
    fn(&http::Response<ServeFileSystemResponseBody>) -> Option<HeaderValue>,
>;

fn immutable(response: &Response) -> Option<HeaderValue> {
    response
        .status()
        .is_success()
        .then(|| HeaderValue::from_static("public, max-age=31536000, immutable"))
}

fn no_cache(_: &Response) -> Option<HeaderValue> {
    Some(HeaderValue::from_static("no-cache"))
}

fn serve(dir: &Path, cache: fn(&Response) -> Option<HeaderValue>) -> ServeAssets {
    let serve_dir = ServeDir::new(dir).precompressed_br().precompressed_gzip();
    SetResponseHeader::overriding(serve_dir, http::header::CACHE_CONTROL, cache)
}

/// Serves `dir` (the output directory: hashed names only) with
/// `Cache-Control: public, max-age=31536000, immutable` on success and the `.br`/`.gz`
/// siblings to clients that accept them. Mount it where the bundles' URLs point, e.g.
/// `Router::new().nest_service("/static/combined", serve_immutable("static/combined"))`.
pub fn serve_immutable(dir: impl AsRef<Path>) -> ServeAssets {
    serve(dir.as_ref(), immutable)
}

/// Serves `dir` (the sources, in debug) with `Cache-Control: no-cache`, so the browser
/// revalidates every file.
pub fn serve_no_cache(dir: impl AsRef<Path>) -> ServeAssets {
    serve(dir.as_ref(), no_cache)
}
