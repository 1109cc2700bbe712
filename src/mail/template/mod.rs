//! Mail written as minijinja templates: [`MailTemplates::render`] turns a template and a
//! context into an [`EmailBuilder`] with the subject, the text part and the HTML part set,
//! the HTML's CSS inlined (mail clients drop `<style>`), ready for `.to(..).build()`.
//!
//! A mail named `welcome` is up to three files in the `mail/` folder of the templates
//! directory:
//!
//! | file | what it is |
//! |------|------------|
//! | `mail/welcome.subject.txt` | the subject (required); lines are joined with spaces |
//! | `mail/welcome.html` | the HTML part; may `{% extends "mail/layout.html" %}` |
//! | `mail/welcome.txt` | the text part; without it, the text is made from the HTML |
//!
//! At least one of the `.html` and `.txt` files must exist. Templates render with strict
//! undefined behaviour, so a missing variable is an error that names the template, the line
//! and the variable, when the mail is rendered (in the request, never in the drainer).
//! `static_url(...)` gives absolute URLs (a mail has no base URL): the CDN's when the
//! [`Assets`] have an absolute CDN prefix, otherwise below [`MailTemplates::site_url`].
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::mail::MailTemplates;
//!
//! # let dir = tempfile::tempdir()?;
//! # std::fs::create_dir_all(dir.path().join("mail"))?;
//! # std::fs::write(dir.path().join("mail/welcome.subject.txt"), "Welcome, {{ name }}")?;
//! # std::fs::write(dir.path().join("mail/welcome.html"), r#"<style>p { color: #333 }</style>
//! # <p>Hi {{ name }}, <a href="{{ link }}">start here</a>.</p>"#)?;
//! let mails = MailTemplates::from_dir(dir.path()); // reads <dir>/mail/welcome.*
//! let context = minijinja::context! { name => "Ann", link => "https://example.com/start" };
//! let email = mails
//!     .render("welcome", context)?
//!     .from("site@example.com")
//!     .to("ann@example.com")
//!     .build()?;
//! assert_eq!(email.subject, "Welcome, Ann");
//! assert!(email.html.unwrap().contains(r#"<p style="color: #333;">Hi Ann"#));
//! assert!(email.text.contains("start here (https://example.com/start)"));
//!
//! let err = mails.render("welcome", minijinja::context! { name => "Ann" }).unwrap_err();
//! assert_eq!(err.to_string(), "mail welcome: mail/welcome.html line 2: undefined variable `link`");
//! # Ok(()) }
//! ```

mod inline;
mod text;

use std::path::{Component, Path, PathBuf};

use css_inline::CSSInliner;
use minijinja::value::{Rest, Value};
use minijinja::{Environment, ErrorKind, State, UndefinedBehavior};
use serde::Serialize;

use super::EmailBuilder;
use crate::assets::Assets;

/// What can go wrong rendering a templated mail. Every message names the mail and the
/// template file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// Neither `mail/<name>.html` nor `mail/<name>.txt` exists.
    #[error("mail {mail}: no template {html} or {text}")]
    NotFound {
        /// The mail's name.
        mail: String,
        /// The HTML template looked for.
        html: String,
        /// The text template looked for.
        text: String,
    },
    /// `mail/<name>.subject.txt` does not exist.
    #[error("mail {mail}: no subject template {template}")]
    NoSubject {
        /// The mail's name.
        mail: String,
        /// The subject template looked for.
        template: String,
    },
    /// A template failed to load or render: a syntax error, a missing variable, a failed
    /// function call. `template` is the file where it happened (a layout, an include).
    #[error("mail {mail}: {template}{}: {}", line.map(|l| format!(" line {l}")).unwrap_or_default(), what(.variable, .source))]
    Render {
        /// The mail's name.
        mail: String,
        /// The template file where the error is.
        template: String,
        /// The line in that file, when known.
        line: Option<usize>,
        /// For an undefined value, the expression that was undefined.
        variable: Option<String>,
        /// minijinja's error.
        #[source]
        source: minijinja::Error,
    },
    /// The HTML's CSS could not be inlined (a linked stylesheet that is missing, outside
    /// the static directory or remote; CSS that does not parse).
    #[error("mail {mail}: {template}: inlining CSS: {source}")]
    Inline {
        /// The mail's name.
        mail: String,
        /// The HTML template.
        template: String,
        /// css-inline's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The text part could not be made from the HTML.
    #[error("mail {mail}: {template}: making the text part from the HTML: {source}")]
    Text {
        /// The mail's name.
        mail: String,
        /// The HTML template.
        template: String,
        /// html2text's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// `undefined variable `x``, or minijinja's own description of the error.
fn what(variable: &Option<String>, source: &minijinja::Error) -> String {
    match variable {
        Some(variable) => format!("undefined variable `{variable}`"),
        None => match source.detail() {
            Some(detail) => format!("{}: {detail}", source.kind()),
            None => source.kind().to_string(),
        },
    }
}

/// A rendered mail's parts, before any address is set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MailParts {
    /// The subject, on one line.
    pub subject: String,
    /// The text part: the text template's, or made from the HTML.
    pub text: String,
    /// The HTML part with its CSS inlined, when there is an HTML template.
    pub html: Option<String>,
}

/// Mail templates: a minijinja environment rendered strictly, a CSS inliner, and how
/// `static_url(...)` becomes absolute. Build it once and share it (it is `Send + Sync`).
pub struct MailTemplates {
    env: Environment<'static>,
    inliner: CSSInliner<'static>,
    folder: String,
    site_url: Option<String>,
    assets: Option<Assets>,
    /// The `static_url` function the environment had before it was made absolute.
    relative_static_url: Option<Value>,
}

impl std::fmt::Debug for MailTemplates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailTemplates")
            .field("folder", &self.folder)
            .field("site_url", &self.site_url)
            .field("assets", &self.assets)
            .finish_non_exhaustive()
    }
}

