//! Interceptors and observers: [`Intercept`] wraps any [`Mailer`] and rewrites each
//! message before handing it on (redirect everything to one address, keep to an
//! allow-list of domains, blind-copy an archive), then tells [observers](Observer) what
//! happened, as Rails' interceptors and observers do.
//!
//! ```
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! use std::sync::Arc;
//! use squall::mail::{Email, Intercept, Mailer, MemoryMailer, SendEvent};
//!
//! let outbox = MemoryMailer::new();
//! let sent = Arc::new(AtomicUsize::new(0));
//! let counter = sent.clone();
//! let mailer = Intercept::new(outbox.clone())
//!     .redirect_to("qa@example.com")?
//!     .bcc_all("archive@example.com")?
//!     .observe(move |event: &SendEvent<'_>| {
//!         if event.is_success() {
//!             counter.fetch_add(1, Ordering::Relaxed);
//!         }
//!     });
//!
//! let email = Email::builder()
//!     .from("site@example.com")
//!     .to("Peter <peter@example.org>")
//!     .cc("carol@example.org")
//!     .build()?;
//! mailer.send(&email).await?;
//!
//! let kept = outbox.last().unwrap();
//! assert_eq!(kept.to, ["qa@example.com"]);
//! assert_eq!(kept.bcc, ["archive@example.com"]);
//! assert!(kept.headers.contains(&("X-Original-To".into(), "peter@example.org".into())));
//! assert!(kept.headers.contains(&("X-Original-Cc".into(), "carol@example.org".into())));
//! assert_eq!(sent.load(Ordering::Relaxed), 1);
//! # Ok(())
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(demo()).unwrap();
//! ```
//!
//! See [`Intercept`] for the order of the steps and the URL form.

mod observe;
pub(crate) mod url;

use std::sync::Arc;

use async_trait::async_trait;
use lettre::message::Mailbox;

pub use observe::{Observer, SendEvent};

use super::email::Email;
use super::mailer::{Error, Mailer, Outcome, SendReport};

/// Why an interception setting was refused, or a message refused by the allow-list.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum InterceptError {
    /// A `redirect_to` or `bcc_all` address did not parse.
    #[error("{setting}: {value:?} is not a valid email address: {reason}")]
    BadAddress {
        /// The setting: `redirect_to` or `bcc_all`.
        setting: &'static str,
        /// The value as given.
        value: String,
        /// What the parser said.
        reason: String,
    },
    /// An `allow_domains` entry is not a domain name.
    #[error(
        "allow_domains: {value:?} is not a domain name (expected e.g. example.com, without @ or spaces)"
    )]
    BadDomain {
        /// The value as given.
        value: String,
    },
    /// The allow-list refused the message: some recipients' domains are not on it.
    #[error(
        "not sent: {} not on the allow-list of domains ({})",
        describe_addresses(addresses),
        allowed.join(", ")
    )]
    NotAllowed {
        /// Every recipient whose domain is not allowed, as a bare address.
        addresses: Vec<String>,
        /// The allowed domains.
        allowed: Vec<String>,
    },
}

fn describe_addresses(addresses: &[String]) -> String {
    match addresses {
        [one] => format!("{one} is"),
        many => format!("{} are", many.join(", ")),
    }
}

/// What [`Intercept`] does with a recipient whose domain is not on the allow-list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Disallowed {
    /// The whole message is refused: [`Outcome::Failed`] with
    /// [`InterceptError::NotAllowed`]. The default.
    #[default]
    Refuse,
    /// The recipient is left out, and the message goes to the others (a message left
    /// with none is [`Outcome::Dropped`]).
    Drop,
}

