#![cfg(all(feature = "assets", feature = "minijinja", feature = "cli", unix))]
//! What `static-bundle` leaves on disk for a deploy: pruning keeps the build that was live
//! until this run and the last `--keep` builds, and deletes only files a recorded build
//! wrote; every output is readable by another user (mode 0666 less the umask); a corrupt
//! or unknown-version `manifest.json` is rebuilt with a warning.

use std::collections::BTreeSet;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use squall::assets::{Assets, AssetsConfig, Mode};

mod support;

/// A copy of the fixture site in a fresh directory that every user can traverse (the
/// mode test reads the output as `nobody`).
fn site() -> tempfile::TempDir {
    support::assets::fixture_site()
}

/// Runs `static-bundle` under `umask`, with `--out` as given and `extra` flags.
fn static_bundle_in(root: &Path, umask: &str, out: &str, extra: &[&str]) -> Output {
    Command::new("sh")
        .current_dir(root)
        .arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_static-bundle"))
        .args([
            "--templates",
            "templates",
            "--static",
            "static",
            "--out",
            out,
        ])
        .args(extra)
        .env_remove("SQUALL_CDN_PREFIX")
        .env_remove("SQUALL_LOG")
        .output()
        .unwrap()
}

fn static_bundle(root: &Path, extra: &[&str]) -> Output {
    static_bundle_in(root, "022", "static/combined", extra)
}

fn ok(run: &Output) {
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}{}",
        text(&run.stdout),
        text(&run.stderr)
    );
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn out_dir(root: &Path) -> PathBuf {
    root.join("static/combined")
}

fn manifest_json(out: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(out.join("manifest.json")).unwrap()).unwrap()
}

/// Every file the manifest in `out` needs: bundles, their `.gz`/`.br`, copied assets.
fn live_files(out: &Path) -> BTreeSet<String> {
    let manifest = manifest_json(out);
    let mut names = BTreeSet::new();
    for bundle in manifest["bundles"].as_object().unwrap().values() {
        let file = bundle["file"].as_str().unwrap();
        names.insert(file.to_owned());
        names.insert(format!("{file}.gz"));
        names.insert(format!("{file}.br"));
        for asset in bundle["assets"].as_array().unwrap() {
            names.insert(asset.as_str().unwrap().to_owned());
        }
        // A build's source maps are part of it (written by default).
        names.extend(bundle["source_map"].as_str().map(str::to_owned));
    }
    names
}

fn touch_days_ago(path: &Path, days: u32) {
    let status = Command::new("touch")
        .args(["-d", &format!("{days} days ago")])
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

fn age_everything(dir: &Path, days: u32) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            touch_days_ago(&path, days);
        }
    }
}

fn edit_app_js(root: &Path, n: u32) {
    std::fs::write(
        root.join("static/js/a.js"),
        format!("var version = {n};\nwindow.version = version;\n"),
    )
    .unwrap();
}

fn assert_all_exist(out: &Path, names: &BTreeSet<String>, why: &str) {
    for name in names {
        assert!(out.join(name).is_file(), "{name} is gone: {why}");
    }
}

fn assert_none_exist(out: &Path, names: &BTreeSet<String>, why: &str) {
    for name in names {
        assert!(!out.join(name).exists(), "{name} is still there: {why}");
    }
}

/// The issue's repro: the build that was live until this run is old on disk (mtime), but
/// the servers still running reference it, so pruning must keep it.
#[test]
fn pruning_keeps_the_build_that_was_live_until_this_run() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    ok(&static_bundle(root, &[]));
    let live_before = live_files(&out);
    age_everything(&out, 8);
    edit_app_js(root, 2);
    let run = static_bundle(root, &["--prune-older-than", "7d"]);
    ok(&run);
    let live_now = live_files(&out);
    assert_ne!(live_before, live_now, "the edit changed a bundle");
    assert_all_exist(&out, &live_before, "the previous build is still served");
    assert_all_exist(&out, &live_now, "the current build");
    assert!(
        text(&run.stderr).contains(", 0 pruned"),
        "{}",
        text(&run.stderr)
    );
}