impl MailTemplates {
    /// Mail templates from the site's own environment (a clone of it), so the site's
    /// loader, filters and globals work in mail too. Mail is looked for under `mail/`.
    /// The environment is switched to strict undefined behaviour; the site's is not
    /// touched.
    pub fn new(env: Environment<'static>) -> MailTemplates {
        let mut env = env;
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        let relative_static_url = static_url_of(&env);
        let mut mails = MailTemplates {
            env,
            inliner: inline::inliner(inline::StaticFiles::default()),
            folder: "mail/".to_owned(),
            site_url: None,
            assets: None,
            relative_static_url,
        };
        mails.configure();
        mails
    }

    /// Mail templates read from `dir` (the site's templates directory: mail is in
    /// `<dir>/mail/`). Names that leave `dir` are refused.
    pub fn from_dir(dir: impl Into<PathBuf>) -> MailTemplates {
        let dir = dir.into();
        let mut env = Environment::new();
        env.set_loader(move |name| load(&dir, name));
        MailTemplates::new(env)
    }

    /// The site's absolute URL (`https://example.com`): `static_url(...)` URLs that are
    /// not already absolute are made absolute below it, and linked stylesheets under it
    /// are read from the static directory.
    pub fn site_url(mut self, url: impl Into<String>) -> Self {
        self.site_url = Some(url.into().trim_end_matches('/').to_owned());
        self.configure();
        self
    }

    /// Registers `static(...)` and `static_url(...)` from `assets` (absolute URLs), and
    /// reads linked stylesheets from its static directory.
    pub fn assets(mut self, assets: &Assets) -> Self {
        assets.register(&mut self.env);
        self.relative_static_url = static_url_of(&self.env);
        self.assets = Some(assets.clone());
        self.configure();
        self
    }

    /// The folder mail templates are in, inside the templates directory (`mail/` by
    /// default).
    pub fn folder(mut self, folder: impl Into<String>) -> Self {
        let folder = folder.into();
        let folder = folder.trim_matches('/');
        self.folder = if folder.is_empty() {
            String::new()
        } else {
            format!("{folder}/")
        };
        self
    }

