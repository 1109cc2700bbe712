//! Interception settings on a mailer URL's query: `redirect_to`, `allow_domains`,
//! `disallowed` and `bcc_all`, taken out of the query before the backend reads the rest.

use std::borrow::Cow;

use super::{Disallowed, Intercept};
use crate::mail::mailer::{Error, Mailer};
use crate::mail::url::grammar::{bad_url, query_pairs};

/// The query keys that configure an [`Intercept`].
const KEYS: &[&str] = &["redirect_to", "allow_domains", "disallowed", "bcc_all"];

/// Opens the mailer `url` names with `open` (given the URL without the interception
/// keys), wrapped in an [`Intercept`] when the query has any of them.
pub(crate) fn wrap_by_url(
    url: &str,
    open: impl FnOnce(&str) -> Result<Box<dyn Mailer>, Error>,
) -> Result<Box<dyn Mailer>, Error> {
    let (rest, settings) = split(url);
    if settings.is_empty() {
        return open(url);
    }
    let mut redirect: Option<String> = None;
    let mut domains: Vec<String> = Vec::new();
    let mut disallowed: Option<Disallowed> = None;
    let mut bcc_all: Vec<String> = Vec::new();
    for (key, value) in &settings {
        match key.as_ref() {
            "redirect_to" if redirect.is_some() => {
                return Err(bad_url(url, "redirect_to is given twice; give one address"));
            }
            "redirect_to" => redirect = Some(value.to_string()),
            "allow_domains" => domains.extend(list(value)),
            "disallowed" => {
                disallowed = Some(match value.as_ref() {
                    "refuse" => Disallowed::Refuse,
                    "drop" => Disallowed::Drop,
                    other => {
                        return Err(bad_url(
                            url,
                            format!("disallowed={other:?}: expected refuse or drop"),
                        ));
                    }
                })
            }
            _ => bcc_all.extend(list(value)),
        }
    }
    if disallowed.is_some() && domains.is_empty() {
        return Err(bad_url(
            url,
            "disallowed= needs allow_domains= (the domains the others are checked against)",
        ));
    }
    let check = |e: super::InterceptError| bad_url(url, e.to_string());
    let mut intercept = Intercept::boxed(open(&rest)?);
    if !domains.is_empty() {
        intercept = intercept
            .allow_domains(&domains)
            .map_err(check)?
            .on_disallowed(disallowed.unwrap_or_default());
    }
    if let Some(address) = redirect {
        intercept = intercept.redirect_to(&address).map_err(check)?;
    }
    for address in bcc_all {
        intercept = intercept.bcc_all(&address).map_err(check)?;
    }
    Ok(Box::new(intercept))
}

/// An error when `url` carries interception settings: a transport sends mail that is
/// already queued, so they belong on the URL the mail is queued by.
pub(crate) fn refuse_settings(url: &str) -> Result<(), Error> {
    match split(url).1.first() {
        Some((key, _)) => Err(bad_url(
            url,
            format!(
                "{key}= applies where mail is sent or queued (from_url, the app's mailer URL), \
                 not to the transport a drainer sends queued mail through"
            ),
        )),
        None => Ok(()),
    }
}

/// Comma-separated values, trimmed.
fn list(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(',').map(|v| v.trim().to_owned())
}

/// The URL without the interception keys, and those keys' decoded pairs. A URL whose
/// query holds whitespace or parentheses (a `failover(...)` list) is left whole.
fn split(url: &str) -> (Cow<'_, str>, Vec<(String, String)>) {
    let Some((base, query)) = url.split_once('?') else {
        return (Cow::Borrowed(url), Vec::new());
    };
    if query.contains(|c: char| c.is_whitespace() || c == '(' || c == ')') {
        return (Cow::Borrowed(url), Vec::new());
    }
    let mut kept = Vec::new();
    let mut settings = Vec::new();
    for raw in query.split('&') {
        match query_pairs(raw).next() {
            Some((key, value)) if KEYS.contains(&key.as_ref()) => {
                settings.push((key.into_owned(), value.into_owned()));
            }
            _ => kept.push(raw),
        }
    }
    if settings.is_empty() {
        return (Cow::Borrowed(url), settings);
    }
    let rest = if kept.iter().all(|raw| raw.is_empty()) {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    (Cow::Owned(rest), settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_interception_keys_are_taken_out() {
        let (rest, settings) =
            split("smtp://u:p@host:587?tls=required&redirect_to=qa%40example.com&pool=2");
        assert_eq!(rest, "smtp://u:p@host:587?tls=required&pool=2");
        assert_eq!(
            settings,
            [("redirect_to".to_owned(), "qa@example.com".to_owned())]
        );
        let (rest, settings) = split("memory://?bcc_all=a@example.com&allow_domains=x.org");
        assert_eq!(rest, "memory://");
        assert_eq!(settings.len(), 2);
        let (rest, settings) = split("spool:dir?durable=false");
        assert_eq!(rest, "spool:dir?durable=false");
        assert!(settings.is_empty());
        let whole = "failover(smtp://a?redirect_to=x@y.z smtp://b)";
        assert_eq!(split(whole).0, whole);
    }
}
