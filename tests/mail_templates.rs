//! Templated mail: real template files on disk, CSS inlined from `<style>` and from a
//! linked stylesheet in the static directory, the text part made from the HTML, errors
//! that name the template, the line and the variable, absolute `static_url(...)`, and a
//! templated mail sent over SMTP to aiosmtpd and read back with Python's `email` parser.
#![cfg(feature = "mail-templates")]

mod support;

use std::path::Path;
use std::process::{Command, Stdio};

use minijinja::context;
use squall::assets::{Assets, AssetsConfig, Mode};
use squall::mail::{MailTemplates, Mailer, SmtpConfig, SmtpMailer, TemplateError};
use support::aiosmtpd::{Aiosmtpd, Mode as SmtpMode, Options};

const LAYOUT: &str = r#"<!doctype html>
<html><head>
<style>
  body { margin: 0; }
  .box { padding: 16px; border: 1px solid #ddd; }
  h1 { font-size: 22px; color: #222; }
  @media (max-width: 600px) { .box { padding: 8px; } }
</style>
<link rel="stylesheet" href="{{ static_url('css/mail.css') }}">
</head><body><div class="box">{% block body %}{% endblock %}</div>
<p class="footer">Sent by Example</p></body></html>
"#;

const WELCOME: &str = r#"{% extends "mail/layout.html" %}
{% block body %}
<h1>Welcome, {{ user.name }}</h1>
<p>Your account is ready. <a class="button" href="{{ link }}">Confirm your address</a></p>
<img src="{{ static_url('img/logo.png') }}" alt="Example">
{% endblock %}
"#;

/// A site: `templates/mail/…` and `static/css/mail.css`, `static/img/logo.png`.
fn site(dir: &Path) {
    std::fs::create_dir_all(dir.join("templates/mail")).unwrap();
    std::fs::create_dir_all(dir.join("static/css")).unwrap();
    std::fs::create_dir_all(dir.join("static/img")).unwrap();
    std::fs::write(dir.join("templates/mail/layout.html"), LAYOUT).unwrap();
    std::fs::write(dir.join("templates/mail/welcome.html"), WELCOME).unwrap();
    std::fs::write(
        dir.join("templates/mail/welcome.subject.txt"),
        "Welcome to Example,\n  {{ user.name }}\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("static/css/mail.css"),
        ".button { background-color: #0a7; color: #fff; }\n.footer { color: #999; }\n",
    )
    .unwrap();
    std::fs::write(dir.join("static/img/logo.png"), b"\x89PNG not really").unwrap();
}

fn assets(dir: &Path, mode: Mode, cdn_prefix: Option<&str>) -> Assets {
    Assets::new(AssetsConfig {
        static_dir: dir.join("static"),
        output_dir: dir.join("static/combined"),
        url_prefix: "/static/".into(),
        cdn_prefix: cdn_prefix.map(str::to_owned),
        mode,
    })
    .unwrap()
}

fn mails(dir: &Path) -> MailTemplates {
    MailTemplates::from_dir(dir.join("templates"))
        .assets(&assets(dir, Mode::Debug, None))
        .site_url("https://example.com/")
}

fn welcome() -> minijinja::Value {
    context! { user => context! { name => "Ann" }, link => "https://example.com/confirm?t=abc" }
}

#[test]
fn style_blocks_and_linked_css_are_inlined() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let parts = mails(dir.path())
        .render_parts("welcome", welcome())
        .unwrap();
    assert_eq!(parts.subject, "Welcome to Example, Ann");
    let html = parts.html.unwrap();
    // Rules from the layout's <style> …
    assert!(
        html.contains(r#"<h1 style="font-size: 22px;color: #222;">Welcome, Ann</h1>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"<div class="box" style="padding: 16px;border: 1px solid #ddd;">"#),
        "{html}"
    );
    // … and from the stylesheet linked by static_url(), read from the static directory.
    assert!(
        html.contains(r#"style="background-color: #0a7;color: #fff;""#),
        "{html}"
    );
    assert!(
        html.contains(r#"<p class="footer" style="color: #999;">"#),
        "{html}"
    );
    // The <link> is gone, the plain rules are gone, the @media rule is kept for clients
    // that read it.
    assert!(!html.contains("<link"), "{html}");
    assert!(!html.contains("font-size: 22px; }"), "{html}");
    assert!(html.contains("@media (max-width: 600px)"), "{html}");
}

#[test]
fn the_text_part_is_made_from_the_html() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let email = mails(dir.path())
        .render("welcome", welcome())
        .unwrap()
        .from("site@example.com")
        .to("ann@example.com")
        .build()
        .unwrap();
    let text = &email.text;
    assert!(text.contains("Welcome, Ann"), "{text}");
    assert!(
        text.contains("Confirm your address (https://example.com/confirm?t=abc)"),
        "{text}"
    );
    assert!(text.contains("Sent by Example"), "{text}");
    assert!(
        !text.contains('<') && !text.contains('>'),
        "raw tags in {text}"
    );
    assert!(
        !text.contains("font-size") && !text.contains("@media"),
        "CSS in {text}"
    );

    // A text template, when there is one, is the text part as written.
    std::fs::write(
        dir.path().join("templates/mail/welcome.txt"),
        "Hi {{ user.name }}: {{ link }}\n",
    )
    .unwrap();
    let parts = mails(dir.path())
        .render_parts("welcome", welcome())
        .unwrap();
    assert_eq!(parts.text, "Hi Ann: https://example.com/confirm?t=abc");
    assert!(parts.html.is_some());
}

#[test]
fn errors_name_the_template_the_line_and_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let mails = mails(dir.path());

    // A missing variable in the mail's own template: at render time, named.
    let err = mails
        .render("welcome", context! { user => context! { name => "Ann" } })
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mail welcome: mail/welcome.html line 4: undefined variable `link`"
    );
    match &err {
        TemplateError::Render {
            template,
            line,
            variable,
            ..
        } => {
            assert_eq!(template, "mail/welcome.html");
            assert_eq!(*line, Some(4));
            assert_eq!(variable.as_deref(), Some("link"));
        }
        other => panic!("{other:?}"),
    }
    // An attribute of a missing variable names the whole expression.
    let err = mails
        .render("welcome", context! { link => "x" })
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("mail welcome: mail/welcome.subject.txt line 2: undefined"),
        "{err}"
    );
    assert!(err.contains("user"), "{err}");

    // In the layout, the layout is named.
    std::fs::write(
        dir.path().join("templates/mail/layout.html"),
        LAYOUT.replace("Sent by Example", "Sent by {{ company }}"),
    )
    .unwrap();
    let err = MailTemplates::from_dir(dir.path().join("templates"))
        .assets(&assets(dir.path(), Mode::Debug, None))
        .site_url("https://example.com")
        .render("welcome", welcome())
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "mail welcome: mail/layout.html line 11: undefined variable `company`"
    );

    // A syntax error names its line.
    std::fs::write(
        dir.path().join("templates/mail/broken.subject.txt"),
        "Broken",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/mail/broken.txt"),
        "one\ntwo {{ oops(\n",
    )
    .unwrap();
    let err = mails.render("broken", context! {}).unwrap_err().to_string();
    assert!(
        err.starts_with("mail broken: mail/broken.txt line 2: syntax error"),
        "{err}"
    );

    // No template at all, and no subject.
    let err = mails
        .render("nothing", context! {})
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "mail nothing: no subject template mail/nothing.subject.txt"
    );
    std::fs::write(dir.path().join("templates/mail/bare.subject.txt"), "Bare").unwrap();
    let err = mails.render("bare", context! {}).unwrap_err().to_string();
    assert_eq!(
        err,
        "mail bare: no template mail/bare.html or mail/bare.txt"
    );

    // A linked stylesheet that is not in the static directory.
    std::fs::write(dir.path().join("templates/mail/ext.subject.txt"), "Ext").unwrap();
    std::fs::write(
        dir.path().join("templates/mail/ext.html"),
        r#"<link rel="stylesheet" href="https://elsewhere.example/x.css"><p>x</p>"#,
    )
    .unwrap();
    let err = mails.render("ext", context! {}).unwrap_err().to_string();
    assert!(err.starts_with("mail ext: mail/ext.html: inlining CSS: linked stylesheet https://elsewhere.example/x.css"), "{err}");
    assert!(err.contains("never fetched"), "{err}");

    // A template name that leaves the templates directory.
    let err = mails
        .render("../secret", context! {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("leaves the templates directory"), "{err}");
}

