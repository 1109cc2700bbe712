//! The squall example site: an axum app that renders minijinja templates from
//! `templates/` and sends its contact form through the mailer named by `SQUALL_MAIL_URL`.
//!
//! ```text
//! cargo run --example site          # then open http://127.0.0.1:8000
//! ```
#![allow(missing_docs)]

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Router, http::StatusCode};
use minijinja::{Environment, context, path_loader};
use serde::Deserialize;
use squall::mail::{Email, Mailer, from_url};

struct App {
    templates: Environment<'static>,
    mailer: Box<dyn Mailer>,
    mail_url: String,
}

#[derive(Deserialize)]
struct IndexQuery {
    sent: Option<String>,
}

#[derive(Deserialize)]
struct Contact {
    email: String,
    message: String,
}

async fn index(State(app): State<Arc<App>>, Query(q): Query<IndexQuery>) -> Response {
    render(
        &app,
        context! { sent => q.sent.is_some(), mail_url => &app.mail_url },
    )
}

async fn contact(State(app): State<Arc<App>>, Form(form): Form<Contact>) -> Response {
    let email = Email::builder()
        .from("squall example <site@example.com>")
        .to("owner@example.com")
        .reply_to(form.email.as_str())
        .subject("Contact form")
        .text(form.message.as_str())
        .build();
    let result = match email {
        Ok(email) => app.mailer.send(&email).await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(()) => Redirect::to("/?sent=1").into_response(),
        Err(error) => {
            let page = render(&app, context! { error => error, mail_url => &app.mail_url });
            (StatusCode::UNPROCESSABLE_ENTITY, page).into_response()
        }
    }
}

fn render(app: &App, ctx: minijinja::Value) -> Response {
    match app
        .templates
        .get_template("index.html")
        .and_then(|t| t.render(ctx))
    {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    // Mail goes to a disk spool under the working directory; `spool-drain` sends it.
    let mail_url = std::env::var("SQUALL_MAIL_URL").unwrap_or_else(|_| "spool:spool".into());
    let addr = std::env::var("SQUALL_ADDR").unwrap_or_else(|_| "127.0.0.1:8000".into());
    let mut templates = Environment::new();
    templates.set_loader(path_loader(root.join("templates")));
    let app = Arc::new(App {
        templates,
        mailer: from_url(&mail_url)?,
        mail_url,
    });
    let router = Router::new()
        .route("/", get(index))
        .route("/contact", post(contact))
        .nest_service(
            "/static",
            tower_http::services::ServeDir::new(root.join("static")),
        )
        .with_state(app.clone());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("squall example site on http://{}", listener.local_addr()?);
    println!("  mail: {} · assets: debug", app.mail_url);
    axum::serve(listener, router).await?;
    Ok(())
}
