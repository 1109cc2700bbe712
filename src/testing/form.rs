//! A form read from an HTML page, filled in and submitted as a browser would: the fields
//! the page gives (hidden ones too, such as an `_xsrf` token), set by name, sent to the
//! form's action with its method and encoding, with the client's cookie jar.
//!
//! ```
//! use axum::{Form, Router, response::Html, routing::get};
//! use squall::testing::TestClient;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let page = r#"<form action="/hello" method="post">
//!   <input type="hidden" name="token" value="t0k">
//!   <input name="who"> <select name="mood"><option>glad<option>calm</select>
//!   <button name="go" value="1">Say hi</button>
//! </form>"#;
//! let app = Router::new().route("/", get(move || async move { Html(page) })).route(
//!     "/hello",
//!     axum::routing::post(|Form(f): Form<Vec<(String, String)>>| async move { format!("{f:?}") }),
//! );
//! let client = TestClient::new(app);
//! let page = client.get("/").await;
//! let r = page.form("form").set("who", "anna").select("mood", "calm").submit_with("Say hi").await;
//! r.assert_contains(r#"("token", "t0k"), ("who", "anna"), ("mood", "calm"), ("go", "1")"#);
//! # }
//! ```

use bytes::Bytes;
use http::Method;
use url::Url;

use super::client::TestClient;
use super::form_dom::{Control, File, Kind};
use super::form_encode::{enctype_of, entries, method_of, request, text_of};
use super::request::RequestBuilder;

/// Why a form could not be filled in or submitted as asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The form has no field of that name.
    #[error("{form} has no field {field:?} (its fields: {fields})")]
    NoField {
        /// The form: its selector and page.
        form: String,
        /// The field asked for.
        field: String,
        /// The names of the form's fields.
        fields: String,
    },
    /// The field is disabled, so a user cannot change it and it is not sent.
    #[error("{form}: field {field:?} is disabled")]
    Disabled {
        /// The form: its selector and page.
        form: String,
        /// The field.
        field: String,
    },
    /// The field is not of the kind the method fills.
    #[error("{form}: field {field:?} is {is}; {hint}")]
    WrongKind {
        /// The form: its selector and page.
        form: String,
        /// The field.
        field: String,
        /// What the field is (`a checkbox`, `a file input`, …).
        is: &'static str,
        /// What to call instead.
        hint: &'static str,
    },
    /// Several checkboxes or radio buttons share the name: say which value.
    #[error("{form}: {count} boxes are named {field:?} (values: {values}); name the value")]
    Ambiguous {
        /// The form: its selector and page.
        form: String,
        /// The field.
        field: String,
        /// How many share the name.
        count: usize,
        /// Their values.
        values: String,
    },
    /// No checkbox, radio button or option has that value (or label).
    #[error("{form}: field {field:?} has no {what} {value:?} (there are: {choices})")]
    NoChoice {
        /// The form: its selector and page.
        form: String,
        /// The field.
        field: String,
        /// `option` or `box`.
        what: &'static str,
        /// The value asked for.
        value: String,
        /// The values (and labels) there are.
        choices: String,
    },
    /// No submit button has that name or label.
    #[error("{form} has no submit button {button:?} (its buttons: {buttons})")]
    NoButton {
        /// The form: its selector and page.
        form: String,
        /// The button asked for.
        button: String,
        /// The form's submit buttons, by label and name.
        buttons: String,
    },
    /// The submit button's `formaction` is not a URL.
    #[error("{form}: formaction {action:?} is not a URL: {source}")]
    BadAction {
        /// The form: its selector and page.
        form: String,
        /// The `formaction` attribute.
        action: String,
        /// What the URL parser said.
        source: url::ParseError,
    },
}

/// A form of an HTML page, from [`TestResponse::form`](super::TestResponse::form): fill it
/// in by field name, then [`submit`](Self::submit) it with the client that got the page.
///
/// It starts as the page has it: text fields with their `value`, textareas with their
/// text, checked boxes, the selected option (or a drop-down's first), hidden fields
/// (so an `_xsrf` token is sent as the page sends it), and no disabled control. The
/// filling methods panic (at the test's line) when the field is not there or is not of
/// that kind, naming the form and the field.
#[derive(Debug, Clone)]
pub struct Form {
    client: TestClient,
    /// How messages name the form: `form "#login" on GET http://…`.
    label: String,
    /// The document's base URL, for `formaction`.
    base: Url,
    action: Url,
    method: Method,
    enctype: String,
    controls: Vec<Control>,
}