#[test]
fn static_url_gives_absolute_urls() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    std::fs::write(dir.path().join("templates/mail/logo.subject.txt"), "Logo").unwrap();
    std::fs::write(
        dir.path().join("templates/mail/logo.txt"),
        "{{ static_url('img/logo.png') }}",
    )
    .unwrap();

    // Debug assets: below the site URL.
    let text = mails(dir.path())
        .render_parts("logo", context! {})
        .unwrap()
        .text;
    assert_eq!(text, "https://example.com/static/img/logo.png");

    // Production with an absolute CDN prefix: the CDN's URL of the hashed copy.
    let cdn = assets(
        dir.path(),
        Mode::Production,
        Some("https://cdn.example.com"),
    );
    let text = MailTemplates::from_dir(dir.path().join("templates"))
        .assets(&cdn)
        .render_parts("logo", context! {})
        .unwrap()
        .text;
    assert!(
        text.starts_with("https://cdn.example.com/combined/logo."),
        "{text}"
    );
    assert!(text.ends_with(".png"), "{text}");

    // A protocol-relative CDN prefix gets https:.
    let cdn = assets(dir.path(), Mode::Production, Some("//cdn.example.com"));
    let text = MailTemplates::from_dir(dir.path().join("templates"))
        .assets(&cdn)
        .render_parts("logo", context! {})
        .unwrap()
        .text;
    assert!(
        text.starts_with("https://cdn.example.com/combined/logo."),
        "{text}"
    );

    // A relative URL and no site URL: an error that says what to set.
    let err = MailTemplates::from_dir(dir.path().join("templates"))
        .assets(&assets(dir.path(), Mode::Debug, None))
        .render("logo", context! {})
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("mail logo: mail/logo.txt line 1"), "{err}");
    assert!(
        err.contains("/static/img/logo.png") && err.contains("site_url"),
        "{err}"
    );

    // The site's own environment: its static_url is made absolute, its globals work, and
    // the site's environment itself stays lenient and relative.
    let mut env = minijinja::Environment::new();
    env.set_loader(minijinja::path_loader(dir.path().join("templates")));
    assets(dir.path(), Mode::Debug, None).register(&mut env);
    env.add_global("company", "Example Ltd");
    std::fs::write(
        dir.path().join("templates/mail/site.subject.txt"),
        "From {{ company }}",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("templates/mail/site.txt"),
        "{{ static_url('img/logo.png') }}",
    )
    .unwrap();
    let mails = MailTemplates::new(env.clone()).site_url("https://example.com");
    let parts = mails.render_parts("site", context! {}).unwrap();
    assert_eq!(parts.subject, "From Example Ltd");
    assert_eq!(parts.text, "https://example.com/static/img/logo.png");
    let page = env
        .render_str("{{ static_url('img/logo.png') }}{{ nothing }}", ())
        .unwrap();
    assert_eq!(page, "/static/img/logo.png");
}

