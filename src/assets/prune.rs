//! Pruning old builds from the output directory, the way Sprockets' and Propshaft's
//! `clean` do: by the builds recorded in the manifest's history, never by file times.
//!
//! Every `static-bundle` run that changes what is built appends a [`BuildRecord`] (the
//! files it wrote and when) to `manifest.json`. Pruning keeps the current build, the
//! [`Retention::keep`] builds before it, and every build that was still current less than
//! [`Retention::older_than`] ago (servers started before the deploy still reference it);
//! it deletes the other builds' files that no kept build shares. A file that no recorded
//! build wrote (`robots.txt` beside the bundles, a failed run's leftovers) is never
//! deleted, however old.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use squall::assets::{Manifest, Retention};
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("robots.txt"), "User-agent: *\n")?;
//! let mut manifest = Manifest::default();
//! // Nothing recorded: nothing to delete, whatever the age.
//! let removed = manifest.prune(dir.path(), Retention::new(Duration::ZERO).keep(0))?;
//! assert!(removed.is_empty());
//! assert!(dir.path().join("robots.txt").exists());
//! assert_eq!(Retention::new(Duration::from_secs(3600)).keep, Retention::DEFAULT_KEEP);
//! # Ok(()) }
//! ```

use std::collections::BTreeSet;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{Manifest, ManifestError};

/// One build recorded in the manifest's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BuildRecord {
    /// When the build was recorded, in seconds since the Unix epoch.
    pub built_at: u64,
    /// Every file it wrote in the output directory (bundles, their `.gz` and `.br`
    /// siblings, copied images and fonts), sorted; not the manifest itself.
    pub files: Vec<String>,
}

/// Which old builds pruning keeps besides the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Retention {
    /// Keep every build that stopped being current less than this long ago.
    pub older_than: Duration,
    /// Keep this many builds before the current one, however long ago they stopped
    /// being current.
    pub keep: usize,
}

impl Retention {
    /// How many builds before the current one are kept unless told otherwise.
    pub const DEFAULT_KEEP: usize = 2;

    /// Keeps the builds current within `older_than`, and [`Retention::DEFAULT_KEEP`]
    /// builds before the current one.
    pub fn new(older_than: Duration) -> Self {
        Retention {
            older_than,
            keep: Self::DEFAULT_KEEP,
        }
    }

    /// Sets how many builds before the current one are kept whatever their age.
    pub fn keep(mut self, keep: usize) -> Self {
        self.keep = keep;
        self
    }
}

fn unix_seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The history a new build continues: the previous manifest's, or, for a manifest written
/// before squall kept a history, one record of the files it names (dated by the file's
/// modification time), so that the build it describes can be pruned in time too.
#[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
pub(crate) fn previous_history(previous: Option<&Manifest>, dir: &Path) -> Vec<BuildRecord> {
    let Some(previous) = previous else {
        return Vec::new();
    };
    if !previous.history.is_empty() || previous.bundles.is_empty() {
        return previous.history.clone();
    }
    let built_at = std::fs::metadata(dir.join(Manifest::FILE_NAME))
        .and_then(|meta| meta.modified())
        .map(unix_seconds)
        .unwrap_or_else(|_| unix_seconds(SystemTime::now()));
    vec![BuildRecord {
        built_at,
        files: previous.written_files(),
    }]
}

/// Whether `name` is a plain file name (a manifest is input: a name with a `/` or `..`
/// must not make pruning reach outside the output directory).
fn plain_file_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    matches!(
        (components.next(), components.next()),
        (Some(Component::Normal(_)), None)
    ) && !name.contains('/')
}