/// A [`Mailer`] that rewrites each message (allow-list, redirect, blind copy) before
/// handing it to the mailer it wraps, and reports each outcome to its observers.
///
/// Each message goes through the steps in this order:
/// 1. **Allow-list** ([`allow_domains`](Intercept::allow_domains)): a recipient (To, Cc
///    or Bcc) whose domain is not on the list either refuses the whole message
///    ([`Disallowed::Refuse`], the default: [`Outcome::Failed`] with
///    [`InterceptError::NotAllowed`] naming every such address) or is dropped from it
///    ([`Disallowed::Drop`]). A message left with no recipient is not sent at all:
///    [`Outcome::Dropped`]. Domains match exactly, without regard to case:
///    `example.com` does not allow `mail.example.com`.
/// 2. **Redirect** ([`redirect_to`](Intercept::redirect_to)): To becomes the one
///    address and Cc and Bcc are emptied, so the envelope holds only that address. The
///    original recipients are kept, as bare addresses, in `X-Original-To`,
///    `X-Original-Cc` and `X-Original-Bcc` (each written only when that list was not
///    empty). Bcc is written out on purpose: the redirect address is a tester's inbox,
///    and seeing whom a message would have gone to is the point. A message that already
///    has `X-Original-To` (redirected twice) keeps the first one's headers.
/// 3. **Blind copy** ([`bcc_all`](Intercept::bcc_all)): each archive address is added to
///    Bcc (envelope only, never a header) unless the message already goes to it. It
///    comes after the allow-list and the redirect, so the archive gets every message
///    that is sent.
///
/// Then the messages go to the wrapped mailer in one batch, and every
/// [observer](Intercept::observe) is called once per message with a [`SendEvent`]: the
/// message as given and as sent, the recipients dropped, and the outcome (or the batch's
/// error).
///
/// The same settings can be given on any mailer URL's query, so that a staging deploy
/// changes one environment variable (see [`from_url`](crate::mail::from_url)):
/// `smtp://mail:587?redirect_to=qa@example.com`,
/// `spool:///var/spool/app?allow_domains=example.com,example.org&disallowed=drop`,
/// `memory://?bcc_all=archive@example.com`. On a queue (`spool:`, `redis:`), interception
/// happens when the message is queued: what the drainer later sends is already
/// rewritten, and `spool-drain --via` takes no interception settings.
pub struct Intercept {
    inner: Box<dyn Mailer>,
    redirect: Option<String>,
    allowed: Option<Vec<String>>,
    disallowed: Disallowed,
    bcc_all: Vec<String>,
    observers: Vec<Arc<dyn Observer>>,
}

impl std::fmt::Debug for Intercept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Intercept")
            .field("redirect", &self.redirect)
            .field("allowed", &self.allowed)
            .field("disallowed", &self.disallowed)
            .field("bcc_all", &self.bcc_all)
            .field("observers", &self.observers.len())
            .finish_non_exhaustive()
    }
}

impl Intercept {
    /// Wraps `inner`; with no setting it passes every message through unchanged.
    pub fn new(inner: impl Mailer + 'static) -> Self {
        Self::boxed(Box::new(inner))
    }

    /// Wraps a mailer already boxed, such as one from [`from_url`](crate::mail::from_url).
    pub fn boxed(inner: Box<dyn Mailer>) -> Self {
        Intercept {
            inner,
            redirect: None,
            allowed: None,
            disallowed: Disallowed::default(),
            bcc_all: Vec::new(),
            observers: Vec::new(),
        }
    }

    /// Sends every message to `address` only (`qa@example.com` or
    /// `QA <qa@example.com>`), keeping the original recipients in `X-Original-To`,
    /// `X-Original-Cc` and `X-Original-Bcc`.
    pub fn redirect_to(mut self, address: &str) -> Result<Self, InterceptError> {
        parse_address("redirect_to", address)?;
        self.redirect = Some(address.trim().to_owned());
        Ok(self)
    }

