#![cfg(all(feature = "assets", feature = "minijinja", feature = "cli", unix))]
//! Every static file digested, not only bundles: `static_url("img/logo.png")` in
//! templates (hashed copy with the CDN prefix in production, plain path in debug),
//! `static-bundle` digesting the whole tree into the manifest, CSS `url()`s sharing the
//! same copies, pruning that keeps the live build's copies, a file added after the build,
//! and `serve_immutable` sending the copies over HTTP.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Output;

use squall::assets::{Assets, AssetsConfig, Mode, serve_immutable};

mod support;

const CDN: &str = "//cdn.example.com";

/// A copy of the fixture site plus the files a site has besides bundle sources: a
/// favicon, a PDF, an SVG large enough to compress, a hidden file, and a template that
/// names two of them with `static_url()`.
fn site() -> tempfile::TempDir {
    let dir = support::assets::fixture_site();
    let stat = dir.path().join("static");
    std::fs::create_dir_all(stat.join("docs")).unwrap();
    std::fs::write(stat.join("favicon.ico"), b"\0\0\x01\0icon").unwrap();
    std::fs::write(stat.join("docs/guide.pdf"), b"%PDF-1.4 guide").unwrap();
    std::fs::write(stat.join("img/icon.svg"), svg()).unwrap();
    std::fs::write(stat.join(".gitkeep"), b"").unwrap();
    std::fs::write(
        dir.path().join("templates/images.html"),
        "<img src=\"{{ static_url('img/icon.svg') }}\">\n\
         <a href=\"{{ static_url(\"docs/guide.pdf\") }}\">guide</a>\n",
    )
    .unwrap();
    dir
}

fn svg() -> String {
    let circles: String = (0..60)
        .map(|i| format!("<circle cx=\"{i}\" cy=\"{i}\" r=\"4\" fill=\"#336699\"/>"))
        .collect();
    format!("<svg xmlns=\"http://www.w3.org/2000/svg\">{circles}</svg>")
}