impl Form {
    pub(super) fn new(
        client: TestClient,
        label: String,
        base: Url,
        action: Url,
        method: Option<&str>,
        enctype: Option<&str>,
        controls: Vec<Control>,
    ) -> Self {
        Form {
            client,
            label,
            base,
            action,
            method: method_of(method),
            enctype: enctype_of(enctype).to_owned(),
            controls,
        }
    }

    /// Where the form goes: its `action` resolved against the page (the page's own URL
    /// when it has none).
    pub fn action(&self) -> &Url {
        &self.action
    }
    /// `GET` or `POST`.
    pub fn method(&self) -> &Method {
        &self.method
    }
    /// `application/x-www-form-urlencoded`, `multipart/form-data` or `text/plain`.
    pub fn enctype(&self) -> &str {
        &self.enctype
    }
    /// The fields the form sends now, without a submit button, in order (a file as its
    /// file name; line breaks as in the page, which go on the wire as CRLF).
    pub fn fields(&self) -> Vec<(String, String)> {
        entries(&self.controls, None)
            .into_iter()
            .map(|(name, value)| (name.into_owned(), text_of(&value).to_owned()))
            .collect()
    }
    /// The first value the form sends now for field `name`.
    pub fn value(&self, name: &str) -> Option<String> {
        self.fields()
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    }

