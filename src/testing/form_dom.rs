//! HTML's rules for what a `<form>` holds: which controls belong to it (descendants, and
//! elements elsewhere that name it with `form="id"`), which are disabled (their own
//! `disabled`, or a disabled `<fieldset>` around them), and each control's initial state
//! (values, checkedness, the selected options).

use scraper::{ElementRef, Html, Selector};

/// One control of a form, in tree order.
#[derive(Debug, Clone)]
pub(super) struct Control {
    /// The `name` attribute (empty for an unnamed submit button).
    pub(super) name: String,
    pub(super) disabled: bool,
    pub(super) kind: Kind,
}

/// What a control is, with its current state.
#[derive(Debug, Clone)]
pub(super) enum Kind {
    /// A text-like input (text, hidden, password, email, …) or a `<textarea>`.
    Text { value: String },
    /// A checkbox or radio button.
    Check {
        radio: bool,
        value: String,
        checked: bool,
    },
    /// A `<select>`.
    Select {
        multiple: bool,
        options: Vec<Choice>,
    },
    /// An `<input type=file>` and the files attached to it.
    File { multiple: bool, files: Vec<File> },
    /// A submit button (`<button>`, `<input type=submit>` or `<input type=image>`).
    Submit(Button),
}

/// One `<option>` of a `<select>`.
#[derive(Debug, Clone)]
pub(super) struct Choice {
    pub(super) value: String,
    pub(super) label: String,
    pub(super) selected: bool,
    pub(super) disabled: bool,
}

/// A file attached to a file input.
#[derive(Debug, Clone)]
pub(super) struct File {
    pub(super) filename: String,
    pub(super) content_type: String,
    pub(super) data: bytes::Bytes,
}

/// A submit button: what it sends when used, and what it overrides.
#[derive(Debug, Clone)]
pub(super) struct Button {
    pub(super) value: String,
    /// What the user sees: the text of a `<button>`, the value (or alt) of an input.
    pub(super) label: String,
    pub(super) image: bool,
    pub(super) formaction: Option<String>,
    pub(super) formmethod: Option<String>,
    pub(super) formenctype: Option<String>,
}

/// Text with runs of white space made one space, trimmed.
pub(super) fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The controls whose form owner is `form`, in tree order.
pub(super) fn controls(doc: &Html, form: ElementRef<'_>) -> Vec<Control> {
    let Ok(submittable) = Selector::parse("button, input, select, textarea") else {
        return Vec::new();
    };
    doc.select(&submittable)
        .filter(|el| owner(doc, *el).is_some_and(|owner| owner.id() == form.id()))
        .filter_map(control)
        .collect()
}

/// The form an element belongs to: the one its `form` attribute names, or else the
/// nearest `<form>` around it.
fn owner<'a>(doc: &'a Html, el: ElementRef<'a>) -> Option<ElementRef<'a>> {
    if let Some(id) = el.value().attr("form") {
        return doc
            .root_element()
            .descendent_elements()
            .find(|e| e.value().id() == Some(id))
            .filter(|e| e.value().name() == "form");
    }
    el.ancestors()
        .filter_map(ElementRef::wrap)
        .find(|a| a.value().name() == "form")
}

/// Whether the element is disabled: by its own attribute, or by a disabled `<fieldset>`
/// around it (unless it sits in that fieldset's first `<legend>`).
fn disabled(el: ElementRef<'_>) -> bool {
    if el.value().attr("disabled").is_some() {
        return true;
    }
    el.ancestors()
        .filter_map(ElementRef::wrap)
        .filter(|a| a.value().name() == "fieldset" && a.value().attr("disabled").is_some())
        .any(|fieldset| {
            let legend = fieldset
                .child_elements()
                .find(|c| c.value().name() == "legend");
            !legend.is_some_and(|legend| el.ancestors().any(|a| a.id() == legend.id()))
        })
}

fn attr(el: ElementRef<'_>, name: &str) -> Option<String> {
    el.value().attr(name).map(str::to_owned)
}

/// The control an element is, or `None` for one that never submits (reset and plain
/// buttons, and unnamed controls other than submit buttons).
fn control(el: ElementRef<'_>) -> Option<Control> {
    let name = el.value().attr("name").unwrap_or("").to_owned();
    let tag = el.value().name();
    let kind_attr = el
        .value()
        .attr("type")
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let kind = match tag {
        "textarea" => Kind::Text {
            value: el.text().collect(),
        },
        "select" => select(el),
        "button" => match kind_attr.as_str() {
            "" | "submit" => {
                Kind::Submit(button(el, false, collapse(&el.text().collect::<String>())))
            }
            _ => return None,
        },
        _ => match kind_attr.as_str() {
            "checkbox" | "radio" => Kind::Check {
                radio: kind_attr == "radio",
                value: attr(el, "value").unwrap_or_else(|| "on".to_owned()),
                checked: el.value().attr("checked").is_some(),
            },
            "file" => Kind::File {
                multiple: el.value().attr("multiple").is_some(),
                files: Vec::new(),
            },
            "submit" => Kind::Submit(button(el, false, attr(el, "value").unwrap_or_default())),
            "image" => Kind::Submit(button(el, true, attr(el, "alt").unwrap_or_default())),
            "reset" | "button" => return None,
            _ => Kind::Text {
                value: attr(el, "value").unwrap_or_default(),
            },
        },
    };
    if name.is_empty() && !matches!(kind, Kind::Submit(_)) {
        return None;
    }
    Some(Control {
        name,
        disabled: disabled(el),
        kind,
    })
}

fn button(el: ElementRef<'_>, image: bool, label: String) -> Button {
    Button {
        value: attr(el, "value").unwrap_or_default(),
        label,
        image,
        formaction: attr(el, "formaction"),
        formmethod: attr(el, "formmethod"),
        formenctype: attr(el, "formenctype"),
    }
}

/// A `<select>` with HTML's selectedness: the options marked `selected` (the last one in
/// a single select), or else, in a single drop-down, the first option not disabled.
fn select(el: ElementRef<'_>) -> Kind {
    let multiple = el.value().attr("multiple").is_some();
    let mut options: Vec<Choice> = el
        .descendent_elements()
        .filter(|o| o.value().name() == "option")
        .map(|o| {
            let text = collapse(&o.text().collect::<String>());
            let in_disabled_group = o.parent().and_then(ElementRef::wrap).is_some_and(|p| {
                p.value().name() == "optgroup" && p.value().attr("disabled").is_some()
            });
            Choice {
                value: attr(o, "value").unwrap_or_else(|| text.clone()),
                label: o
                    .value()
                    .attr("label")
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .unwrap_or(text),
                selected: o.value().attr("selected").is_some(),
                disabled: o.value().attr("disabled").is_some() || in_disabled_group,
            }
        })
        .collect();
    if !multiple {
        if let Some(last) = options.iter().rposition(|o| o.selected) {
            for (i, o) in options.iter_mut().enumerate() {
                o.selected = i == last;
            }
        } else {
            let size = el
                .value()
                .attr("size")
                .and_then(|s| s.trim().parse::<u32>().ok())
                .unwrap_or(1);
            if size <= 1
                && let Some(first) = options.iter_mut().find(|o| !o.disabled)
            {
                first.selected = true;
            }
        }
    }
    Kind::Select { multiple, options }
}