impl Manifest {
    /// The files this manifest's build wrote in the output directory, sorted: bundles,
    /// their `.gz` and `.br` siblings, copied images and fonts (not the manifest).
    #[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
    fn written_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .referenced()
            .into_iter()
            .filter(|name| name != Manifest::FILE_NAME)
            .collect();
        files.sort();
        files
    }

    /// Makes `history` this manifest's, with this build appended as the current one,
    /// recorded at `at`; a build that wrote the same files as the last recorded one is
    /// that build still, and is not recorded again.
    #[cfg_attr(not(feature = "minijinja"), allow(dead_code))] // used by precompiling
    pub(crate) fn record_build(&mut self, history: Vec<BuildRecord>, at: SystemTime) {
        let files = self.written_files();
        self.history = history;
        if self.history.last().map(|last| &last.files) != Some(&files) {
            self.history.push(BuildRecord {
                built_at: unix_seconds(at),
                files,
            });
        }
    }

    /// Deletes from `dir` the files of the recorded builds that `retention` does not keep
    /// (the last entry of [`Manifest::history`] is the current build and always kept),
    /// unless a kept build shares them, and drops those builds from the history. Returns
    /// the files deleted. Files no recorded build wrote are never touched.
    pub fn prune(
        &mut self,
        dir: &Path,
        retention: Retention,
    ) -> Result<Vec<PathBuf>, ManifestError> {
        self.prune_at(dir, retention, SystemTime::now())
    }

    fn prune_at(
        &mut self,
        dir: &Path,
        retention: Retention,
        now: SystemTime,
    ) -> Result<Vec<PathBuf>, ManifestError> {
        let now = unix_seconds(now);
        let count = self.history.len();
        let kept: Vec<bool> = (0..count)
            .map(|i| {
                let builds_after = count - 1 - i;
                // A build stopped being current when the next one was recorded.
                let current_until = self.history.get(i + 1).map(|next| next.built_at);
                builds_after <= retention.keep
                    || current_until.is_some_and(|until| {
                        Duration::from_secs(now.saturating_sub(until)) < retention.older_than
                    })
            })
            .collect();
        let mut keep_files: BTreeSet<&str> = BTreeSet::new();
        let mut drop_files: BTreeSet<&str> = BTreeSet::new();
        for (record, kept) in self.history.iter().zip(&kept) {
            let set = if *kept {
                &mut keep_files
            } else {
                &mut drop_files
            };
            set.extend(record.files.iter().map(String::as_str));
        }
        let mut removed = Vec::new();
        for name in drop_files.difference(&keep_files) {
            if *name == Manifest::FILE_NAME || !plain_file_name(name) {
                tracing::warn!(file = %name, "not pruning a manifest entry that is not a file name");
                continue;
            }
            let path = dir.join(name);
            match std::fs::symlink_metadata(&path) {
                Ok(meta) if meta.is_file() => {}
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(source) => return Err(ManifestError::Io { path, source }),
            }
            match std::fs::remove_file(&path) {
                Ok(()) => removed.push(path),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(source) => return Err(ManifestError::Io { path, source }),
            }
        }
        let mut kept = kept.into_iter();
        self.history.retain(|_| kept.next().unwrap_or(true));
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(built_at: u64, files: &[&str]) -> BuildRecord {
        BuildRecord {
            built_at,
            files: files.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn dir_with(names: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for name in names {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        dir
    }

    fn names(removed: &[PathBuf]) -> Vec<String> {
        removed
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect()
    }

    const DAY: u64 = 86_400;

    #[test]
    fn keeps_the_current_build_the_last_n_and_those_current_within_the_age() {
        let now = UNIX_EPOCH + Duration::from_secs(100 * DAY);
        let dir = dir_with(&["a1", "a2", "a3", "a4", "shared", "robots.txt"]);
        let mut manifest = Manifest {
            history: vec![
                record(90 * DAY, &["a1", "shared"]),
                record(91 * DAY, &["a2", "shared"]),
                record(95 * DAY, &["a3", "shared"]),
                record(99 * DAY, &["a4", "shared"]),
            ],
            ..Manifest::default()
        };
        // Build 3 was current until day 99, one day ago: kept by a 7-day age. Builds 1
        // and 2 stopped being current 9 and 5 days ago; with keep 0, only build 1 goes.
        let retention = Retention::new(Duration::from_secs(7 * DAY)).keep(0);
        let removed = manifest.prune_at(dir.path(), retention, now).unwrap();
        assert_eq!(names(&removed), ["a1"]);
        assert_eq!(manifest.history.len(), 3);
        // keep 1 and no age: build 3 stays, build 2 goes; `shared` and robots.txt stay.
        let retention = Retention::new(Duration::ZERO).keep(1);
        let removed = manifest.prune_at(dir.path(), retention, now).unwrap();
        assert_eq!(names(&removed), ["a2"]);
        let left: Vec<u64> = manifest.history.iter().map(|r| r.built_at).collect();
        assert_eq!(left, [95 * DAY, 99 * DAY]);
        for name in ["a3", "a4", "shared", "robots.txt"] {
            assert!(dir.path().join(name).exists(), "{name}");
        }
    }

    #[test]
    fn never_leaves_the_directory_or_deletes_the_manifest() {
        let root = dir_with(&["outside"]);
        let dir = root.path().join("out");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join(Manifest::FILE_NAME), "{}").unwrap();
        let mut manifest = Manifest {
            history: vec![
                record(1, &["../outside", Manifest::FILE_NAME, "missing"]),
                record(2, &[]),
            ],
            ..Manifest::default()
        };
        let removed = manifest
            .prune_at(&dir, Retention::new(Duration::ZERO).keep(0), UNIX_EPOCH)
            .unwrap();
        assert!(removed.is_empty());
        assert!(root.path().join("outside").exists());
        assert!(dir.join(Manifest::FILE_NAME).exists());
        assert_eq!(manifest.history.len(), 1);
    }

    #[test]
    fn an_unchanged_build_is_not_recorded_twice() {
        let mut manifest = Manifest::default();
        manifest.record_build(Vec::new(), UNIX_EPOCH + Duration::from_secs(5));
        manifest.record_build(
            manifest.history.clone(),
            UNIX_EPOCH + Duration::from_secs(9),
        );
        assert_eq!(manifest.history, [record(5, &[])]);
    }
}