    /// Allows only recipients at these domains (exact match, any case; a leading `@` is
    /// ignored); the others are refused or dropped as [`on_disallowed`](Self::on_disallowed)
    /// says. Called again, it adds to the list.
    pub fn allow_domains<I, S>(mut self, domains: I) -> Result<Self, InterceptError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let list = self.allowed.get_or_insert_with(Vec::new);
        for domain in domains {
            let domain = parse_domain(domain.as_ref())?;
            if !list.contains(&domain) {
                list.push(domain);
            }
        }
        Ok(self)
    }

    /// What to do with a recipient the allow-list does not allow: refuse the message
    /// (the default) or drop the recipient.
    pub fn on_disallowed(mut self, disallowed: Disallowed) -> Self {
        self.disallowed = disallowed;
        self
    }

    /// Adds `address` to the Bcc of every message sent (a compliance archive).
    pub fn bcc_all(mut self, address: &str) -> Result<Self, InterceptError> {
        parse_address("bcc_all", address)?;
        let address = address.trim().to_owned();
        if !self.bcc_all.contains(&address) {
            self.bcc_all.push(address);
        }
        Ok(self)
    }

    /// Adds an observer, called after each send with its outcome: an [`Observer`], or a
    /// closure `Fn(&SendEvent<'_>)`.
    pub fn observe(mut self, observer: impl Observer + 'static) -> Self {
        self.observers.push(Arc::new(observer));
        self
    }

    /// The message as it will be handed on (pushed to `ready`), or why it is not.
    fn rewrite(&self, original: &Email, ready: &mut Vec<Email>) -> Rewritten {
        let mut email = original.clone();
        let mut dropped = Vec::new();
        if let Some(allowed) = &self.allowed {
            for list in [&mut email.to, &mut email.cc, &mut email.bcc] {
                list.retain(|value| {
                    let (address, domain) = address_and_domain(value);
                    let ok = domain.is_some_and(|d| allowed.contains(&d));
                    if !ok {
                        dropped.push(address);
                    }
                    ok
                });
            }
            if !dropped.is_empty() {
                if self.disallowed == Disallowed::Refuse {
                    return Rewritten::Refused(InterceptError::NotAllowed {
                        addresses: dropped,
                        allowed: allowed.clone(),
                    });
                }
                tracing::info!(
                    message_id = %original.message_id,
                    dropped = %dropped.join(", "),
                    "recipients not on the allow-list were dropped"
                );
                if email.to.is_empty() && email.cc.is_empty() && email.bcc.is_empty() {
                    return Rewritten::Dropped(dropped);
                }
            }
        }
        if let Some(redirect) = &self.redirect {
            let kept_before = email
                .headers
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case("X-Original-To"));
            if !kept_before {
                for (name, list) in [
                    ("X-Original-To", &email.to),
                    ("X-Original-Cc", &email.cc),
                    ("X-Original-Bcc", &email.bcc),
                ] {
                    if !list.is_empty() {
                        let bare: Vec<String> =
                            list.iter().map(|v| address_and_domain(v).0).collect();
                        email.headers.push((name.to_owned(), bare.join(", ")));
                    }
                }
            }
            email.to = vec![redirect.clone()];
            email.cc.clear();
            email.bcc.clear();
        }
        for archive in &self.bcc_all {
            let bare = address_and_domain(archive).0;
            let present = email
                .to
                .iter()
                .chain(&email.cc)
                .chain(&email.bcc)
                .any(|v| address_and_domain(v).0.eq_ignore_ascii_case(&bare));
            if !present {
                email.bcc.push(archive.clone());
            }
        }
        ready.push(email);
        Rewritten::Send(ready.len() - 1, dropped)
    }

    fn notify(&self, event: &SendEvent<'_>) {
        for observer in &self.observers {
            observer.observe(event);
        }
    }
}

/// What becomes of one message.
enum Rewritten {
    /// Hand on the message at this index of the batch for the wrapped mailer; these
    /// recipients were dropped.
    Send(usize, Vec<String>),
    /// Every recipient was dropped.
    Dropped(Vec<String>),
    /// The allow-list refused it.
    Refused(InterceptError),
}

