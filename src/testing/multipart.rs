//! `multipart/form-data` bodies, for forms with file uploads.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use bytes::Bytes;

use super::response::contains;

/// A `multipart/form-data` body, for forms with file uploads.
///
/// ```
/// # use axum::{Router, routing::post};
/// use squall::testing::{Multipart, TestClient};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// # let client = TestClient::new(Router::new().route("/upload", post(|b: axum::body::Bytes| async move { String::from_utf8_lossy(&b).into_owned() })));
/// let form = Multipart::new()
///     .text("title", "Holiday")
///     .file("photo", "beach.jpg", "image/jpeg", &b"\xff\xd8 jpeg bytes"[..]);
/// let r = client.post("/upload").multipart(form).await;
/// r.assert_contains("filename=\"beach.jpg\"");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Multipart {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
struct Part {
    name: String,
    filename: Option<String>,
    content_type: Option<String>,
    data: Bytes,
}

impl Multipart {
    /// An empty form.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a text field.
    pub fn text(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let value: String = value.into();
        self.parts.push(Part {
            name: name.into(),
            filename: None,
            content_type: None,
            data: Bytes::from(value),
        });
        self
    }
    /// Adds a file with its name and content type.
    pub fn file(
        mut self,
        name: impl Into<String>,
        filename: impl Into<String>,
        content_type: impl Into<String>,
        data: impl Into<Bytes>,
    ) -> Self {
        self.parts.push(Part {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data: data.into(),
        });
        self
    }
    pub(super) fn has_field(&self, name: &str) -> bool {
        self.parts.iter().any(|p| p.name == name)
    }
    /// The body and its content type.
    pub(super) fn encode(&self) -> (Bytes, String) {
        let mut boundary = new_boundary();
        while self
            .parts
            .iter()
            .any(|p| contains(&p.data, boundary.as_bytes()))
        {
            boundary = new_boundary();
        }
        // Names are escaped as browsers do (HTML's multipart/form-data encoding algorithm).
        let escape = |s: &str| {
            s.replace('"', "%22")
                .replace('\r', "%0D")
                .replace('\n', "%0A")
        };
        let mut body = Vec::with_capacity(self.parts.iter().map(|p| p.data.len() + 160).sum());
        for part in &self.parts {
            body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
            let mut disposition = format!(
                "Content-Disposition: form-data; name=\"{}\"",
                escape(&part.name)
            );
            if let Some(filename) = &part.filename {
                disposition.push_str(&format!("; filename=\"{}\"", escape(filename)));
            }
            body.extend_from_slice(disposition.as_bytes());
            body.extend_from_slice(b"\r\n");
            if let Some(ct) = &part.content_type {
                let ct: String = ct.chars().filter(|c| !c.is_control()).collect();
                body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
            }
            body.extend_from_slice(b"\r\n");
            body.extend_from_slice(&part.data);
            body.extend_from_slice(b"\r\n");
        }
        body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
        (
            Bytes::from(body),
            format!("multipart/form-data; boundary={boundary}"),
        )
    }
}

fn new_boundary() -> String {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(0x5175_616c_6c00);
    format!("----squall{:016x}", hasher.finish())
}
