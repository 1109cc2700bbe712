#![cfg(all(feature = "assets", feature = "minijinja"))]
//! Bundles from the fixture site (tests/fixtures/assets/site): tags in both modes, CSS
//! imports and url() rewriting, determinism, concurrency, precompressed siblings, the
//! run-time fallback, bad inputs, the template functions and serving.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};

use sha2::{Digest, Sha384};
use squall::assets::{Assets, AssetsConfig, BundleError, Error, MinifyError, Mode, ReferenceError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assets")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from) {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of the fixture site in a temporary directory: `<tmp>/static`, `<tmp>/templates`.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixtures().join("site"), dir.path());
    dir
}

fn config(root: &Path, mode: Mode, cdn: Option<&str>) -> AssetsConfig {
    AssetsConfig {
        static_dir: root.join("static"),
        output_dir: root.join("static/combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: cdn.map(Into::into),
        mode,
    }
}

fn production(root: &Path) -> Assets {
    Assets::new(config(root, Mode::Production, Some("//cdn.example.com"))).unwrap()
}

fn href(tag: &str) -> &str {
    let start = tag
        .find(" href=\"")
        .or_else(|| tag.find(" src=\""))
        .unwrap();
    let rest = &tag[tag[start..].find('"').unwrap() + start + 1..];
    &rest[..rest.find('"').unwrap()]
}

fn output_file(root: &Path, url: &str) -> PathBuf {
    let name = url.rsplit('/').next().unwrap();
    root.join("static/combined").join(name)
}

#[test]
fn debug_mode_one_tag_per_file_with_content_hash() {
    let dir = site();
    let assets = Assets::new(config(dir.path(), Mode::Debug, Some("//cdn.example.com"))).unwrap();
    let tags = assets.tags(&["css/a.css", "css/b.css"]).unwrap();
    let lines: Vec<&str> = tags.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("<link rel=\"stylesheet\" href=\"/static/css/a.css?v="));
    assert!(lines[1].starts_with("<link rel=\"stylesheet\" href=\"/static/css/b.css?v="));
    assert!(!tags.contains("integrity") && !tags.contains("cdn.example.com"));
    let js = assets.tags(&["js/a.js"]).unwrap();
    assert!(js.starts_with("<script src=\"/static/js/a.js?v=") && js.ends_with("\"></script>"));

    // Changing the file changes the version, so browsers refetch it.
    let before = assets.url(&["js/a.js"]).unwrap();
    std::fs::write(dir.path().join("static/js/a.js"), "var changed = 1;").unwrap();
    let after = assets.url(&["js/a.js"]).unwrap();
    assert_ne!(before, after);
    assert!(after.starts_with("/static/js/a.js?v="));
    // Nothing was written in debug.
    assert!(!dir.path().join("static/combined").exists());
}

#[test]
fn production_css_bundle_inlines_imports_and_rewrites_urls() {
    let dir = site();
    let root = dir.path();
    let assets = production(root);
    let tag = assets.tags(&["css/a.css", "css/b.css"]).unwrap();
    let url = href(&tag);
    assert!(url.starts_with("//cdn.example.com/combined/a.b."), "{tag}");
    assert!(url.ends_with(".css"));
    let bytes = std::fs::read(output_file(root, url)).unwrap();
    let css = String::from_utf8(bytes.clone()).unwrap();

    // SRI of the final bytes, crossorigin for the CDN.
    let integrity = format!(
        "sha384-{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            Sha384::digest(&bytes)
        )
    );
    assert!(tag.contains(&format!("integrity=\"{integrity}\"")), "{tag}");
    assert!(tag.ends_with("crossorigin=\"anonymous\">"));

    assert!(css.starts_with("/*! a.css licence: keep me */"), "{css}");
    // Remote @import hoisted to the top; local ones inlined (print one under @media).
    let import_at = css
        .find("@import \"https://fonts.example.com/css?family=Inter\";")
        .unwrap();
    assert!(import_at < css.find(".imported").unwrap());
    assert!(!css.contains("parts/imported.css"));
    assert!(
        css.contains("@media print{.no-print{display:none}}"),
        "{css}"
    );
    // url()s: relative ones point at hashed copies, the rest untouched.
    assert!(
        css.contains("url(\"data:image/svg+xml,%3csvg xmlns='http://www.w3.org/2000/svg'/%3e\")"),
        "{css}"
    );
    assert!(
        css.contains("url(/img/absolute.png)") && css.contains("url(https://example.com/x.png)")
    );
    assert!(!css.contains("not-a-real-url"));
    let logo = css.split("url(").find(|s| s.starts_with("logo.")).unwrap();
    let logo = &logo[..logo.find(')').unwrap()];
    assert_eq!(
        std::fs::read(root.join("static/combined").join(logo)).unwrap(),
        std::fs::read(root.join("static/img/logo.png")).unwrap()
    );
    let font = css.split("url(").find(|s| s.starts_with("icons.")).unwrap();
    let font = &font[..font.find(')').unwrap()];
    assert!(font.ends_with(".woff2?v=2#iefix"), "{font}");
    assert!(
        root.join("static/combined")
            .join(font.split('?').next().unwrap())
            .is_file()
    );
    // Conservative targets: min-width kept; minified.
    assert!(css.contains("@media (min-width:768px)"), "{css}");
    assert!(css.contains(".b{color:#00f;margin:0}"), "{css}");
}

