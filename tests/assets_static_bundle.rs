#![cfg(all(feature = "assets", feature = "minijinja", feature = "cli"))]
//! `static-bundle` as users run it: exit codes, the table, `--json`, the manifest (after
//! which production builds nothing), failures with file:line:col and non-literal calls.
//! Pruning is in `assets_prune.rs`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use squall::assets::{Assets, AssetsConfig, Mode};

mod support;

fn site() -> tempfile::TempDir {
    support::assets::fixture_site()
}

fn static_bundle(root: &Path, extra: &[&str]) -> Output {
    support::assets::static_bundle(root, "static/combined")
        .args(["--cdn-prefix", "//cdn.example.com"])
        .args(extra)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_dir(root: &Path) -> PathBuf {
    root.join("static/combined")
}

#[test]
fn builds_every_bundle_prints_a_table_and_writes_the_manifest() {
    let dir = site();
    let root = dir.path();
    let run = static_bundle(root, &[]);
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    let header = stdout.lines().next().unwrap();
    assert!(
        header.split_whitespace().collect::<Vec<_>>().join(" ")
            == "bundle files bytes in bytes out gzip brotli"
    );
    assert_eq!(stdout.lines().count(), 1 + 4, "{stdout}");
    assert!(stderr.contains("[1/4] css/a.css,css/b.css"), "{stderr}");
    assert!(
        stderr.contains("4 built, 0 failed, 0 non-literal call(s)"),
        "{stderr}"
    );

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir(root).join("manifest.json")).unwrap())
            .unwrap();
    let bundles = manifest["bundles"].as_object().unwrap();
    let keys: Vec<&str> = bundles.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "css/a.css,css/b.css",
            "css/b.css",
            "js/a.js",
            "js/a.js,js/b.js"
        ]
    );
    for entry in bundles.values() {
        let file = entry["file"].as_str().unwrap();
        assert!(out_dir(root).join(file).is_file());
        assert!(out_dir(root).join(format!("{file}.gz")).is_file());
        assert!(out_dir(root).join(format!("{file}.br")).is_file());
        assert!(entry["integrity"].as_str().unwrap().starts_with("sha384-"));
    }

    // Production with the manifest builds nothing at run time.
    let assets = Assets::new(AssetsConfig {
        static_dir: root.join("static"),
        output_dir: out_dir(root),
        url_prefix: "/static/".into(),
        cdn_prefix: Some("//cdn.example.com".into()),
        mode: Mode::Production,
    })
    .unwrap();
    let tag = assets.tags(&["js/a.js", "js/b.js"]).unwrap();
    let entry = &bundles["js/a.js,js/b.js"];
    assert_eq!(
        tag,
        format!(
            "<script src=\"//cdn.example.com/combined/{}\" integrity=\"{}\" crossorigin=\"anonymous\"></script>",
            entry["file"].as_str().unwrap(),
            entry["integrity"].as_str().unwrap()
        )
    );
    let err = assets.tags(&["js/b.js"]).unwrap_err().to_string();
    assert!(err.starts_with("bundle js/b.js is not in "), "{err}");
    assert!(
        err.ends_with("manifest.json; run static-bundle again"),
        "{err}"
    );
    assert_eq!(assets.builds(), 0);

    // --json: one object.
    let run = static_bundle(root, &["--json"]);
    assert_eq!(run.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(report["bundles"].as_array().unwrap().len(), 4);
    assert!(report["bundles"][0]["gzip"].as_u64().unwrap() > 0);
    assert!(report["bundles"][0]["brotli"].as_u64().unwrap() > 0);
    assert_eq!(report["failed"].as_array().unwrap().len(), 0);
}

#[test]
fn a_failing_bundle_exits_1_with_file_line_col_and_keeps_the_old_manifest() {
    let dir = site();
    let root = dir.path();
    assert_eq!(static_bundle(root, &[]).status.code(), Some(0));
    let manifest = std::fs::read(out_dir(root).join("manifest.json")).unwrap();

    std::fs::write(root.join("static/js/b.js"), "var ok = 1;\nvar broken = ;\n").unwrap();
    let run = static_bundle(root, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "FAILED js/a.js,js/b.js (used at templates/base.html:5): js/b.js:2:14: syntax error"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("manifest left as it was"));
    assert_eq!(
        std::fs::read(out_dir(root).join("manifest.json")).unwrap(),
        manifest
    );
}

#[test]
fn non_literal_calls_are_reported_and_exit_1() {
    let dir = site();
    let root = dir.path();
    std::fs::write(
        root.join("templates/dynamic.html"),
        "x\n{{ static(name) }}\n",
    )
    .unwrap();
    let run = static_bundle(root, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "templates/dynamic.html:2: static(name) has non-literal arguments; not built"
        ),
        "{stderr}"
    );
    // The literal ones were built all the same.
    assert!(
        stderr.contains("4 built, 0 failed, 1 non-literal call(s)"),
        "{stderr}"
    );
}