/// Python's own `email` parser reads the raw message: subject and each part, decoded.
fn parse_with_python(raw: &[u8]) -> serde_json::Value {
    let script = r#"
import email, email.policy, json, sys
msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = {}
for part in msg.walk():
    if part.get_content_maintype() == "text":
        parts[part.get_content_type()] = part.get_content()
print(json.dumps({"subject": msg["subject"], "type": msg.get_content_type(), "parts": parts}))
"#;
    let mut child = Command::new(support::python())
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn a_templated_mail_goes_through_smtp_to_aiosmtpd() {
    let dir = tempfile::tempdir().unwrap();
    site(dir.path());
    let email = mails(dir.path())
        .render("welcome", welcome())
        .unwrap()
        .from("Example <site@example.com>")
        .to("ann@example.com")
        .build()
        .unwrap();

    let server = Aiosmtpd::start(SmtpMode::Plain, Options::default());
    let mailer = SmtpMailer::new(SmtpConfig::new("127.0.0.1", server.port)).unwrap();
    mailer.send(&email).await.unwrap();

    let received = server.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0]["rcpt_tos"],
        serde_json::json!(["ann@example.com"])
    );
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(received[0]["raw"].as_str().unwrap())
        .unwrap();
    let parsed = parse_with_python(&raw);
    assert_eq!(parsed["subject"], "Welcome to Example, Ann");
    assert_eq!(parsed["type"], "multipart/alternative");
    let html = parsed["parts"]["text/html"].as_str().unwrap();
    assert!(
        html.contains(r#"<h1 style="font-size: 22px;color: #222;">Welcome, Ann</h1>"#),
        "{html}"
    );
    assert!(
        html.contains(r#"href="https://example.com/confirm?t=abc""#),
        "{html}"
    );
    assert!(
        html.contains(r#"src="https://example.com/static/img/logo.png""#),
        "{html}"
    );
    assert!(!html.contains("<link"), "{html}");
    let text = parsed["parts"]["text/plain"].as_str().unwrap();
    assert!(
        text.contains("Confirm your address (https://example.com/confirm?t=abc)"),
        "{text}"
    );
}
