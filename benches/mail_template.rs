//! The render time of a templated, CSS-inlined welcome mail (a layout with a `<style>` block
//! of a dozen rules, a mail template that extends it, a subject and a text template),
//! against css-inline alone on the same HTML with the same options, in the same process.
//! Batches of the two alternate; the median batch of each is reported. Prints:
//!
//!   METRIC mail_template_render_us squall=<us> peer=<us> ratio=<r> unit=us
//!
//! and, for the same mail with no text template (the text part made from the HTML):
//!
//!   METRIC mail_template_render_autotext_us squall=<us> peer=<us> ratio=<r> unit=us

use std::path::Path;
use std::time::Instant;

use css_inline::CSSInliner;
use minijinja::context;
use squall::mail::MailTemplates;

const LAYOUT: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title>
<style>
  body { margin: 0; padding: 0; background-color: #f4f4f7; font-family: Helvetica, Arial, sans-serif; }
  .wrapper { width: 100%; background-color: #f4f4f7; padding: 24px 0; }
  .content { width: 570px; margin: 0 auto; background-color: #ffffff; border-radius: 6px; }
  .header { padding: 24px; text-align: center; border-bottom: 1px solid #eaeaec; }
  .header img { width: 120px; height: auto; }
  h1 { margin-top: 0; color: #333333; font-size: 22px; font-weight: bold; }
  p { color: #51545e; font-size: 16px; line-height: 1.625; margin: 0.4em 0 1.1875em; }
  .body-cell { padding: 35px; }
  .button { display: inline-block; background-color: #3869d4; color: #ffffff; text-decoration: none; border-radius: 3px; padding: 10px 18px; }
  .sub { font-size: 13px; color: #6b6e76; }
  .footer { width: 570px; margin: 0 auto; text-align: center; }
  .footer p { color: #a8aaaf; font-size: 12px; }
  @media only screen and (max-width: 600px) { .content, .footer { width: 100% !important; } }
</style></head>
<body>
<table class="wrapper" role="presentation" cellpadding="0" cellspacing="0"><tr><td>
<table class="content" role="presentation" cellpadding="0" cellspacing="0">
<tr><td class="header"><img src="https://example.com/static/img/logo.png" alt="{{ company }}"></td></tr>
<tr><td class="body-cell">{% block body %}{% endblock %}</td></tr>
</table>
<table class="footer" role="presentation"><tr><td>
<p>{{ company }}, 1 Main Street, Springfield</p>
<p><a href="{{ unsubscribe }}">Unsubscribe</a></p>
</td></tr></table>
</td></tr></table>
</body></html>
"#;

const WELCOME: &str = r#"{% extends "mail/layout.html" %}
{% block body %}
<h1>Welcome, {{ user.name }}!</h1>
<p>Thanks for trying {{ company }}. We're thrilled to have you on board.</p>
<p>To get the most out of {{ company }}, confirm your address:</p>
<p><a class="button" href="{{ action_url }}">Confirm your address</a></p>
<p>For reference, here's your login information:</p>
<table role="presentation"><tr><td><p><strong>Login page:</strong> {{ login_url }}</p>
<p><strong>Username:</strong> {{ user.login }}</p></td></tr></table>
<p>If you have any questions, just reply to this email: we're always happy to help out.</p>
<p>Cheers,<br>The {{ company }} team</p>
<p class="sub">If you're having trouble with the button above, copy and paste the URL below
into your web browser: {{ action_url }}</p>
{% endblock %}
"#;

const TEXT: &str = "Welcome, {{ user.name }}!

Thanks for trying {{ company }}. Confirm your address: {{ action_url }}

Login page: {{ login_url }}
Username: {{ user.login }}

Cheers,
The {{ company }} team
";

fn write(dir: &Path, name: &str, body: &str) -> std::io::Result<()> {
    std::fs::write(dir.join("mail").join(name), body)
}

fn context() -> minijinja::Value {
    context! {
        title => "Welcome",
        company => "Example",
        unsubscribe => "https://example.com/unsubscribe?u=42",
        action_url => "https://example.com/confirm?token=0123456789abcdef",
        login_url => "https://example.com/login",
        user => context! { name => "Ann", login => "ann" },
    }
}

/// The median, in microseconds per render, of `rounds` batches of `batch` calls each of
/// `a` and `b`, alternating.
fn compare(rounds: usize, batch: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> (f64, f64) {
    let mut times_a = Vec::with_capacity(rounds);
    let mut times_b = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        for _ in 0..batch {
            a();
        }
        times_a.push(start.elapsed().as_secs_f64() * 1e6 / batch as f64);
        let start = Instant::now();
        for _ in 0..batch {
            b();
        }
        times_b.push(start.elapsed().as_secs_f64() * 1e6 / batch as f64);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (median(times_a), median(times_b))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir_all(dir.path().join("mail"))?;
    write(dir.path(), "layout.html", LAYOUT)?;
    for name in ["welcome", "autotext"] {
        write(dir.path(), &format!("{name}.html"), WELCOME)?;
        write(
            dir.path(),
            &format!("{name}.subject.txt"),
            "Welcome to {{ company }}, {{ user.name }}",
        )?;
    }
    write(dir.path(), "welcome.txt", TEXT)?;

    let mails = MailTemplates::from_dir(dir.path()).site_url("https://example.com");
    // The peer's input: the same HTML as squall renders before inlining it.
    let mut env = minijinja::Environment::new();
    env.add_template("mail/layout.html", LAYOUT)?;
    env.add_template("mail/welcome.html", WELCOME)?;
    let html = env.get_template("mail/welcome.html")?.render(context())?;
    let peer = CSSInliner::options()
        .keep_style_tags(false)
        .keep_link_tags(false)
        .keep_at_rules(true)
        .build();
    let ctx = context();
    // Same output, so the two do the same work.
    let ours = mails.render_parts("welcome", &ctx)?;
    assert_eq!(ours.html.as_deref(), Some(peer.inline(&html)?.as_str()));

    let rounds = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    let batch = std::env::var("BENCH_BATCH")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    // Warm-up: templates loaded and compiled, caches filled.
    compare(
        2,
        batch,
        || drop(mails.render_parts("welcome", &ctx)),
        || drop(peer.inline(&html)),
    );

    for (metric, name) in [
        ("mail_template_render_us", "welcome"),
        ("mail_template_render_autotext_us", "autotext"),
    ] {
        let (squall, css_inline) = compare(
            rounds,
            batch,
            || {
                let parts = mails.render_parts(name, &ctx);
                assert!(parts.is_ok());
            },
            || {
                let inlined = peer.inline(&html);
                assert!(inlined.is_ok());
            },
        );
        println!(
            "METRIC {metric} squall={squall:.1} peer={css_inline:.1} ratio={:.2} unit=us",
            squall / css_inline
        );
    }
    Ok(())
}
