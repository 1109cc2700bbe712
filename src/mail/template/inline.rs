//! CSS inlining for mail (css-inline): `<style>` blocks and linked stylesheets become
//! `style` attributes. A linked stylesheet is read from the static directory by its URL,
//! never fetched from the network.

use std::collections::HashMap;
use std::io;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use css_inline::{CSSInliner, InlineError, StylesheetResolver};
use parking_lot::RwLock;

/// Where linked stylesheets are found: the URL prefixes that address the static
/// directory, longest first, and the directories themselves.
#[derive(Debug, Default)]
pub(super) struct StaticFiles {
    /// The static directory, when one is configured.
    static_dir: Option<PathBuf>,
    /// Where production bundles are written (may be outside `static_dir`).
    output_dir: Option<PathBuf>,
    /// URL prefixes that stand for `static_dir`, longest first.
    prefixes: Vec<String>,
    /// File contents by path, with the modification time they were read at.
    cache: RwLock<HashMap<PathBuf, Cached>>,
}

/// A stylesheet's contents and the modification time they were read at.
type Cached = (Option<SystemTime>, Arc<str>);

impl StaticFiles {
    /// Linked stylesheets under `url_prefix` (and the CDN prefix, and both below
    /// `site_url`) are read from `static_dir`.
    pub(super) fn new(
        static_dir: Option<(&Path, &Path)>,
        url_prefix: Option<&str>,
        cdn_prefix: Option<&str>,
        site_url: Option<&str>,
    ) -> StaticFiles {
        let mut prefixes = Vec::new();
        let site = site_url.map(|s| s.trim_end_matches('/'));
        if let Some(prefix) = url_prefix {
            let prefix = format!("/{}", prefix.trim_matches('/'));
            if let Some(site) = site {
                prefixes.push(format!("{site}{prefix}"));
            }
            prefixes.push(prefix);
        }
        if let Some(cdn) = cdn_prefix {
            let cdn = cdn.trim_end_matches('/');
            if let Some(rest) = cdn.strip_prefix("//") {
                prefixes.push(format!("https://{rest}"));
                prefixes.push(format!("http://{rest}"));
            }
            prefixes.push(cdn.to_owned());
        }
        prefixes.retain(|p| !p.is_empty());
        prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
        StaticFiles {
            static_dir: static_dir.map(|(s, _)| s.to_path_buf()),
            output_dir: static_dir.map(|(_, o)| o.to_path_buf()),
            prefixes,
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The file a stylesheet URL stands for, or why there is none.
    fn path_for(&self, location: &str) -> Result<PathBuf, String> {
        let Some(static_dir) = &self.static_dir else {
            return Err(format!(
                "linked stylesheet {location}: no static directory to read it from \
                 (give the mail templates the site's Assets)"
            ));
        };
        let without_query = location.split(['?', '#']).next().unwrap_or(location);
        let rest = self
            .prefixes
            .iter()
            .find_map(|prefix| {
                without_query
                    .strip_prefix(prefix.as_str())
                    .filter(|rest| rest.starts_with('/'))
            })
            .or_else(|| {
                // A path relative to the static directory, as in `href="css/mail.css"`.
                (!without_query.contains("://") && !without_query.starts_with('/'))
                    .then_some(without_query)
            })
            .ok_or_else(|| {
                format!(
                    "linked stylesheet {location}: not a URL of the static directory \
                     (stylesheets are read from disk, never fetched)"
                )
            })?;
        let relative = Path::new(rest.trim_start_matches('/'));
        if relative.as_os_str().is_empty()
            || !relative
                .components()
                .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(format!(
                "linked stylesheet {location}: the path leaves the static directory"
            ));
        }
        let in_static = static_dir.join(relative);
        if in_static.is_file() {
            return Ok(in_static);
        }
        // A bundle written outside the static directory is addressed by its last component.
        if let Some(output) = &self.output_dir
            && let Some(name) = output.file_name()
            && let Ok(inside) = relative.strip_prefix(name)
        {
            let in_output = output.join(inside);
            if in_output.is_file() {
                return Ok(in_output);
            }
        }
        Err(format!(
            "linked stylesheet {location}: no such file {}",
            in_static.display()
        ))
    }

    fn read(&self, path: &Path) -> io::Result<Arc<str>> {
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        if let Some((when, css)) = self.cache.read().get(path)
            && modified.is_some()
            && *when == modified
        {
            return Ok(Arc::clone(css));
        }
        let css: Arc<str> = std::fs::read_to_string(path)?.into();
        self.cache
            .write()
            .insert(path.to_path_buf(), (modified, Arc::clone(&css)));
        Ok(css)
    }
}

impl StylesheetResolver for StaticFiles {
    fn retrieve(&self, location: &str) -> css_inline::Result<String> {
        let path = self
            .path_for(location)
            .map_err(|reason| InlineError::IO(io::Error::other(reason)))?;
        self.read(&path).map(|css| css.to_string()).map_err(|e| {
            InlineError::IO(io::Error::new(
                e.kind(),
                format!("linked stylesheet {location}: {}: {e}", path.display()),
            ))
        })
    }
}

/// The inliner mail is rendered with: `<style>` and linked CSS inlined, the tags removed,
/// at-rules (`@media`) kept in a `<style>` for the clients that read it.
pub(super) fn inliner(files: StaticFiles) -> CSSInliner<'static> {
    CSSInliner::options()
        .keep_style_tags(false)
        .keep_link_tags(false)
        .keep_at_rules(true)
        .load_remote_stylesheets(true)
        .resolver(Arc::new(files))
        .build()
}

#[cfg(test)]
mod tests {
    use super::StaticFiles;

    #[test]
    fn urls_map_to_files_in_the_static_directory_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("css")).unwrap();
        std::fs::write(dir.path().join("css/mail.css"), "p{}").unwrap();
        let out = dir.path().join("combined");
        let files = StaticFiles::new(
            Some((dir.path(), &out)),
            Some("/static/"),
            Some("//cdn.example.com"),
            Some("https://example.com/"),
        );
        let want = dir.path().join("css/mail.css");
        for url in [
            "/static/css/mail.css?v=0123456789",
            "https://example.com/static/css/mail.css",
            "https://cdn.example.com/css/mail.css",
            "//cdn.example.com/css/mail.css",
            "css/mail.css",
        ] {
            assert_eq!(files.path_for(url).as_deref(), Ok(want.as_path()), "{url}");
        }
        for (url, why) in [
            ("https://elsewhere.example/x.css", "never fetched"),
            ("/static/../secret.css", "leaves the static directory"),
            ("/static/css/none.css", "no such file"),
        ] {
            let err = files.path_for(url).unwrap_err();
            assert!(err.contains(url) && err.contains(why), "{err}");
        }
        let none = StaticFiles::new(None, None, None, None);
        assert!(
            none.path_for("css/mail.css")
                .unwrap_err()
                .contains("no static directory")
        );
    }
}