#[test]
fn production_js_bundle_and_precompressed_siblings() {
    let dir = site();
    let root = dir.path();
    let assets = Assets::new(config(root, Mode::Production, None)).unwrap();
    let report = assets.build(&["js/a.js", "js/b.js"]).unwrap();
    assert!(report.file.starts_with("a.b.") && report.file.ends_with(".js"));
    let tag = assets.tags(&["js/a.js", "js/b.js"]).unwrap();
    assert_eq!(
        tag,
        format!(
            "<script src=\"/static/combined/{}\" integrity=\"{}\"></script>",
            report.file, report.integrity
        ),
        "no crossorigin without a CDN"
    );
    let out = root.join("static/combined");
    let js = std::fs::read(out.join(&report.file)).unwrap();
    assert!(js.starts_with(b"/*! a.js licence: keep me */"));
    let mut gz = Vec::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(out.join(format!("{}.gz", report.file))).unwrap(),
    )
    .read_to_end(&mut gz)
    .unwrap();
    assert_eq!(gz, js);
    let mut br = Vec::new();
    brotli::Decompressor::new(
        std::fs::File::open(out.join(format!("{}.br", report.file))).unwrap(),
        4096,
    )
    .read_to_end(&mut br)
    .unwrap();
    assert_eq!(br, js);
    assert_eq!(
        report.gzip,
        Some(
            std::fs::metadata(out.join(format!("{}.gz", report.file)))
                .unwrap()
                .len()
        )
    );

    // The bundle runs: the getter, the \x41 escape and `this` survive minification.
    let check = root.join("check.js");
    std::fs::write(
        &check,
        format!(
            "var window = globalThis;\n{}\nconsole.log(JSON.stringify([window.incremented, window.total, window.checks]));",
            String::from_utf8(js).unwrap()
        ),
    )
    .unwrap();
    let ran = std::process::Command::new("node")
        .arg(&check)
        .output()
        .unwrap();
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&ran.stdout).trim(),
        r#"[2,42,["getter","A",1000]]"#
    );
}

#[test]
fn names_are_deterministic_and_follow_content() {
    let one = site();
    let two = site();
    let a = production(one.path())
        .build(&["js/a.js", "js/b.js"])
        .unwrap();
    let b = production(two.path())
        .build(&["js/a.js", "js/b.js"])
        .unwrap();
    assert_eq!(a.file, b.file);
    assert_eq!(a.integrity, b.integrity);
    let css_a = production(one.path())
        .build(&["css/a.css", "css/b.css"])
        .unwrap();
    let css_b = production(two.path())
        .build(&["css/a.css", "css/b.css"])
        .unwrap();
    assert_eq!(css_a.file, css_b.file);
    assert_eq!(css_a.assets, css_b.assets);

    // One changed byte (in a string, which minification keeps) changes the name.
    let path = two.path().join("static/js/b.js");
    let source = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, source.replace("\"getter\"", "\"gettes\"")).unwrap();
    let c = production(two.path())
        .build(&["js/a.js", "js/b.js"])
        .unwrap();
    assert_ne!(a.file, c.file);
    // A referenced image changing changes its copy's name and so the stylesheet's.
    std::fs::write(two.path().join("static/img/logo.png"), b"\x89PNG other").unwrap();
    let css_c = production(two.path())
        .build(&["css/a.css", "css/b.css"])
        .unwrap();
    assert_ne!(css_a.file, css_c.file);
    // Rebuilding deleted nothing: the previous builds are still there for open pages.
    let out = two.path().join("static/combined");
    for name in [&b.file, &c.file, &css_b.file, &css_c.file] {
        assert!(out.join(name).is_file(), "{name}");
    }
    for name in css_b.assets.iter().chain(&css_c.assets) {
        assert!(out.join(name).is_file(), "{name}");
    }
}