    /// The environment mail is rendered with, to add filters or globals for mail only.
    pub fn env_mut(&mut self) -> &mut Environment<'static> {
        &mut self.env
    }

    /// Renders mail `name` with `context` into a builder with the subject, the text part
    /// and the HTML part (CSS inlined) set; add the addresses and build.
    pub fn render<S: Serialize>(
        &self,
        name: &str,
        context: S,
    ) -> Result<EmailBuilder, TemplateError> {
        let parts = self.render_parts(name, context)?;
        let builder = EmailBuilder::default()
            .subject(parts.subject)
            .text(parts.text);
        Ok(match parts.html {
            Some(html) => builder.html(html),
            None => builder,
        })
    }

    /// Renders mail `name` with `context` into its parts.
    pub fn render_parts<S: Serialize>(
        &self,
        name: &str,
        context: S,
    ) -> Result<MailParts, TemplateError> {
        let context = Value::from_serialize(&context);
        let subject_name = format!("{}{name}.subject.txt", self.folder);
        let html_name = format!("{}{name}.html", self.folder);
        let text_name = format!("{}{name}.txt", self.folder);
        let subject = self
            .render_one(name, &subject_name, &context)?
            .ok_or_else(|| TemplateError::NoSubject {
                mail: name.to_owned(),
                template: subject_name.clone(),
            })?;
        let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
        let html = self.render_one(name, &html_name, &context)?;
        let text = self.render_one(name, &text_name, &context)?;
        let text = match (text, &html) {
            (Some(text), _) => text,
            (None, Some(html)) => text::html_to_text(html).map_err(|e| TemplateError::Text {
                mail: name.to_owned(),
                template: html_name.clone(),
                source: Box::new(e),
            })?,
            (None, None) => {
                return Err(TemplateError::NotFound {
                    mail: name.to_owned(),
                    html: html_name,
                    text: text_name,
                });
            }
        };
        let html = match html {
            Some(html) => Some(
                self.inliner
                    .inline(&html)
                    .map_err(|e| TemplateError::Inline {
                        mail: name.to_owned(),
                        template: html_name.clone(),
                        source: Box::new(e),
                    })?,
            ),
            None => None,
        };
        Ok(MailParts {
            subject,
            text,
            html,
        })
    }

    /// Renders one template, `None` if it does not exist.
    fn render_one(
        &self,
        mail: &str,
        template: &str,
        context: &Value,
    ) -> Result<Option<String>, TemplateError> {
        let loaded = match self.env.get_template(template) {
            Ok(loaded) => loaded,
            Err(e) if e.kind() == ErrorKind::TemplateNotFound && e.name().is_none() => {
                return Ok(None);
            }
            Err(e) => return Err(render_error(mail, template, e)),
        };
        loaded
            .render(context)
            .map(Some)
            .map_err(|e| render_error(mail, template, e))
    }

    /// Rebuilds what depends on the site URL and the assets: the inliner's URL map and the
    /// absolute `static_url`.
    fn configure(&mut self) {
        let config = self.assets.as_ref().map(Assets::config);
        let files = inline::StaticFiles::new(
            config.map(|c| (c.static_dir.as_path(), c.output_dir.as_path())),
            config.map(|c| c.url_prefix.as_str()),
            config.and_then(|c| c.cdn_prefix.as_deref()),
            self.site_url.as_deref(),
        );
        self.inliner = inline::inliner(files);
        if let Some(relative) = self.relative_static_url.clone() {
            let site_url = self.site_url.clone();
            self.env
                .add_function("static_url", move |state: &State, args: Rest<Value>| {
                    let url = relative.call(state, &args)?;
                    let url = url.as_str().unwrap_or_default();
                    absolute(url, site_url.as_deref()).map(Value::from)
                });
        }
    }
}

/// The environment's `static_url` function, if it has one.
fn static_url_of(env: &Environment<'_>) -> Option<Value> {
    env.globals()
        .find(|(name, _)| *name == "static_url")
        .map(|(_, value)| value)
}

/// `url` made absolute: as it is when it has a scheme, `https:` before `//host/...`, and
/// the site URL before a path.
fn absolute(url: &str, site_url: Option<&str>) -> Result<String, minijinja::Error> {
    if url.starts_with("https://") || url.starts_with("http://") {
        return Ok(url.to_owned());
    }
    if let Some(rest) = url.strip_prefix("//") {
        let scheme = match site_url {
            Some(site) if site.starts_with("http://") => "http",
            _ => "https",
        };
        return Ok(format!("{scheme}://{rest}"));
    }
    match site_url {
        Some(site) => Ok(format!("{site}/{}", url.trim_start_matches('/'))),
        None => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!(
                "static_url() gave {url}, but a mail needs absolute URLs: \
                 set MailTemplates::site_url(\"https://example.com\") or an absolute CDN prefix"
            ),
        )),
    }
}

/// A template error with the file, the line and, for an undefined value, the expression.
fn render_error(mail: &str, template: &str, error: minijinja::Error) -> TemplateError {
    let variable = (error.kind() == ErrorKind::UndefinedError)
        .then(|| {
            let source = error.template_source()?;
            let range = error.range()?;
            source.get(range).map(str::to_owned)
        })
        .flatten();
    TemplateError::Render {
        mail: mail.to_owned(),
        template: error.name().unwrap_or(template).to_owned(),
        line: error.line(),
        variable,
        source: error,
    }
}

/// Reads template `name` from `dir`, refusing names that leave it.
fn load(dir: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    let relative = Path::new(name);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("template name {name:?} leaves the templates directory"),
        ));
    }
    match std::fs::read_to_string(dir.join(relative)) {
        Ok(source) => Ok(Some(source)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            format!("template {}: {e}", dir.join(relative).display()),
        )
        .with_source(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::absolute;

    #[test]
    fn static_urls_become_absolute() {
        let site = Some("https://example.com");
        assert_eq!(
            absolute("/static/a.css?v=1", site).unwrap(),
            "https://example.com/static/a.css?v=1"
        );
        assert_eq!(
            absolute("//cdn.example.com/a.css", site).unwrap(),
            "https://cdn.example.com/a.css"
        );
        assert_eq!(
            absolute("//cdn.example.com/a.css", Some("http://localhost:8000")).unwrap(),
            "http://cdn.example.com/a.css"
        );
        assert_eq!(
            absolute("https://cdn.example.com/a.css", None).unwrap(),
            "https://cdn.example.com/a.css"
        );
        let err = absolute("/static/a.css", None).unwrap_err();
        assert!(err.to_string().contains("site_url"), "{err}");
    }
}
