//! The assets fixture site, and `static-bundle` run on it as users run it.

use std::path::Path;
use std::process::Command;

/// A copy of `tests/fixtures/assets/site` in a fresh directory that every user can
/// traverse (a test may read the output as `nobody`), for a test to change at will.
pub fn fixture_site() -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/assets/site");
    let dir = tempfile::tempdir().unwrap();
    readable_dir(dir.path());
    for entry in walkdir::WalkDir::new(&from) {
        let entry = entry.unwrap();
        let target = dir.path().join(entry.path().strip_prefix(&from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            readable_dir(&target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
    dir
}

fn readable_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// `static-bundle` in `root`, with `--templates templates --static static --out out` and
/// none of the environment that would change what it does.
pub fn static_bundle(root: &Path, out: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_static-bundle"));
    cmd.current_dir(root)
        .args([
            "--templates",
            "templates",
            "--static",
            "static",
            "--out",
            out,
        ])
        .env_remove("SQUALL_CDN_PREFIX")
        .env_remove("SQUALL_LOG");
    cmd
}