fn static_bundle(root: &Path, out: &str, extra: &[&str]) -> Output {
    let run = support::assets::static_bundle(root, out)
        .args(["--cdn-prefix", CDN])
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

fn manifest_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

fn digested(out: &Path) -> serde_json::Map<String, serde_json::Value> {
    manifest_json(out)["files"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn copy_of(out: &Path, source: &str) -> String {
    digested(out)[source].as_str().unwrap().to_owned()
}

fn names_in(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn config(root: &Path, mode: Mode) -> AssetsConfig {
    AssetsConfig {
        static_dir: root.join("static"),
        output_dir: root.join("static/combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: Some(CDN.into()),
        mode,
    }
}

fn render(assets: &Assets, template: &str) -> Result<String, minijinja::Error> {
    let mut env = minijinja::Environment::new();
    assets.register(&mut env);
    env.add_template("t", template)?;
    env.get_template("t")?.render(())
}

#[test]
fn static_url_is_a_hashed_cdn_url_in_production_and_the_plain_path_in_debug() {
    let dir = site();
    let root = dir.path();
    let out = root.join("static/combined");
    let production = Assets::new(config(root, Mode::Production)).unwrap();
    let html = render(&production, "{{ static_url('img/logo.png') }}").unwrap();
    let name = html
        .strip_prefix(&format!("{CDN}/combined/"))
        .unwrap_or_else(|| panic!("{html}"));
    assert!(
        name.starts_with("logo.") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(
        std::fs::read(out.join(name)).unwrap(),
        std::fs::read(root.join("static/img/logo.png")).unwrap()
    );
    // The same file under another spelling is the same copy; a bundle source still
    // gives its one-file bundle, and static() of it a tag.
    assert_eq!(production.url(&["./img//logo.png"]).unwrap(), html);
    let bundle = production.url(&["js/a.js"]).unwrap();
    assert!(
        bundle.starts_with(&format!("{CDN}/combined/a.")),
        "{bundle}"
    );
    let tag = render(&production, "{{ static('js/a.js') }}").unwrap();
    assert!(tag.contains(&bundle), "{tag}");

    let debug = Assets::new(config(root, Mode::Debug)).unwrap();
    let html = render(&debug, "{{ static_url('img/logo.png') }}").unwrap();
    assert_eq!(html, "/static/img/logo.png");

    for assets in [&production, &debug] {
        let err = render(assets, "{{ static_url('img/missing.png') }}").unwrap_err();
        assert!(
            format!("{err:#}").contains("img/missing.png: no such file"),
            "{err:#}"
        );
        let err = render(assets, "{{ static_url('../secret.txt') }}").unwrap_err();
        assert!(
            format!("{err:#}").contains("leaves the static directory"),
            "{err:#}"
        );
    }
    // The output directory is not a source: its manifest is never published.
    std::fs::write(out.join("manifest.json"), "{}").unwrap();
    let err = production.url(&["combined/manifest.json"]).unwrap_err();
    assert!(err.to_string().contains("is a build output"), "{err}");
}

#[test]
fn css_urls_and_static_url_share_one_copy_per_content() {
    let dir = site();
    let root = dir.path();
    let out = root.join("static/combined");
    let stat = root.join("static");
    std::fs::write(
        stat.join("css/c.css"),
        ".c { background: url(../img/logo.png) }",
    )
    .unwrap();
    let assets = Assets::new(config(root, Mode::Production)).unwrap();
    let first = assets.build(&["css/a.css", "css/b.css"]).unwrap();
    let second = assets.build(&["css/c.css"]).unwrap();
    let url = assets.url(&["img/logo.png"]).unwrap();
    let name = url.rsplit('/').next().unwrap();
    assert!(first.assets.iter().any(|a| a == name), "{:?}", first.assets);
    assert_eq!(second.assets, [name]);
    let css = std::fs::read_to_string(out.join(&second.file)).unwrap();
    assert!(css.contains(&format!("url({name})")), "{css}");
    let copies: Vec<String> = names_in(&out)
        .into_iter()
        .filter(|n| n.starts_with("logo."))
        .collect();
    assert_eq!(copies, [name], "one copy of logo.png");
}

#[test]
fn static_bundle_digests_the_whole_tree_into_the_manifest() {
    let dir = site();
    let root = dir.path();
    let out = root.join("static/combined");
    let run = static_bundle(root, "static/combined", &[]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("4 built, 0 failed, 0 non-literal call(s), 5 file(s) digested"),
        "{stderr}"
    );

    let files = digested(&out);
    let sources: Vec<&str> = files.keys().map(String::as_str).collect();
    // Not the bundle sources, the hidden file, nor the output directory.
    assert_eq!(
        sources,
        [
            "docs/guide.pdf",
            "favicon.ico",
            "fonts/icons.woff2",
            "img/icon.svg",
            "img/logo.png"
        ]
    );
    for (source, copy) in &files {
        let copy = copy.as_str().unwrap();
        assert_eq!(
            std::fs::read(out.join(copy)).unwrap(),
            std::fs::read(root.join("static").join(source)).unwrap(),
            "{source}"
        );
        // Text types get precompressed siblings; compressed formats do not.
        let text = source.ends_with(".svg") || source.ends_with(".ico");
        assert_eq!(out.join(format!("{copy}.br")).is_file(), text, "{copy}.br");
        assert_eq!(out.join(format!("{copy}.gz")).is_file(), text, "{copy}.gz");
    }
    // The CSS bundle's logo and font are the digested copies.
    let bundle = &manifest_json(&out)["bundles"]["css/a.css,css/b.css"];
    let mut assets: Vec<&str> = bundle["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assets.sort();
    assert_eq!(
        assets,
        [
            copy_of(&out, "fonts/icons.woff2"),
            copy_of(&out, "img/logo.png")
        ]
    );

    // --json reports the files too.
    let run = static_bundle(root, "static/combined", &["--json"]);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["files"].as_array().unwrap().len(), 5);
    assert_eq!(report["files"][3]["source"], "img/icon.svg");
    assert!(report["files"][3]["brotli"].as_u64().unwrap() > 0);

    // Production with the manifest: the templates' URLs are lookups, nothing is built.
    let assets = Assets::new(config(root, Mode::Production)).unwrap();
    let mut env = minijinja::Environment::new();
    assets.register(&mut env);
    let template = std::fs::read_to_string(root.join("templates/images.html")).unwrap();
    env.add_template("images", &template).unwrap();
    let html = env.get_template("images").unwrap().render(()).unwrap();
    let svg_url = format!("{CDN}/combined/{}", copy_of(&out, "img/icon.svg"));
    let pdf_url = format!("{CDN}/combined/{}", copy_of(&out, "docs/guide.pdf"));
    assert!(html.contains(&svg_url) && html.contains(&pdf_url), "{html}");
    assert_eq!(assets.builds(), 0);
}

#[test]
fn a_missing_file_named_in_a_template_fails_the_run_naming_the_line() {
    let dir = site();
    let root = dir.path();
    std::fs::write(
        root.join("templates/broken.html"),
        "\n{{ static_url('img/gone.png') }}\n",
    )
    .unwrap();
    let run = support::assets::static_bundle(root, "static/combined")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "FAILED img/gone.png (used at templates/broken.html:2): img/gone.png: no such file"
        ),
        "{stderr}"
    );
}

#[test]
fn with_the_output_in_the_static_directory_a_rebuild_digests_no_outputs() {
    let dir = site();
    let root = dir.path();
    let stat = root.join("static");
    std::fs::write(stat.join("robots.txt"), "User-agent: *\n").unwrap();
    static_bundle(root, "static", &[]);
    let first = names_in(&stat);
    let files = digested(&stat);
    assert!(files.contains_key("robots.txt") && files.contains_key("favicon.ico"));
    assert!(!files.keys().any(|k| k.contains("manifest")), "{files:?}");
    static_bundle(root, "static", &[]);
    assert_eq!(
        names_in(&stat),
        first,
        "the second run made copies of copies"
    );
    assert_eq!(digested(&stat), files);
}

#[test]
fn pruning_keeps_the_live_builds_copies_and_deletes_the_old_ones() {
    let dir = site();
    let root = dir.path();
    let out = root.join("static/combined");
    let prune = ["--prune-older-than", "0s", "--keep", "0"];
    static_bundle(root, "static/combined", &prune);
    let old_svg = copy_of(&out, "img/icon.svg");
    let pdf = copy_of(&out, "docs/guide.pdf");
    std::fs::write(
        root.join("static/img/icon.svg"),
        svg().replace("336699", "993366"),
    )
    .unwrap();
    static_bundle(root, "static/combined", &prune);
    let new_svg = copy_of(&out, "img/icon.svg");
    assert_ne!(new_svg, old_svg);
    for name in [
        &new_svg,
        &format!("{new_svg}.br"),
        &format!("{new_svg}.gz"),
        &pdf,
    ] {
        assert!(
            out.join(name).is_file(),
            "{name} of the live build was pruned"
        );
    }
    for name in [&old_svg, &format!("{old_svg}.br"), &format!("{old_svg}.gz")] {
        assert!(
            !out.join(name).exists(),
            "{name} of the old build is still there"
        );
    }
}

#[test]
fn a_file_added_after_the_build_is_digested_on_first_use() {
    let dir = site();
    let root = dir.path();
    let out = root.join("static/combined");
    static_bundle(root, "static/combined", &[]);
    let assets = Assets::new(config(root, Mode::Production)).unwrap();
    std::fs::write(root.join("static/img/late.png"), b"\x89PNG late").unwrap();
    let url = assets.url(&["img/late.png"]).unwrap();
    let name = url.strip_prefix(&format!("{CDN}/combined/")).unwrap();
    assert!(
        name.starts_with("late.") && name.ends_with(".png"),
        "{name}"
    );
    assert_eq!(std::fs::read(out.join(name)).unwrap(), b"\x89PNG late");
    // Cached: the same URL even after the source changes, as a bundle's is.
    std::fs::write(root.join("static/img/late.png"), b"\x89PNG later").unwrap();
    assert_eq!(assets.url(&["img/late.png"]).unwrap(), url);
}

#[tokio::test]
async fn serve_immutable_sends_the_digested_copies() {
    let dir = site();
    let root = dir.path().to_path_buf();
    let out: PathBuf = root.join("static/combined");
    tokio::task::spawn_blocking({
        let root = root.clone();
        move || static_bundle(&root, "static/combined", &[])
    })
    .await
    .unwrap();
    let svg = copy_of(&out, "img/icon.svg");
    let png = copy_of(&out, "img/logo.png");
    let app = axum::Router::new().nest_service("/static/combined", serve_immutable(&out));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let client = reqwest::Client::new();
    let get = |name: &str, encoding: &str| {
        client
            .get(format!("http://{addr}/static/combined/{name}"))
            .header("accept-encoding", encoding)
            .send()
    };

    let response = get(&svg, "br").await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(
        headers["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(headers["content-encoding"], "br");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(headers["content-type"], "image/svg+xml");
    let body = response.bytes().await.unwrap();
    assert_eq!(body, std::fs::read(out.join(format!("{svg}.br"))).unwrap());

    let response = get(&png, "gzip, br").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(response.headers().get("content-encoding").is_none());
    assert_eq!(
        response.bytes().await.unwrap(),
        std::fs::read(root.join("static/img/logo.png")).unwrap()
    );
}
