//! The cookie jar: it stores cookies from `Set-Cookie` headers and chooses the ones a
//! request carries, as a browser does (RFC 6265, section 5).
//!
//! [`CookieJar`] (in `store`) is the store and [`StoredCookie`] one entry; `parse` reads
//! `Set-Cookie` headers and their dates, and `rules` says which cookie goes where.

mod parse;
mod rules;
mod store;
mod stored_cookie;

pub(crate) use parse::parse_set_cookie;
pub(crate) use rules::same_site;
pub use store::{CookieJar, Error};
pub use stored_cookie::{RequestSite, SameSite, StoredCookie, StoredCookieBuilder};
