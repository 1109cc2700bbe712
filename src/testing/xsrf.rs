//! The names of an app's XSRF token: the cookie that carries it and the form field and
//! header the client hands it back in.

use http::header::HeaderName;

/// How the client names its XSRF token: the cookie the app sets, and the form field and
/// header it hands the token back in.
///
/// The default is Tornado's (`_xsrf` cookie and field, `X-XSRFToken` header);
/// [`Xsrf::django`] is Django's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xsrf {
    pub(super) cookie: String,
    pub(super) field: String,
    pub(super) header: HeaderName,
}

impl Default for Xsrf {
    fn default() -> Self {
        Xsrf::tornado()
    }
}

impl Xsrf {
    /// Tornado's names: cookie `_xsrf`, form field `_xsrf`, header `X-XSRFToken`.
    pub fn tornado() -> Self {
        Xsrf {
            cookie: "_xsrf".into(),
            field: "_xsrf".into(),
            header: HeaderName::from_static("x-xsrftoken"),
        }
    }
    /// Django's names: cookie `csrftoken`, form field `csrfmiddlewaretoken`, header
    /// `X-CSRFToken`.
    pub fn django() -> Self {
        Xsrf {
            cookie: "csrftoken".into(),
            field: "csrfmiddlewaretoken".into(),
            header: HeaderName::from_static("x-csrftoken"),
        }
    }
    /// Other names.
    pub fn new(cookie: impl Into<String>, field: impl Into<String>, header: HeaderName) -> Self {
        Xsrf {
            cookie: cookie.into(),
            field: field.into(),
            header,
        }
    }
}
