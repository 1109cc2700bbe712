//! The sources a preview reads: the memory outbox, a spool directory (read-only: nothing
//! is claimed, moved or locked), and registered previews built on request.
//!
//! ```
//! use squall::mail::{MailSource, SpoolSource};
//!
//! let dir = tempfile::tempdir()?;
//! let spool = SpoolSource::new(dir.path()).limit(100);
//! # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
//! assert!(spool.list().await?.is_empty(), "an empty (or missing) spool lists nothing");
//! # Ok::<(), squall::mail::PreviewError>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use rustix::fs::OFlags;

use super::{MailSource, MailState, PreviewError, StoredMail};
use crate::mail::record::read_record;
use crate::mail::{Email, MemoryMailer, QueueError, QueuedMessage};

/// The outbox, newest first; message `n` (from 1) is the `n`-th sent.
#[async_trait]
impl MailSource for MemoryMailer {
    async fn list(&self) -> Result<Vec<StoredMail>, PreviewError> {
        let mut out = Vec::new();
        for (i, email) in self.messages().iter().enumerate() {
            out.push(stored_email(&(i + 1).to_string(), MailState::Sent, email)?);
        }
        out.reverse();
        Ok(out)
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMail>, PreviewError> {
        let Some(n) = id.parse::<usize>().ok().filter(|n| *n > 0) else {
            return Ok(None);
        };
        match self.messages().get(n - 1) {
            Some(email) => stored_email(id, MailState::Sent, email).map(Some),
            None => Ok(None),
        }
    }
}

fn stored_email(id: &str, state: MailState, email: &Email) -> Result<StoredMail, PreviewError> {
    let rendered = email.render().map_err(|source| PreviewError::Render {
        id: id.to_owned(),
        source,
    })?;
    Ok(StoredMail::new(id, state, rendered.bytes)
        .created(email.date_unix_ms)
        .recipients(rendered.recipients))
}

/// A disk spool read as it lies: `new/` (queued), `cur/<drainer>/` (in flight),
/// `deferred/` and `failed/` (with the reason from `<id>.error`). Files are opened
/// read-only, never renamed or locked, so a running drainer is not disturbed; a record that
/// does not decode is skipped with a warning.
#[derive(Debug, Clone)]
pub struct SpoolSource {
    dir: PathBuf,
    limit: usize,
}

impl SpoolSource {
    /// The spool in `dir` (the directory of `spool:///dir`), listing at most 500 messages.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        SpoolSource {
            dir: dir.into(),
            limit: 500,
        }
    }

    /// Lists at most `limit` messages, the newest.
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }

    /// Every record file: its place, queue id and path, unread.
    fn entries(&self) -> Result<Vec<SpoolEntry>, QueueError> {
        let mut out = Vec::new();
        for (place, state) in [
            ("new", MailState::Queued),
            ("deferred", MailState::Deferred { due_unix_ms: 0 }),
            ("failed", MailState::Failed),
        ] {
            list_dir(&self.dir.join(place), state, &mut out)?;
        }
        let cur = self.dir.join("cur");
        for drainer in read_dir(&cur)? {
            if drainer.file_type().is_ok_and(|t| t.is_dir()) {
                list_dir(&drainer.path(), MailState::InFlight, &mut out)?;
            }
        }
        Ok(out)
    }
}

struct SpoolEntry {
    state: MailState,
    /// The queue id: the file name, without the due time of a deferred record.
    id: String,
    path: PathBuf,
}

/// The entries of a directory; a directory that does not exist has none.
fn read_dir(dir: &Path) -> Result<Vec<fs::DirEntry>, QueueError> {
    match fs::read_dir(dir) {
        Ok(entries) => entries
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| QueueError::io("list", dir, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(QueueError::io("list", dir, e)),
    }
}

fn list_dir(dir: &Path, state: MailState, out: &mut Vec<SpoolEntry>) -> Result<(), QueueError> {
    for entry in read_dir(dir)? {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if name.starts_with('.') || name.ends_with(".error") {
            continue;
        }
        let id = match state {
            MailState::Deferred { .. } => match name.split_once('-') {
                Some((_, id)) => id.to_owned(),
                None => name,
            },
            _ => name,
        };
        out.push(SpoolEntry {
            state,
            id,
            path: entry.path(),
        });
    }
    Ok(())
}

/// Opens a record without following a symbolic link or waiting on a FIFO: `None` for
/// anything but a regular file.
fn open_record(path: &Path) -> io::Result<Option<File>> {
    let flags = OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(flags.bits() as i32)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) => {
            return Ok(None);
        }
        Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NXIO.raw_os_error()) => {
            return Ok(None);
        }
        Err(e) => return Err(e),
    };
    Ok(file.metadata()?.is_file().then_some(file))
}

/// Reads one entry: `None` when it went away (a drainer moved it) or does not decode.
fn read_entry(entry: &SpoolEntry) -> Result<Option<StoredMail>, QueueError> {
    let path = &entry.path;
    let Some(mut file) = open_record(path).map_err(|e| QueueError::io("open", path, e))? else {
        return Ok(None);
    };
    let message: QueuedMessage = match read_record(&mut file) {
        Ok(Ok(message)) => message,
        Ok(Err(reason)) => {
            tracing::warn!(file = %path.display(), %reason, "preview: unreadable record (skipped)");
            return Ok(None);
        }
        Err(e) => return Err(QueueError::io("read", path, e)),
    };
    let (state, error) = match entry.state {
        MailState::Deferred { .. } => (
            MailState::Deferred {
                due_unix_ms: message.next_attempt_unix_ms,
            },
            message.last_error.clone(),
        ),
        MailState::Failed => {
            let mut reason = path.clone().into_os_string();
            reason.push(".error");
            let error = fs::read_to_string(&reason)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .or_else(|| message.last_error.clone());
            (MailState::Failed, error)
        }
        state => (state, message.last_error.clone()),
    };
    Ok(Some(queued(message, state, error)))
}