/// Without `--prune-older-than` nothing is deleted, however old; with it, nothing recent.
#[test]
fn rebuilds_delete_nothing_unless_told() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    let mut builds = BTreeSet::new();
    for n in 1..=4 {
        edit_app_js(root, n);
        ok(&static_bundle(root, &[]));
        builds.extend(live_files(&out));
        age_everything(&out, 30);
    }
    assert_all_exist(&out, &builds, "no --prune-older-than");
    let run = static_bundle(root, &["--prune-older-than", "1h", "--keep", "0"]);
    ok(&run);
    assert!(
        text(&run.stderr).contains(", 0 pruned"),
        "{}",
        text(&run.stderr)
    );
    assert_all_exist(&out, &builds, "every build was current within the hour");
    // --keep means nothing without --prune-older-than.
    assert_eq!(static_bundle(root, &["--keep", "1"]).status.code(), Some(2));
}

/// Beyond the current build, the last `--keep` builds stay (default 2); older ones go
/// once they stopped being live longer ago than the age, whatever their files' mtimes.
#[test]
fn pruning_keeps_the_last_builds_and_those_live_within_the_age() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    let mut builds = Vec::new();
    for n in 1..=4 {
        edit_app_js(root, n);
        ok(&static_bundle(root, &["--prune-older-than", "0s"]));
        builds.push(live_files(&out));
        // A run with nothing changed records no new build.
        ok(&static_bundle(root, &["--prune-older-than", "0s"]));
    }
    let only =
        |i: usize| -> BTreeSet<String> { builds[i].difference(&builds[3]).cloned().collect() };
    assert!(!only(0).is_empty());
    // Default --keep 2: builds 2 and 3 stay besides the current one; build 1 went.
    assert_none_exist(&out, &only(0), "build 1 is beyond --keep 2");
    assert_all_exist(&out, &builds[1], "build 2 is within --keep 2");
    assert_all_exist(&out, &builds[2], "build 3 is within --keep 2");
    assert_all_exist(&out, &builds[3], "build 4 is current");

    // --keep 0 with an age: build 3 stopped being live just now, so it stays; build 2
    // stopped being live when build 3 was recorded. Move that record 8 days back (and
    // every file's mtime 30 days back, which must not matter).
    let manifest_path = out.join("manifest.json");
    let mut manifest = manifest_json(&out);
    let history = manifest["history"].as_array_mut().unwrap();
    assert_eq!(history.len(), 3, "{history:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    history[0]["built_at"] = (now - 9 * 86_400).into();
    history[1]["built_at"] = (now - 8 * 86_400).into();
    std::fs::write(&manifest_path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    age_everything(&out, 30);
    let run = static_bundle(root, &["--prune-older-than", "7d", "--keep", "0", "--json"]);
    ok(&run);
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let pruned: BTreeSet<String> = report["pruned"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            Path::new(p.as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(pruned, only(1), "build 2 went, and only its own files");
    assert_none_exist(&out, &only(1), "build 2 stopped being live 8 days ago");
    assert_all_exist(&out, &builds[2], "build 3 was live until this run");
    assert_all_exist(&out, &builds[3], "build 4 is current");
    assert_eq!(manifest_json(&out)["history"].as_array().unwrap().len(), 2);
}

/// `--out static`: old files that no build of ours wrote are never deleted.
#[test]
fn pruning_never_deletes_files_no_build_wrote() {
    let dir = site();
    let root = dir.path();
    let stat = root.join("static");
    std::fs::write(stat.join("robots.txt"), "User-agent: *\n").unwrap();
    std::fs::write(stat.join("favicon.ico"), b"\0\0\x01\0").unwrap();
    touch_days_ago(&stat.join("robots.txt"), 30);
    touch_days_ago(&stat.join("favicon.ico"), 30);
    let mut first = BTreeSet::new();
    for n in 1..=4 {
        edit_app_js(root, n);
        let run = static_bundle_in(root, "022", "static", &["--prune-older-than", "0s"]);
        ok(&run);
        if n == 1 {
            first = live_files(&stat);
        }
        age_everything(&stat, 30);
    }
    let gone: BTreeSet<String> = first.difference(&live_files(&stat)).cloned().collect();
    assert!(!gone.is_empty());
    assert_none_exist(
        &stat,
        &gone,
        "pruning ran: the first build's own files went",
    );
    assert!(stat.join("robots.txt").is_file(), "robots.txt was deleted");
    assert!(
        stat.join("favicon.ico").is_file(),
        "favicon.ico was deleted"
    );
    assert!(stat.join("js/a.js").is_file() && stat.join("css/a.css").is_file());
}

fn is_root() -> bool {
    let out = Command::new("id").arg("-u").output().unwrap();
    text(&out.stdout).trim() == "0"
}

/// Every output (bundles, `.gz`, `.br`, copied images and fonts, the manifest) is
/// created 0666 less the umask, so a web server running as another user can read it.
#[test]
fn outputs_are_readable_by_other_users() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    ok(&static_bundle_in(root, "022", "static/combined", &[]));
    let mut names: Vec<String> = live_files(&out).into_iter().collect();
    names.push("manifest.json".to_owned());
    assert!(names.iter().any(|n| n.ends_with(".png")), "{names:?}");
    for name in &names {
        let mode = std::fs::metadata(out.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o644, "{name}: {mode:o}");
    }
    if is_root() {
        for name in &names {
            let read = Command::new("setpriv")
                .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "cat"])
                .arg(out.join(name))
                .output()
                .unwrap();
            assert!(
                read.status.success(),
                "nobody cannot read {name}: {}",
                text(&read.stderr)
            );
            let bytes = std::fs::read(out.join(name)).unwrap();
            assert_eq!(read.stdout, bytes, "{name}");
        }
    } else {
        eprintln!("note: not root, so the read as user nobody was skipped (mode bits checked)");
    }

    // A stricter umask is respected, for a rebuilt manifest too.
    edit_app_js(root, 7);
    ok(&static_bundle_in(root, "027", "static/combined", &[]));
    let manifest = std::fs::metadata(out.join("manifest.json")).unwrap();
    assert_eq!(manifest.permissions().mode() & 0o777, 0o640);
    let js = manifest_json(&out)["bundles"]["js/a.js"]["file"]
        .as_str()
        .unwrap()
        .to_owned();
    for name in [js.clone(), format!("{js}.gz"), format!("{js}.br")] {
        let mode = std::fs::metadata(out.join(&name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o640, "{name}: {mode:o}");
    }
}

/// A manifest that does not parse is rebuilt, with a warning on stderr.
#[test]
fn a_corrupt_manifest_is_rebuilt_with_a_warning() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("manifest.json"), "{\n  \"version\": 1,\n  oops").unwrap();
    let run = static_bundle(root, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("static-bundle: warning: ")
            && stderr.contains("manifest.json:3:")
            && stderr.contains("rebuilding it"),
        "{stderr}"
    );
    assert_eq!(manifest_json(&out)["version"], 1);
    assert_eq!(manifest_json(&out)["bundles"].as_object().unwrap().len(), 4);
}

/// A manifest of a format version this squall does not know is rebuilt with a warning by
/// `static-bundle`, and refused (not misread) by a server.
#[test]
fn an_unknown_manifest_version_is_rebuilt_with_a_warning() {
    let dir = site();
    let root = dir.path();
    let out = out_dir(root);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(
        out.join("manifest.json"),
        r#"{"version": 99, "bundles": {}}"#,
    )
    .unwrap();
    let err = Assets::new(AssetsConfig {
        static_dir: root.join("static"),
        output_dir: out.clone(),
        url_prefix: "/static/".into(),
        cdn_prefix: None,
        mode: Mode::Production,
    })
    .unwrap_err()
    .to_string();
    assert!(
        err.ends_with("manifest.json: format version 99 is not one this squall reads (1)"),
        "{err}"
    );

    let run = static_bundle(root, &[]);
    let stderr = text(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("static-bundle: warning: ")
            && stderr.contains("format version 99")
            && stderr.contains("rebuilding it"),
        "{stderr}"
    );
    assert_eq!(manifest_json(&out)["version"], 1);
    assert_eq!(manifest_json(&out)["bundles"].as_object().unwrap().len(), 4);
}