#[async_trait]
impl Mailer for Intercept {
    async fn send_messages(&self, messages: &[Email]) -> Result<SendReport, Error> {
        let mut ready = Vec::with_capacity(messages.len());
        let plans: Vec<Rewritten> = messages
            .iter()
            .map(|m| self.rewrite(m, &mut ready))
            .collect();
        let inner = if ready.is_empty() {
            Ok(SendReport::default())
        } else {
            self.inner.send_messages(&ready).await
        };
        let mut inner_outcomes = match inner {
            Ok(report) => report.outcomes.into_iter().map(Some).collect::<Vec<_>>(),
            Err(error) => {
                // Nothing was handed on: observers see the batch's error for each message
                // that was to go, and their own outcome for the others.
                for (original, plan) in messages.iter().zip(&plans) {
                    match (plan, not_handed_on(original, plan)) {
                        (Rewritten::Send(index, dropped), _) => self.notify(&SendEvent::new(
                            original,
                            ready.get(*index),
                            dropped,
                            Err(&error),
                        )),
                        (_, Some((outcome, dropped))) => {
                            self.notify(&SendEvent::new(original, None, dropped, Ok(&outcome)))
                        }
                        (_, None) => {}
                    }
                }
                return Err(error);
            }
        };
        let mut outcomes = Vec::with_capacity(messages.len());
        for (original, plan) in messages.iter().zip(plans) {
            let (outcome, sent, dropped) = match plan {
                Rewritten::Send(index, dropped) => {
                    let outcome = inner_outcomes.get_mut(index).and_then(Option::take);
                    let outcome = outcome.unwrap_or_else(|| {
                        tracing::error!(
                            "a bug in the wrapped mailer: fewer outcomes than messages"
                        );
                        Outcome::Failed(Error::Io(std::io::Error::other(
                            "the wrapped mailer reported no outcome for this message",
                        )))
                    });
                    (outcome, ready.get(index), dropped)
                }
                Rewritten::Dropped(dropped) => (
                    Outcome::Dropped {
                        message_id: original.message_id.clone(),
                        recipients: dropped.clone(),
                    },
                    None,
                    dropped,
                ),
                Rewritten::Refused(error) => (Outcome::Failed(error.into()), None, Vec::new()),
            };
            self.notify(&SendEvent::new(original, sent, &dropped, Ok(&outcome)));
            outcomes.push(outcome);
        }
        Ok(SendReport { outcomes })
    }
}

/// The outcome of a message that is not handed on (refused or dropped), and the
/// recipients dropped.
fn not_handed_on<'a>(original: &Email, plan: &'a Rewritten) -> Option<(Outcome, &'a [String])> {
    match plan {
        Rewritten::Send(..) => None,
        Rewritten::Dropped(dropped) => Some((
            Outcome::Dropped {
                message_id: original.message_id.clone(),
                recipients: dropped.clone(),
            },
            dropped,
        )),
        Rewritten::Refused(error) => Some((Outcome::Failed(error.clone().into()), &[])),
    }
}

fn parse_address(setting: &'static str, value: &str) -> Result<Mailbox, InterceptError> {
    value
        .trim()
        .parse::<Mailbox>()
        .map_err(|e| InterceptError::BadAddress {
            setting,
            value: value.to_owned(),
            reason: e.to_string(),
        })
}

fn parse_domain(value: &str) -> Result<String, InterceptError> {
    let domain = value.trim().trim_start_matches('@').to_lowercase();
    let valid = !domain.is_empty()
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if valid {
        Ok(domain)
    } else {
        Err(InterceptError::BadDomain {
            value: value.to_owned(),
        })
    }
}

/// The bare address of `Name <addr@domain>` or `addr@domain`, and its domain in lower
/// case; no domain when the value does not parse (which no built [`Email`] has).
fn address_and_domain(value: &str) -> (String, Option<String>) {
    match value.parse::<Mailbox>() {
        Ok(mailbox) => (
            mailbox.email.to_string(),
            Some(mailbox.email.domain().to_lowercase()),
        ),
        Err(_) => (value.trim().to_owned(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mail::MemoryMailer;

    #[test]
    fn settings_are_validated() {
        let intercept = || Intercept::new(MemoryMailer::new());
        let err = intercept().redirect_to("qa at example").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("redirect_to: \"qa at example\""),
            "{err}"
        );
        let err = intercept().bcc_all("").unwrap_err();
        assert!(err.to_string().starts_with("bcc_all: "), "{err}");
        for bad in [
            "",
            "a@b.com",
            "exa mple.com",
            ".com",
            "a..b",
            "example.com.",
        ] {
            let err = intercept().allow_domains([bad]).unwrap_err();
            assert!(matches!(err, InterceptError::BadDomain { .. }), "{bad}");
        }
        let ok = intercept()
            .allow_domains(["Example.COM", "@example.org", "example.com"])
            .unwrap();
        assert_eq!(
            ok.allowed.as_deref(),
            Some(&["example.com".to_owned(), "example.org".to_owned()][..])
        );
    }

    #[test]
    fn refusal_names_each_address() {
        let err = InterceptError::NotAllowed {
            addresses: vec!["a@x.org".into(), "b@y.org".into()],
            allowed: vec!["example.com".into()],
        };
        assert_eq!(
            err.to_string(),
            "not sent: a@x.org, b@y.org are not on the allow-list of domains (example.com)"
        );
    }
}