/// A queued message as the preview shows it.
fn queued(message: QueuedMessage, state: MailState, error: Option<String>) -> StoredMail {
    StoredMail::new(message.id, state, message.bytes)
        .created(message.created_unix_ms)
        .recipients(message.recipients)
        .error(error)
}

#[async_trait]
impl MailSource for SpoolSource {
    async fn list(&self) -> Result<Vec<StoredMail>, PreviewError> {
        let this = self.clone();
        blocking(move || {
            let mut entries = this.entries()?;
            // Queue ids begin with the creation time in ms: the newest sort last.
            entries.sort_by(|a, b| b.id.cmp(&a.id));
            let mut out = Vec::new();
            for entry in &entries {
                if out.len() >= this.limit {
                    break;
                }
                if let Some(mail) = read_entry(entry)? {
                    out.push(mail);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMail>, PreviewError> {
        let this = self.clone();
        let id = id.to_owned();
        blocking(move || {
            for entry in this.entries()?.iter().filter(|e| e.id == id) {
                if let Some(mail) = read_entry(entry)? {
                    return Ok(Some(mail));
                }
            }
            Ok(None)
        })
        .await
    }
}

/// Runs file reads on the blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, QueueError> + Send + 'static,
) -> Result<T, PreviewError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(PreviewError::from),
        Err(e) => Err(PreviewError::Queue(QueueError::io(
            "read",
            "spool",
            io::Error::other(e.to_string()),
        ))),
    }
}

/// What a preview function may return: an [`Email`], or a `Result` whose error says why
/// the sample could not be built.
pub trait IntoPreview {
    /// The email, or the error to show in its place.
    fn into_preview(self) -> Result<Email, Box<dyn std::error::Error + Send + Sync>>;
}

impl IntoPreview for Email {
    fn into_preview(self) -> Result<Email, Box<dyn std::error::Error + Send + Sync>> {
        Ok(self)
    }
}

impl<E: Into<Box<dyn std::error::Error + Send + Sync>>> IntoPreview for Result<Email, E> {
    fn into_preview(self) -> Result<Email, Box<dyn std::error::Error + Send + Sync>> {
        self.map_err(Into::into)
    }
}

type Build = Arc<dyn Fn() -> Result<Email, Box<dyn std::error::Error + Send + Sync>> + Send + Sync>;

/// Named functions that build sample mail from fixture data, so every mail of a site can
/// be looked at without sending one (ActionMailer's previews). Each is built anew on every
/// request, so a changed template shows at once.
///
/// ```
/// use squall::mail::{Email, Previews};
///
/// struct User { name: String, email: String }
/// fn build_welcome(user: &User) -> Result<Email, squall::mail::EmailError> {
///     Email::builder()
///         .from("site@example.com")
///         .to(user.email.as_str())
///         .subject(format!("Welcome, {}", user.name))
///         .text("Glad to have you.")
///         .build()
/// }
///
/// let fixture = User { name: "Ada".into(), email: "ada@example.com".into() };
/// let previews = Previews::new().add("welcome", move || build_welcome(&fixture));
/// assert_eq!(previews.names().collect::<Vec<_>>(), ["welcome"]);
/// ```
#[derive(Clone, Default)]
pub struct Previews {
    entries: Vec<(String, Build)>,
}

impl std::fmt::Debug for Previews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Previews {
    /// No previews yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `build` under `name` (a later one of the same name replaces it). `build`
    /// returns an [`Email`] or a `Result<Email, E>`.
    pub fn add<F, R>(mut self, name: impl Into<String>, build: F) -> Self
    where
        F: Fn() -> R + Send + Sync + 'static,
        R: IntoPreview,
    {
        let name = name.into();
        let build: Build = Arc::new(move || build().into_preview());
        self.entries.retain(|(n, _)| *n != name);
        self.entries.push((name, build));
        self
    }

    /// The names, in the order they were added.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(n, _)| n.as_str())
    }

    fn build(&self, name: &str, build: &Build) -> Result<StoredMail, PreviewError> {
        let email = build().map_err(|source| PreviewError::Build {
            name: name.to_owned(),
            source,
        })?;
        stored_email(name, MailState::Preview, &email)
    }
}

/// Builds every preview; one that fails is listed with its error and no bytes.
#[async_trait]
impl MailSource for Previews {
    async fn list(&self) -> Result<Vec<StoredMail>, PreviewError> {
        Ok(self
            .entries
            .iter()
            .map(|(name, build)| {
                self.build(name, build).unwrap_or_else(|e| {
                    StoredMail::new(name.as_str(), MailState::Preview, Vec::new())
                        .error(Some(e.to_string()))
                })
            })
            .collect())
    }

    async fn get(&self, id: &str) -> Result<Option<StoredMail>, PreviewError> {
        match self.entries.iter().find(|(name, _)| name == id) {
            Some((name, build)) => self.build(name, build).map(Some),
            None => Ok(None),
        }
    }
}