#[test]
fn fifty_concurrent_first_renders_build_once() {
    let dir = site();
    let assets = production(dir.path());
    let barrier = Arc::new(Barrier::new(50));
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let assets = assets.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                assets.tags(&["css/a.css", "css/b.css"]).unwrap()
            })
        })
        .collect();
    let tags: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(tags.iter().all(|t| t == &tags[0]));
    assert_eq!(assets.builds(), 1);
    // Later renders are lookups.
    assert_eq!(assets.tags(&["css/a.css", "css/b.css"]).unwrap(), tags[0]);
    assert_eq!(assets.builds(), 1);
    let bundles: Vec<_> = std::fs::read_dir(dir.path().join("static/combined"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".css"))
        .collect();
    assert_eq!(bundles.len(), 1, "{bundles:?}");
}

fn put(root: &Path, name: &str, from: &str) {
    let target = root.join("static").join(name);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(fixtures().join("bad").join(from), target).unwrap();
}

fn build_err(assets: &Assets, files: &[&str]) -> String {
    assets.build(files).unwrap_err().to_string()
}

#[test]
fn bad_inputs_are_clear_errors() {
    let dir = site();
    let root = dir.path();
    put(root, "js/syntax.js", "syntax.js");
    put(root, "css/syntax.css", "syntax.css");
    put(root, "css/missing-url.css", "missing-url.css");
    put(root, "css/outside-url.css", "outside-url.css");
    std::fs::write(root.join("secret.js"), "var secret = 1;").unwrap();
    std::fs::write(root.join("static/js/a.txt"), "let a = 1;").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(root.join("secret.js"), root.join("static/js/link.js")).unwrap();
    let assets = production(root);

    assert_eq!(
        build_err(&assets, &["js/../../secret.js"]),
        "js/../../secret.js: path leaves the static directory; refused"
    );
    let absolute = root.join("secret.js");
    let absolute = absolute.to_str().unwrap();
    assert_eq!(
        build_err(&assets, &[absolute]),
        format!("{absolute}: path leaves the static directory; refused")
    );
    #[cfg(unix)]
    assert_eq!(
        build_err(&assets, &["js/link.js"]),
        "js/link.js: path leaves the static directory; refused"
    );
    assert!(build_err(&assets, &["js/nope.js"]).starts_with("js/nope.js: no such file ("));
    assert_eq!(
        build_err(&assets, &["css/a.css", "js/a.js"]),
        "js/a.js: a bundle mixes no kinds, but css/a.css is css and this is not"
    );
    assert_eq!(
        build_err(&assets, &["js/a.txt"]),
        "js/a.txt: unknown extension; a bundle holds .css or .js files, or one module entry \
         (.mjs, .ts, .mts, .tsx, .jsx)"
    );
    assert_eq!(build_err(&assets, &[]), "a bundle needs at least one file");
    match assets.build(&["js/a.js", "js/syntax.js"]) {
        Err(Error::Bundle(BundleError::Minify(MinifyError::Syntax {
            file, line, column, ..
        }))) => assert_eq!((file.as_str(), line, column), ("js/syntax.js", 3, 10)),
        other => panic!("{other:?}"),
    }
    let js = build_err(&assets, &["js/a.js", "js/syntax.js"]);
    assert!(js.starts_with("js/syntax.js:3:10: syntax error: "), "{js}");
    let css = build_err(&assets, &["css/syntax.css"]);
    assert!(css.starts_with("css/syntax.css:2:"), "{css}");
    assert_eq!(
        build_err(&assets, &["css/missing-url.css"])
            .split(" (")
            .next()
            .unwrap(),
        "css/missing-url.css:2:15: url(../img/nope.png) names a file that does not exist"
    );
    assert_eq!(
        build_err(&assets, &["css/outside-url.css"]),
        "css/outside-url.css:1:18: url(../../../../../../etc/passwd) leaves the static directory; refused"
    );
    // The same errors in debug mode for paths.
    let debug = Assets::new(config(root, Mode::Debug, None)).unwrap();
    match debug.tags(&["../secret.js"]) {
        Err(Error::Bundle(BundleError::Outside { file })) => assert_eq!(file, "../secret.js"),
        other => panic!("{other:?}"),
    }
    match debug.tags(&["css/a.css", "js/a.js"]) {
        Err(Error::Bundle(BundleError::Mixed { first, other, .. })) => {
            assert_eq!((first.as_str(), other.as_str()), ("css/a.css", "js/a.js"))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn import_errors_name_1_based_lines() {
    let dir = site();
    let root = dir.path();
    put(root, "css/missing-import.css", "missing-import.css");
    put(root, "css/cycle-a.css", "cycle-a.css");
    put(root, "css/cycle-b.css", "cycle-b.css");
    let assets = production(root);
    assert_eq!(
        build_err(&assets, &["css/missing-import.css"])
            .split(" (")
            .next()
            .unwrap(),
        "css/missing-import.css:3:1: url(parts/nope.css) names a file that does not exist"
    );
    assert_eq!(
        build_err(&assets, &["css/cycle-a.css"]),
        "css/cycle-b.css:3:1: @import url(cycle-a.css) makes a cycle; refused"
    );
    let reference = |files: &[&str]| match assets.build(files) {
        Err(Error::Bundle(BundleError::Minify(MinifyError::Reference(error)))) => error,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        reference(&["css/missing-import.css"]),
        ReferenceError::Missing {
            line: 3,
            column: 1,
            ..
        }
    ));
    assert!(matches!(
        reference(&["css/cycle-a.css"]),
        ReferenceError::ImportCycle {
            line: 3,
            column: 1,
            ..
        }
    ));
}

#[test]
fn a_syntax_error_at_run_time_serves_the_sources_unminified() {
    let dir = site();
    let root = dir.path();
    put(root, "js/syntax.js", "syntax.js");
    let assets = production(root);
    let tag = assets.tags(&["js/a.js", "js/syntax.js"]).unwrap();
    let served = std::fs::read_to_string(output_file(root, href(&tag))).unwrap();
    assert!(
        served.contains("function increment(amount) {"),
        "unminified: {served}"
    );
    assert!(served.contains("function broken( {"));
    assert!(tag.contains("integrity=\"sha384-"));
}

#[test]
fn template_functions() {
    let dir = site();
    let root = dir.path();
    let assets = production(root);
    let mut env = minijinja::Environment::new();
    env.set_loader(minijinja::path_loader(root.join("templates")));
    assets.register(&mut env);
    let html = env.get_template("base.html").unwrap().render(()).unwrap();
    // Safe HTML (not escaped), one tag per bundle, URLs on the CDN.
    assert!(
        html.contains("<link rel=\"stylesheet\" href=\"//cdn.example.com/combined/a.b."),
        "{html}"
    );
    assert!(
        html.contains("<script src=\"//cdn.example.com/combined/a.b."),
        "{html}"
    );
    // static_url() is a plain string: auto-escaping applies (minijinja escapes `/`).
    assert!(
        html.contains("<img src=\"&#x2f;&#x2f;cdn.example.com&#x2f;combined&#x2f;b."),
        "{html}"
    );
    assert_eq!(assets.builds(), 4);

    env.add_template("bad.html", "{{ static('js/missing.js') }}")
        .unwrap();
    let err = env
        .get_template("bad.html")
        .unwrap()
        .render(())
        .unwrap_err();
    assert_eq!(err.kind(), minijinja::ErrorKind::InvalidOperation);
    assert!(
        err.to_string()
            .contains("static(): js/missing.js: no such file"),
        "{err}"
    );
}

#[tokio::test]
async fn serving_with_immutable_cache_headers_and_precompressed_siblings() {
    use tower::ServiceExt;

    let dir = site();
    let root = dir.path();
    let assets = production(root);
    let report = assets.build(&["js/a.js", "js/b.js"]).unwrap();
    let request = http::Request::builder()
        .uri(format!("/{}", report.file))
        .header("accept-encoding", "br, gzip")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = assets.service().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(response.headers()["content-encoding"], "br");
    let missing = http::Request::builder()
        .uri("/nope.js")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = assets.service().oneshot(missing).await.unwrap();
    assert_eq!(response.status(), 404);
    assert!(response.headers().get("cache-control").is_none());

    let debug = Assets::new(config(root, Mode::Debug, None)).unwrap();
    let request = http::Request::builder()
        .uri("/js/a.js")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = debug.service().oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-cache");
}

/// Builds `files` (written from `sources`) as one production bundle and runs, in node, the
/// sources as separate scripts and the bundle as one; returns node's JSON report.
fn separate_vs_bundled(sources: &[(&str, &str)], order: &[&str], keys: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, text) in sources {
        let path = root.join("static").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    let assets = production(root);
    let report = assets.build(order).unwrap();
    let bundle = root.join("static/combined").join(&report.file);
    let out = std::process::Command::new("node")
        .arg(fixtures().join("separate_vs_bundle.js"))
        .arg(keys)
        .arg(&bundle)
        .args(order.iter().map(|name| root.join("static").join(name)))
        .output()
        .expect("node is needed for this test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const STRICT_JS: &str = r#""use strict";
try { leaked = 1; globalThis.strictThrew = "no"; } catch (error) { globalThis.strictThrew = error.name; }
globalThis.strictThis = (function () { return this === undefined; })();
"#;

const SLOPPY_JS: &str = r#"counter = 5;
var sloppyVar = counter + 1;
globalThis.sloppyThis = (function () { return this === globalThis; })();
"#;

const KEYS: &str = "counter,sloppyVar,sloppyThis,strictThrew,strictThis,leaked";

#[test]
fn each_file_keeps_its_own_strictness_in_a_bundle() {
    let sources = [("js/strict.js", STRICT_JS), ("js/sloppy.js", SLOPPY_JS)];
    for order in [
        ["js/strict.js", "js/sloppy.js"],
        ["js/sloppy.js", "js/strict.js"],
    ] {
        let report = separate_vs_bundled(&sources, &order, KEYS);
        assert_eq!(
            report["separate"]["globals"],
            serde_json::json!({
                "counter": 5, "sloppyVar": 6, "sloppyThis": true,
                "strictThrew": "ReferenceError", "strictThis": true, "leaked": "(undefined)",
            }),
            "{order:?}: {report}"
        );
        assert_eq!(report["bundled"], report["separate"], "{order:?}");
    }
}

#[test]
fn a_bundle_of_strict_files_stays_strict() {
    let declares = r#""use strict";
var shared = 2;
function helper() { return this === undefined; }
"#;
    let sources = [("js/strict.js", STRICT_JS), ("js/declares.js", declares)];
    for order in [
        ["js/strict.js", "js/declares.js"],
        ["js/declares.js", "js/strict.js"],
    ] {
        let report = separate_vs_bundled(&sources, &order, "shared,strictThrew,strictThis,leaked");
        assert_eq!(
            report["separate"]["globals"]["strictThrew"],
            "ReferenceError"
        );
        assert_eq!(report["bundled"], report["separate"], "{order:?}");
    }
}

#[test]
fn a_strict_file_with_globals_does_not_join_sloppy_files() {
    // Wrapping it in a function would turn its globals into locals, and leaving it at the
    // top level would make the sloppy file strict (or it non-strict): refused, by name.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("static/js")).unwrap();
    std::fs::write(
        root.join("static/js/declares.js"),
        "\"use strict\";\nvar shared = 2;\nfunction helper() { return shared; }\n",
    )
    .unwrap();
    std::fs::write(root.join("static/js/sloppy.js"), SLOPPY_JS).unwrap();
    let assets = production(root);
    for order in [
        ["js/declares.js", "js/sloppy.js"],
        ["js/sloppy.js", "js/declares.js"],
    ] {
        let err = assets.build(&order).unwrap_err();
        match &err {
            Error::Bundle(BundleError::Strictness { file, globals }) => {
                assert_eq!(file, "js/declares.js");
                assert_eq!(globals, &["helper".to_owned(), "shared".to_owned()]);
            }
            other => panic!("{order:?}: {other}"),
        }
        assert!(err.to_string().starts_with("js/declares.js: "), "{err}");
    }
}

#[test]
fn image_set_urls_are_rewritten_and_import_media_is_lowered_for_the_targets() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, bytes) in [
        ("static/img/a.png", &b"\x89PNG one"[..]),
        ("static/img/a@2x.png", &b"\x89PNG two"[..]),
        ("static/img/b.png", &b"\x89PNG three"[..]),
    ] {
        std::fs::create_dir_all(root.join(name).parent().unwrap()).unwrap();
        std::fs::write(root.join(name), bytes).unwrap();
    }
    std::fs::create_dir_all(root.join("static/css/parts")).unwrap();
    std::fs::write(
        root.join("static/css/parts/wide.css"),
        ".wide { float: left }",
    )
    .unwrap();
    std::fs::write(
        root.join("static/css/a.css"),
        "@import url(parts/wide.css) screen and (min-width:100px);\n\
         .hero { background-image: image-set(url(../img/a.png) 1x, \"../img/a@2x.png\" 2x); }\n\
         .old { background-image: -webkit-image-set(url(../img/b.png) 1x); }\n",
    )
    .unwrap();
    let assets = production(root);
    let report = assets.build(&["css/a.css"]).unwrap();
    let css = std::fs::read_to_string(root.join("static/combined").join(&report.file)).unwrap();
    assert!(!css.contains("../img"), "a path left as written: {css}");
    assert!(!css.contains(">="), "range syntax Safari 14 ignores: {css}");
    assert!(
        css.contains("@media screen and (min-width:100px){.wide{float:left}}"),
        "{css}"
    );
    let mut copies = report.assets.clone();
    copies.sort();
    assert_eq!(copies.len(), 3, "{copies:?}");
    for copy in &copies {
        assert!(css.contains(copy.as_str()), "{copy} not referenced: {css}");
        assert!(root.join("static/combined").join(copy).is_file(), "{copy}");
    }
}

#[test]
fn the_template_scan_skips_comments_raw_blocks_and_prose() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir_all(root.join("templates")).unwrap();
    std::fs::create_dir_all(root.join("static/js")).unwrap();
    std::fs::write(root.join("static/js/app.js"), "var app = 1;").unwrap();
    std::fs::write(
        root.join("templates/page.html"),
        "{# {{ static(\"js/removed.js\") }} #}\n\
         <p>Call static(\"js/prose.js\") in a template to get a tag.</p>\n\
         {% raw %}{{ static(\"js/documented.js\") }}{% endraw %}\n\
         {% if true %}\n  {{ static(\"js/app.js\") }}\n{% endif %}\n\
         {{ static_url(name) }}\n",
    )
    .unwrap();
    let scan = squall::assets::scan_templates(&root.join("templates")).unwrap();
    let literal: Vec<(usize, Vec<String>)> = scan
        .literal
        .iter()
        .map(|call| (call.line, call.files.clone()))
        .collect();
    assert_eq!(literal, vec![(5, vec!["js/app.js".to_owned()])]);
    let other: Vec<(usize, &str)> = scan
        .non_literal
        .iter()
        .map(|call| (call.line, call.text.as_str()))
        .collect();
    assert_eq!(other, vec![(7, "static_url(name)")]);

    let report = squall::assets::PrecompileConfig::new(
        root.join("templates"),
        root.join("static"),
        root.join("static/combined"),
    )
    .run(|_, _, _| {})
    .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let built: Vec<&Vec<String>> = report.bundles.iter().map(|b| &b.files).collect();
    assert_eq!(built, vec![&vec!["js/app.js".to_owned()]]);
    let page = root.join("templates/page.html");
    assert_eq!(
        report.found_at.get("js/app.js"),
        Some(&format!("{}:5", page.display()))
    );
}