#[test]
fn bad_usage_exits_2() {
    let dir = site();
    let root = dir.path();
    let run = static_bundle(root, &["--prune-older-than", "soon"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(text(&run.stderr).contains("not a duration"));
    let run = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
        .current_dir(root)
        .args(["--static", "no-such-dir", "--templates", "templates"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("static directory no-such-dir"),
        "{}",
        text(&run.stderr)
    );
    let run = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
        .current_dir(root)
        .args(["--static", "static", "--templates", "no-such-dir"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(
        text(&run.stderr).contains("templates directory no-such-dir: "),
        "{}",
        text(&run.stderr)
    );
    assert!(!out_dir(root).exists(), "bad usage changes nothing on disk");
    let run = static_bundle(root, &["--no-such-flag"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn an_io_failure_while_building_exits_1_not_2() {
    let dir = site();
    let root = dir.path();
    // The output directory cannot be made: its parent is a file.
    let run = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
        .current_dir(root)
        .args(["--templates", "templates", "--static", "static"])
        .args(["--out", "static/js/a.js/combined"])
        .env_remove("SQUALL_CDN_PREFIX")
        .output()
        .unwrap();
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("output directory static/js/a.js/combined: "),
        "{stderr}"
    );
    // The previous manifest cannot be read: a directory stands in its place.
    std::fs::create_dir_all(out_dir(root).join("manifest.json/x")).unwrap();
    let run = static_bundle(root, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("manifest.json: "), "{stderr}");
}

#[test]
fn logs_follow_squall_log_not_rust_log() {
    let dir = site();
    let root = dir.path();
    assert_eq!(static_bundle(root, &[]).status.code(), Some(0));
    // The second run loads the first run's manifest, which is logged at debug level.
    let logged = |var: &str| {
        let run = Command::new(env!("CARGO_BIN_EXE_static-bundle"))
            .current_dir(root)
            .args(["--templates", "templates", "--static", "static"])
            .env_remove("SQUALL_LOG")
            .env_remove("RUST_LOG")
            .env(var, "squall=debug")
            .output()
            .unwrap();
        assert_eq!(run.status.code(), Some(0));
        text(&run.stderr).contains("loaded the assets manifest")
    };
    assert!(logged("SQUALL_LOG"));
    assert!(!logged("RUST_LOG"));
}

/// Each call that cannot be precompiled is reported for what it is: no arguments, a
/// variable or expression, or a literal that is not a string.
#[test]
fn each_unbuildable_call_says_what_is_wrong() {
    let dir = site();
    let root = dir.path();
    std::fs::write(
        root.join("templates/dynamic.html"),
        "{{ static() }}\n{{ static(name) }}\n{{ static_url(1) }}\n{{ static('js/a.js', none) }}\n",
    )
    .unwrap();
    let run = static_bundle(root, &["--json"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    for line in [
        "templates/dynamic.html:1: static() has no arguments: a bundle needs at least one file; not built",
        "templates/dynamic.html:2: static(name) has non-literal arguments; not built",
        "templates/dynamic.html:3: static_url(1) has an argument that is not a string; not built",
        "templates/dynamic.html:4: static('js/a.js', none) has an argument that is not a string; not built",
    ] {
        assert!(stderr.contains(line), "{line}\n{stderr}");
    }
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let problems: Vec<&str> = report["non_literal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|call| call["problem"].as_str().unwrap())
        .collect();
    assert_eq!(
        problems,
        ["no_arguments", "non_literal", "non_string", "non_string"]
    );
}

/// At render time too, `static()` and `static_url()` say what is wrong with their
/// arguments.
#[test]
fn template_functions_say_what_is_wrong_with_their_arguments() {
    let dir = site();
    let root = dir.path();
    let assets = Assets::new(AssetsConfig {
        static_dir: root.join("static"),
        output_dir: out_dir(root),
        url_prefix: "/static/".into(),
        cdn_prefix: None,
        mode: Mode::Debug,
    })
    .unwrap();
    let mut env = minijinja::Environment::new();
    assets.register(&mut env);
    let render = |source: &str| {
        env.render_str(source, minijinja::context! { name => 7 })
            .unwrap_err()
            .to_string()
    };
    let cases = [
        (
            "{{ static() }}",
            "static() needs at least one file name, as in static(\"js/app.js\")",
        ),
        (
            "{{ static_url() }}",
            "static_url() needs at least one file name, as in static_url(\"js/app.js\")",
        ),
        (
            "{{ static(1) }}",
            "static(): argument 1 is a number (1), not a string naming a file",
        ),
        (
            "{{ static('js/a.js', none) }}",
            "static(): argument 2 is none, not a string naming a file",
        ),
        (
            "{{ static_url(missing) }}",
            "static_url(): argument 1 is undefined, not a string naming a file",
        ),
        (
            "{{ static(name) }}",
            "static(): argument 1 is a number (7), not a string naming a file",
        ),
    ];
    for (source, message) in cases {
        let err = render(source);
        assert!(err.contains(message), "{source}: {err}");
    }
    // A string still works, and a missing file is named.
    let err = render("{{ static('js/nope.js') }}");
    assert!(err.contains("static(): js/nope.js: no such file"), "{err}");
}

/// A site with one stylesheet, `css/t.css`, used by one template.
fn css_site(css: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("templates")).unwrap();
    std::fs::create_dir_all(dir.path().join("static/css")).unwrap();
    std::fs::write(
        dir.path().join("templates/base.html"),
        r#"{{ static("css/t.css") }}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("static/css/t.css"), css).unwrap();
    dir
}

/// Runs `static-bundle --json` with `extra` and returns the one bundle's report.
fn build_one(root: &Path, extra: &[&str]) -> serde_json::Value {
    let run = static_bundle(root, &[&["--json"], extra].concat());
    let (stdout, stderr) = (text(&run.stdout), text(&run.stderr));
    assert_eq!(run.status.code(), Some(0), "{stdout}{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    report["bundles"][0].clone()
}

fn read_out(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(out_dir(root).join(name)).unwrap()
}

#[test]
fn no_precompress_writes_no_gz_or_br() {
    let dir = css_site("a { color: red }");
    let bundle = build_one(dir.path(), &["--no-precompress"]);
    assert_eq!(
        (&bundle["gzip"], &bundle["brotli"]),
        (&serde_json::Value::Null, &serde_json::Value::Null)
    );
    let names: Vec<String> = std::fs::read_dir(out_dir(dir.path()))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(".css")), "{names:?}");
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".gz") || n.ends_with(".br")),
        "{names:?}"
    );
}

#[test]
fn targets_change_how_css_is_lowered() {
    // Chrome 40 predates `#rrggbbaa` (Chrome 62); the default targets all have it.
    let css = ".a { background: #ff000080 }";
    let default = css_site(css);
    // Maps off: the files hold the CSS alone, no sourceMappingURL comment.
    let bundle = build_one(default.path(), &["--source-maps=off"]);
    let baseline = text(&read_out(default.path(), bundle["file"].as_str().unwrap()));
    assert_eq!(baseline, ".a{background:#ff000080}\n");
    let old = css_site(css);
    let bundle = build_one(old.path(), &["--targets", "chrome 40", "--source-maps=off"]);
    let lowered = text(&read_out(old.path(), bundle["file"].as_str().unwrap()));
    assert_eq!(lowered, ".a{background:rgba(255,0,0,.5)}\n");
}

#[test]
fn a_bad_targets_query_exits_2_naming_it() {
    let dir = css_site("a { color: red }");
    let run = static_bundle(dir.path(), &["--targets", "netscape 4"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("\"netscape 4\""), "{stderr}");
    assert!(
        !out_dir(dir.path()).exists(),
        "bad usage changes nothing on disk"
    );
}

#[test]
fn brotli_quality_sets_the_br_compression() {
    let css: String = (0..400)
        .map(|i| {
            format!(
                ".c{i} {{ margin: {}px {}px; color: #{:06x} }}\n",
                i % 17,
                i % 29,
                i * 7919
            )
        })
        .collect();
    let best = css_site(&css);
    let bundle = build_one(best.path(), &[]);
    let best_br = read_out(
        best.path(),
        &format!("{}.br", bundle["file"].as_str().unwrap()),
    );
    let fast = css_site(&css);
    let bundle = build_one(fast.path(), &["--brotli-quality", "1"]);
    let fast_br = read_out(
        fast.path(),
        &format!("{}.br", bundle["file"].as_str().unwrap()),
    );
    assert_eq!(bundle["brotli"].as_u64(), Some(fast_br.len() as u64));
    assert!(
        fast_br.len() > best_br.len(),
        "{} vs {}",
        fast_br.len(),
        best_br.len()
    );
    let run = static_bundle(fast.path(), &["--brotli-quality", "12"]);
    assert_eq!(run.status.code(), Some(2));
}

#[test]
fn a_bogus_js_engine_exits_2() {
    let dir = css_site("a { color: red }");
    let run = static_bundle(dir.path(), &["--js-engine", "uglify"]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("uglify"), "{stderr}");
    let run = static_bundle(dir.path(), &["--js-engine", "oxc"]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run.stderr));
}