    /// Types `value` into the text field, textarea or hidden field `name` (the first of
    /// that name); on a `<select>`, selects as [`select`](Self::select) does.
    ///
    /// # Panics
    /// When there is no such field, it is disabled, or it is a checkbox, radio button,
    /// file input or button; [`try_set`](Self::try_set) returns the error.
    #[track_caller]
    pub fn set(mut self, name: &str, value: &str) -> Self {
        if let Err(e) = self.try_set(name, value) {
            panic!("Form::set: {e}");
        }
        self
    }
    /// [`set`](Self::set), returning the error.
    pub fn try_set(&mut self, name: &str, value: &str) -> Result<&mut Self, Error> {
        let i = self.find(name)?;
        match &mut self.controls[i].kind {
            Kind::Text { value: v } => *v = value.to_owned(),
            Kind::Select { .. } => return self.try_select(name, value),
            kind => return Err(wrong_kind(&self.label, name, kind)),
        }
        Ok(self)
    }
    /// Checks the only checkbox or radio button named `name` (checking a radio button
    /// unchecks the others of its group).
    ///
    /// # Panics
    /// When there is none, several share the name (use [`check_value`](Self::check_value)),
    /// or it is disabled.
    #[track_caller]
    pub fn check(self, name: &str) -> Self {
        self.checked(name, None, true, "check")
    }
    /// Checks the checkbox or radio button named `name` whose value is `value`.
    ///
    /// # Panics
    /// As [`check`](Self::check), and when no box of that name has that value.
    #[track_caller]
    pub fn check_value(self, name: &str, value: &str) -> Self {
        self.checked(name, Some(value), true, "check_value")
    }
    /// Unchecks the only checkbox named `name`.
    ///
    /// # Panics
    /// As [`check`](Self::check), and on a radio button (check another one instead).
    #[track_caller]
    pub fn uncheck(self, name: &str) -> Self {
        self.checked(name, None, false, "uncheck")
    }
    /// Unchecks the checkbox named `name` whose value is `value`.
    ///
    /// # Panics
    /// As [`check_value`](Self::check_value).
    #[track_caller]
    pub fn uncheck_value(self, name: &str, value: &str) -> Self {
        self.checked(name, Some(value), false, "uncheck_value")
    }
    #[track_caller]
    fn checked(mut self, name: &str, value: Option<&str>, on: bool, what: &str) -> Self {
        if let Err(e) = self.try_check(name, value, on) {
            panic!("Form::{what}: {e}");
        }
        self
    }
    /// Checks (`on`) or unchecks the box named `name`, the one with `value` when given:
    /// what [`check`](Self::check) and its kin do, returning the error.
    pub fn try_check(
        &mut self,
        name: &str,
        value: Option<&str>,
        on: bool,
    ) -> Result<&mut Self, Error> {
        let i = self.find(name)?;
        let boxes: Vec<usize> = (0..self.controls.len())
            .filter(|&j| {
                self.controls[j].name == name && matches!(self.controls[j].kind, Kind::Check { .. })
            })
            .collect();
        if boxes.is_empty() {
            return Err(wrong_kind(&self.label, name, &self.controls[i].kind));
        }
        let box_value = |j: usize| match &self.controls[j].kind {
            Kind::Check { value, .. } => value.as_str(),
            _ => "",
        };
        let values = || {
            boxes
                .iter()
                .map(|&j| format!("{:?}", box_value(j)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let target = match value {
            None if boxes.len() == 1 => boxes[0],
            None => {
                return Err(Error::Ambiguous {
                    form: self.label.clone(),
                    field: name.to_owned(),
                    count: boxes.len(),
                    values: values(),
                });
            }
            Some(v) => match boxes.iter().find(|&&j| box_value(j) == v) {
                Some(&j) => j,
                None => {
                    return Err(Error::NoChoice {
                        form: self.label.clone(),
                        field: name.to_owned(),
                        what: "box",
                        value: v.to_owned(),
                        choices: values(),
                    });
                }
            },
        };
        if self.controls[target].disabled {
            return Err(self.disabled(name));
        }
        let radio = matches!(self.controls[target].kind, Kind::Check { radio: true, .. });
        if radio && !on {
            return Err(Error::WrongKind {
                form: self.label.clone(),
                field: name.to_owned(),
                is: "a radio button",
                hint: "a radio button is unchecked by checking another one of its group",
            });
        }
        for j in boxes {
            if let Kind::Check { checked, .. } = &mut self.controls[j].kind {
                if j == target {
                    *checked = on;
                } else if radio {
                    *checked = false;
                }
            }
        }
        Ok(self)
    }
    /// Selects the option of `<select name=…>` whose value, or else whose label, is
    /// `option`. In a single select the others are no longer selected; in a `multiple`
    /// one it is added to the selection.
    ///
    /// # Panics
    /// When there is no such select or option, or either is disabled.
    #[track_caller]
    pub fn select(mut self, name: &str, option: &str) -> Self {
        if let Err(e) = self.try_select(name, option) {
            panic!("Form::select: {e}");
        }
        self
    }
    /// [`select`](Self::select), returning the error.
    pub fn try_select(&mut self, name: &str, option: &str) -> Result<&mut Self, Error> {
        let i = self.find(name)?;
        let label = self.label.clone();
        let control = &mut self.controls[i];
        let Kind::Select { multiple, options } = &mut control.kind else {
            return Err(wrong_kind(&self.label, name, &self.controls[i].kind));
        };
        let found = options
            .iter()
            .position(|o| o.value == option)
            .or_else(|| options.iter().position(|o| o.label == option));
        let Some(found) = found else {
            let choices = options
                .iter()
                .map(|o| format!("{:?} ({})", o.value, o.label))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NoChoice {
                form: label,
                field: name.to_owned(),
                what: "option",
                value: option.to_owned(),
                choices,
            });
        };
        if control.disabled || options[found].disabled {
            return Err(Error::Disabled {
                form: label,
                field: format!("{name}={option}"),
            });
        }
        for (j, o) in options.iter_mut().enumerate() {
            if j == found {
                o.selected = true;
            } else if !*multiple {
                o.selected = false;
            }
        }
        Ok(self)
    }
    /// Attaches a file to `<input type=file name=…>`: it replaces the one attached before,
    /// or is added to them when the input is `multiple`.
    ///
    /// # Panics
    /// When there is no such file input, or it is disabled.
    #[track_caller]
    pub fn attach(
        mut self,
        name: &str,
        filename: &str,
        content_type: &str,
        data: impl Into<Bytes>,
    ) -> Self {
        if let Err(e) = self.try_attach(name, filename, content_type, data) {
            panic!("Form::attach: {e}");
        }
        self
    }
    /// [`attach`](Self::attach), returning the error.
    pub fn try_attach(
        &mut self,
        name: &str,
        filename: &str,
        content_type: &str,
        data: impl Into<Bytes>,
    ) -> Result<&mut Self, Error> {
        let i = self.find(name)?;
        let Kind::File { multiple, files } = &mut self.controls[i].kind else {
            return Err(wrong_kind(&self.label, name, &self.controls[i].kind));
        };
        if !*multiple {
            files.clear();
        }
        files.push(File {
            filename: filename.to_owned(),
            content_type: content_type.to_owned(),
            data: data.into(),
        });
        Ok(self)
    }

    /// Submits the form without a submit button (as `form.submit()` in a page's script
    /// does): a GET form as the action's query, a POST form as its enctype says
    /// (urlencoded, multipart or text/plain), with the client's cookies. Await the
    /// request, or set more on it first (`.follow_redirects()`).
    pub fn submit(&self) -> RequestBuilder<'_> {
        let entries = entries(&self.controls, None);
        request(
            &self.client,
            self.action.clone(),
            self.method.clone(),
            &self.enctype,
            &entries,
        )
    }
    /// Submits the form with the submit button whose `name`, or else whose label (a
    /// `<button>`'s text, an input's value), is `button`: the button's name and value are
    /// sent too, and its `formaction`, `formmethod` and `formenctype` apply.
    ///
    /// # Panics
    /// When the form has no such button or it is disabled;
    /// [`try_submit_with`](Self::try_submit_with) returns the error.
    #[track_caller]
    pub fn submit_with(&self, button: &str) -> RequestBuilder<'_> {
        match self.try_submit_with(button) {
            Ok(request) => request,
            Err(e) => panic!("Form::submit_with: {e}"),
        }
    }
    /// [`submit_with`](Self::submit_with), returning the error.
    pub fn try_submit_with(&self, button: &str) -> Result<RequestBuilder<'_>, Error> {
        let buttons = || {
            self.controls
                .iter()
                .filter(|c| matches!(c.kind, Kind::Submit(_)))
        };
        let found = buttons()
            .position(|c| !c.name.is_empty() && c.name == button)
            .or_else(|| {
                buttons().position(
                    |c| matches!(&c.kind, Kind::Submit(b) if b.label.trim() == button.trim()),
                )
            });
        let Some(found) = found.and_then(|n| buttons().nth(n)) else {
            let buttons = buttons()
                .map(|c| match &c.kind {
                    Kind::Submit(b) if c.name.is_empty() => format!("{:?}", b.label),
                    Kind::Submit(b) => format!("{:?} (name {:?})", b.label, c.name),
                    _ => String::new(),
                })
                .collect::<Vec<_>>();
            return Err(Error::NoButton {
                form: self.label.clone(),
                button: button.to_owned(),
                buttons: list(&buttons),
            });
        };
        if found.disabled {
            return Err(self.disabled(button));
        }
        let Kind::Submit(b) = &found.kind else {
            return Err(self.disabled(button));
        };
        let action = match &b.formaction {
            Some(a) if !a.is_empty() => self.base.join(a).map_err(|source| Error::BadAction {
                form: self.label.clone(),
                action: a.clone(),
                source,
            })?,
            _ => self.action.clone(),
        };
        let method = match &b.formmethod {
            Some(m) => method_of(Some(m)),
            None => self.method.clone(),
        };
        let enctype = match &b.formenctype {
            Some(e) => enctype_of(Some(e)),
            None => &self.enctype,
        };
        let entries = entries(&self.controls, Some(found));
        Ok(request(&self.client, action, method, enctype, &entries))
    }

    /// The index of the first control named `name`, or the error naming the form's fields.
    /// The first enabled control named `name`; an error naming the form's fields when
    /// there is none, or saying it is disabled when all of that name are.
    fn find(&self, name: &str) -> Result<usize, Error> {
        let named = |c: &&Control| c.name == name;
        if let Some(i) = self.controls.iter().position(|c| named(&c) && !c.disabled) {
            return Ok(i);
        }
        if self.controls.iter().any(|c| named(&c)) {
            return Err(self.disabled(name));
        }
        let mut names: Vec<String> = Vec::new();
        for c in &self.controls {
            let quoted = format!("{:?}", c.name);
            if !c.name.is_empty() && !names.contains(&quoted) {
                names.push(quoted);
            }
        }
        Err(Error::NoField {
            form: self.label.clone(),
            field: name.to_owned(),
            fields: list(&names),
        })
    }

    fn disabled(&self, name: &str) -> Error {
        Error::Disabled {
            form: self.label.clone(),
            field: name.to_owned(),
        }
    }
}

/// The error for a field that is not of the kind a method fills.
fn wrong_kind(form: &str, name: &str, kind: &Kind) -> Error {
    let (is, hint) = match kind {
        Kind::Text { .. } => ("a text field", "use set"),
        Kind::Check { radio: true, .. } => ("a radio button", "use check_value"),
        Kind::Check { .. } => ("a checkbox", "use check or uncheck"),
        Kind::Select { .. } => ("a select", "use select"),
        Kind::File { .. } => ("a file input", "use attach"),
        Kind::Submit(_) => ("a submit button", "use submit_with"),
    };
    Error::WrongKind {
        form: form.to_owned(),
        field: name.to_owned(),
        is,
        hint,
    }
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}
