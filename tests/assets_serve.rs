#![cfg(feature = "assets")]
//! `serve_immutable` over real HTTP (axum on 127.0.0.1, reqwest as the client): the
//! headers a shared cache needs (`Vary`, `Cache-Control` on 304 too), strong `ETag`s with
//! `If-None-Match`, and nothing served but content-hashed files.

use std::net::SocketAddr;
use std::path::Path;

use squall::assets::{Assets, AssetsConfig, Mode, serve_immutable};

/// A built bundle (with `.gz`/`.br` siblings) and its output directory, served by axum.
struct Served {
    _dir: tempfile::TempDir,
    addr: SocketAddr,
    bundle: String,
}

async fn serve_bundle() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("js")).unwrap();
    // Large enough for the precompressed siblings to be written.
    let source: String = (0..200)
        .map(|i| format!("window.value{i} = {i} * 2 + document.title.length;\n"))
        .collect();
    std::fs::write(root.join("js/app.js"), source).unwrap();
    let assets = Assets::new(AssetsConfig {
        static_dir: root.into(),
        output_dir: root.join("combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: None,
        mode: Mode::Production,
    })
    .unwrap();
    let report = assets.build(&["js/app.js"]).unwrap();
    let combined = root.join("combined");
    assert!(combined.join(format!("{}.br", report.file)).is_file());
    assert!(combined.join(format!("{}.gz", report.file)).is_file());
    std::fs::write(
        combined.join("manifest.json"),
        r#"{"version":1,"bundles":{}}"#,
    )
    .unwrap();
    std::fs::write(combined.join("notes.txt"), "not content-hashed").unwrap();

    let app = axum::Router::new().nest_service("/static/combined", serve_immutable(&combined));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Served {
        _dir: dir,
        addr,
        bundle: report.file,
    }
}

fn client() -> reqwest::Client {
    // No automatic decompression: reqwest sends exactly the Accept-Encoding we set.
    reqwest::Client::builder().build().unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

fn url(served: &Served, path: &str) -> String {
    format!("http://{}/static/combined/{path}", served.addr)
}

#[tokio::test]
async fn encoded_and_identity_responses_say_they_vary_by_accept_encoding() {
    let served = serve_bundle().await;
    let client = client();
    for (accept, encoding) in [
        (Some("br, gzip"), Some("br")),
        (Some("gzip"), Some("gzip")),
        (None, None),
        (Some("identity"), None),
    ] {
        let mut request = client.get(url(&served, &served.bundle));
        if let Some(accept) = accept {
            request = request.header("accept-encoding", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200, "{accept:?}");
        assert_eq!(
            header(&response, "content-encoding"),
            encoding,
            "{accept:?}"
        );
        let vary = header(&response, "vary").unwrap_or_default();
        assert!(
            vary.to_ascii_lowercase().contains("accept-encoding"),
            "{accept:?}: vary = {vary:?}"
        );
        assert_eq!(
            header(&response, "cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{accept:?}"
        );
    }
}

#[tokio::test]
async fn a_matching_if_none_match_is_a_304_with_cache_control_and_etag() {
    let served = serve_bundle().await;
    let client = client();
    for accept in ["br", "identity"] {
        let first = client
            .get(url(&served, &served.bundle))
            .header("accept-encoding", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(first.status(), 200);
        let etag = header(&first, "etag")
            .unwrap_or_else(|| panic!("{accept}: no ETag on the 200"))
            .to_owned();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "{accept}: a strong ETag, got {etag}"
        );

        let again = client
            .get(url(&served, &served.bundle))
            .header("accept-encoding", accept)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), 304, "{accept}");
        assert_eq!(header(&again, "etag"), Some(etag.as_str()), "{accept}");
        assert_eq!(
            header(&again, "cache-control"),
            Some("public, max-age=31536000, immutable"),
            "{accept}"
        );
        let vary = header(&again, "vary").unwrap_or_default();
        assert!(
            vary.to_ascii_lowercase().contains("accept-encoding"),
            "{accept}: vary = {vary:?}"
        );

        let other = client
            .get(url(&served, &served.bundle))
            .header("accept-encoding", accept)
            .header("if-none-match", "\"something-else\"")
            .send()
            .await
            .unwrap();
        assert_eq!(other.status(), 200, "{accept}");
    }
}

#[tokio::test]
async fn the_manifest_and_other_unhashed_files_are_not_served() {
    let served = serve_bundle().await;
    let client = client();
    for path in [
        "manifest.json",
        "manifest%2Ejson",
        "MANIFEST.JSON",
        "notes.txt",
        "",
    ] {
        let response = client.get(url(&served, path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert!(header(&response, "cache-control").is_none(), "{path}");
    }
    let bundle = client
        .get(url(&served, &served.bundle))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
}

#[test]
fn the_output_directory_layout_is_what_the_server_expects() {
    // Hashed names: `<stems>.<16 hex>.<ext>`, which the server's allow-list relies on.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.js"), "var a = 1;").unwrap();
    let assets = Assets::new(AssetsConfig {
        static_dir: dir.path().into(),
        output_dir: dir.path().join("combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: None,
        mode: Mode::Production,
    })
    .unwrap();
    let report = assets.build(&["a.js"]).unwrap();
    let parts: Vec<&str> = report.file.split('.').collect();
    assert_eq!(parts.len(), 3, "{}", report.file);
    assert_eq!(parts[1].len(), 16);
    assert!(parts[1].bytes().all(|b| b.is_ascii_hexdigit()));
    assert!(Path::new(&dir.path().join("combined").join(&report.file)).is_file());
}
