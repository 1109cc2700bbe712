//! Finding the `static(...)` and `static_url(...)` calls in templates with minijinja's own
//! parser, so that a call inside a comment, a `{% raw %}` block or prose is not one.
//!
//! Each template is parsed into minijinja's syntax tree and every call expression whose
//! callee is the name `static` or `static_url` is reported with its line: with string
//! literals only, it can be precompiled; with anything else (a variable, an expression, no
//! argument), it is listed as non-literal.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use squall::assets::scan_templates;
//!
//! let dir = tempfile::tempdir()?;
//! std::fs::write(
//!     dir.path().join("base.html"),
//!     "{# {{ static('js/old.js') }} #}\n\
//!      <p>Write static('x.js') in a template.</p>\n\
//!      {{ static('js/app.js', 'js/more.js') }}\n\
//!      {% raw %}{{ static('js/doc.js') }}{% endraw %}\n\
//!      {{ static_url(name) }}\n",
//! )?;
//! let scan = scan_templates(dir.path())?;
//! assert_eq!(scan.literal.len(), 1);
//! assert_eq!(scan.literal[0].files, ["js/app.js", "js/more.js"]);
//! assert_eq!(scan.literal[0].line, 3);
//! assert_eq!(scan.non_literal[0].line, 5);
//! # Ok(()) }
//! ```
//!
//! minijinja's syntax tree is behind its `unstable_machinery` feature (squall asks for
//! 2.24 or later); a template that does not parse fails the scan with its file and line,
//! as it would fail at run time.

use std::io;
use std::path::{Path, PathBuf};

use minijinja::machinery::{self, WhitespaceConfig, ast};
use minijinja::syntax::SyntaxConfig;
use serde::Serialize;

/// What can go wrong scanning a templates directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScanError {
    /// Walking the templates directory failed.
    #[error("{path}: {source}")]
    Walk {
        /// The file or directory.
        path: PathBuf,
        /// walkdir's error.
        #[source]
        source: walkdir::Error,
    },
    /// Reading a template failed.
    #[error("{path}: {source}")]
    Read {
        /// The template.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A template does not parse.
    #[error("{path}:{line}: template syntax error: {message}")]
    Syntax {
        /// The template.
        path: PathBuf,
        /// Line of the error, from 1.
        line: usize,
        /// minijinja's description.
        message: String,
        /// minijinja's error.
        #[source]
        source: minijinja::Error,
    },
}

/// A `static(...)`/`static_url(...)` call found in a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TemplateCall {
    /// The template file.
    pub template: PathBuf,
    /// Line of the call, from 1.
    pub line: usize,
    /// The literal arguments (empty when the call has non-literal ones).
    pub files: Vec<String>,
    /// The call's text as written (up to 200 bytes).
    pub text: String,
    /// Why the call cannot be precompiled; `None` for a call with string literals only.
    pub problem: Option<CallProblem>,
}

/// Why a `static(...)`/`static_url(...)` call cannot be precompiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CallProblem {
    /// `static()`: no file named.
    NoArguments,
    /// An argument is a variable or an expression, known only when rendering.
    NonLiteral,
    /// An argument is a literal but not a string (`static(1)`, `static(none)`).
    NonString,
}

impl std::fmt::Display for CallProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            CallProblem::NoArguments => "has no arguments: a bundle needs at least one file",
            CallProblem::NonLiteral => "has non-literal arguments",
            CallProblem::NonString => "has an argument that is not a string",
        })
    }
}

/// What one argument of a call is, for [`CallProblem`].
fn argument_problem(arg: &ast::CallArg<'_>) -> Option<CallProblem> {
    match arg {
        ast::CallArg::Pos(ast::Expr::Const(c)) if c.value.as_str().is_some() => None,
        ast::CallArg::Pos(ast::Expr::Const(_)) => Some(CallProblem::NonString),
        ast::CallArg::Pos(ast::Expr::UnaryOp(op)) if matches!(op.expr, ast::Expr::Const(_)) => {
            Some(CallProblem::NonString)
        }
        _ => Some(CallProblem::NonLiteral),
    }
}

/// Every call found in a templates directory.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TemplateScan {
    /// Calls with string-literal arguments only: these can be precompiled.
    pub literal: Vec<TemplateCall>,
    /// Calls with any other argument (a variable, an expression, none): reported, not
    /// built.
    pub non_literal: Vec<TemplateCall>,
}

/// Finds every `static(...)` and `static_url(...)` call in the files under `dir` (files
/// that are not UTF-8 are skipped).
pub fn scan_templates(dir: &Path) -> Result<TemplateScan, ScanError> {
    let mut scan = TemplateScan::default();
    let mut paths = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| ScanError::Walk {
            path: e.path().unwrap_or(dir).to_owned(),
            source: e,
        })?;
        if entry.file_type().is_file() {
            paths.push(entry.into_path());
        }
    }
    for path in paths {
        let bytes = std::fs::read(&path).map_err(|e| ScanError::Read {
            path: path.clone(),
            source: e,
        })?;
        let Ok(text) = String::from_utf8(bytes) else {
            tracing::debug!(path = %path.display(), "skipping a file that is not UTF-8");
            continue;
        };
        scan_text(&path, &text, &mut scan)?;
    }
    Ok(scan)
}

/// Scans one template's text.
fn scan_text(path: &Path, text: &str, scan: &mut TemplateScan) -> Result<(), ScanError> {
    let name = path.to_string_lossy();
    // A unit struct unless minijinja's `custom_syntax` feature is on somewhere in the build.
    #[allow(clippy::default_constructed_unit_structs)]
    let root = machinery::parse(
        text,
        &name,
        SyntaxConfig::default(),
        WhitespaceConfig::default(),
    )
    .map_err(|source| ScanError::Syntax {
        path: path.to_owned(),
        line: source.line().unwrap_or(1),
        message: source.detail().unwrap_or("invalid syntax").to_owned(),
        source,
    })?;
    let mut finder = Finder { path, text, scan };
    finder.stmt(&root);
    Ok(())
}

/// Walks a template's syntax tree for calls to `static` and `static_url`.
struct Finder<'a> {
    path: &'a Path,
    text: &'a str,
    scan: &'a mut TemplateScan,
}

impl Finder<'_> {
    fn stmts(&mut self, stmts: &[ast::Stmt<'_>]) {
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &ast::Stmt<'_>) {
        use ast::Stmt;
        match stmt {
            Stmt::Template(s) => self.stmts(&s.children),
            Stmt::EmitExpr(s) => self.expr(&s.expr),
            Stmt::EmitRaw(_) => {}
            Stmt::ForLoop(s) => {
                self.expr(&s.target);
                self.expr(&s.iter);
                self.opt(s.filter_expr.as_ref());
                self.stmts(&s.body);
                self.stmts(&s.else_body);
            }
            Stmt::IfCond(s) => {
                self.expr(&s.expr);
                self.stmts(&s.true_body);
                self.stmts(&s.false_body);
            }
            Stmt::WithBlock(s) => {
                for (target, value) in &s.assignments {
                    self.expr(target);
                    self.expr(value);
                }
                self.stmts(&s.body);
            }
            Stmt::Set(s) => {
                self.expr(&s.target);
                self.expr(&s.expr);
            }
            Stmt::SetBlock(s) => {
                self.expr(&s.target);
                self.opt(s.filter.as_ref());
                self.stmts(&s.body);
            }
            Stmt::AutoEscape(s) => {
                self.expr(&s.enabled);
                self.stmts(&s.body);
            }
            Stmt::FilterBlock(s) => {
                self.expr(&s.filter);
                self.stmts(&s.body);
            }
            Stmt::Block(s) => self.stmts(&s.body),
            Stmt::Import(s) => {
                self.expr(&s.expr);
                self.expr(&s.name);
            }
            Stmt::FromImport(s) => {
                self.expr(&s.expr);
                for (name, alias) in &s.names {
                    self.expr(name);
                    self.opt(alias.as_ref());
                }
            }
            Stmt::Extends(s) => self.expr(&s.name),
            Stmt::Include(s) => self.expr(&s.name),
            Stmt::Macro(s) => self.macro_decl(s),
            Stmt::CallBlock(s) => {
                self.call(&s.call);
                self.macro_decl(&s.macro_decl);
            }
            Stmt::Do(s) => self.call(&s.call),
            // `{% break %}` and `{% continue %}` (minijinja's `loop_controls` feature, which
            // another crate in the build may turn on) hold no expressions.
            #[allow(unreachable_patterns)]
            _ => {}
        }
    }

    fn macro_decl(&mut self, decl: &ast::Macro<'_>) {
        for expr in decl.args.iter().chain(&decl.defaults) {
            self.expr(expr);
        }
        self.stmts(&decl.body);
    }

    fn opt(&mut self, expr: Option<&ast::Expr<'_>>) {
        if let Some(expr) = expr {
            self.expr(expr);
        }
    }

    fn args(&mut self, args: &[ast::CallArg<'_>]) {
        for arg in args {
            match arg {
                ast::CallArg::Pos(e)
                | ast::CallArg::Kwarg(_, e)
                | ast::CallArg::PosSplat(e)
                | ast::CallArg::KwargSplat(e) => self.expr(e),
            }
        }
    }

    fn expr(&mut self, expr: &ast::Expr<'_>) {
        use ast::Expr;
        match expr {
            Expr::Var(_) | Expr::Const(_) => {}
            Expr::Slice(e) => {
                self.expr(&e.expr);
                self.opt(e.start.as_ref());
                self.opt(e.stop.as_ref());
                self.opt(e.step.as_ref());
            }
            Expr::UnaryOp(e) => self.expr(&e.expr),
            Expr::BinOp(e) => {
                self.expr(&e.left);
                self.expr(&e.right);
            }
            Expr::Compare(e) => {
                self.expr(&e.expr);
                for op in &e.ops {
                    self.expr(&op.expr);
                }
            }
            Expr::IfExpr(e) => {
                self.expr(&e.test_expr);
                self.expr(&e.true_expr);
                self.opt(e.false_expr.as_ref());
            }
            Expr::Filter(e) => {
                self.opt(e.expr.as_ref());
                self.args(&e.args);
            }
            Expr::Test(e) => {
                self.expr(&e.expr);
                self.args(&e.args);
            }
            Expr::GetAttr(e) => self.expr(&e.expr),
            Expr::GetItem(e) => {
                self.expr(&e.expr);
                self.expr(&e.subscript_expr);
            }
            Expr::Call(e) => self.call(e),
            Expr::List(e) => {
                for item in &e.items {
                    self.expr(item);
                }
            }
            Expr::Map(e) => {
                for expr in e.keys.iter().chain(&e.values) {
                    self.expr(expr);
                }
            }
        }
    }

    fn call(&mut self, call: &ast::Spanned<ast::Call<'_>>) {
        if let ast::Expr::Var(var) = &call.expr
            && matches!(var.id, "static" | "static_url")
        {
            self.record(call);
        }
        self.expr(&call.expr);
        self.args(&call.args);
    }

    fn record(&mut self, call: &ast::Spanned<ast::Call<'_>>) {
        let problem = if call.args.is_empty() {
            Some(CallProblem::NoArguments)
        } else {
            call.args
                .iter()
                .filter_map(argument_problem)
                .min_by_key(|p| match p {
                    CallProblem::NonString => 0,
                    _ => 1,
                })
        };
        let files: Vec<String> = match problem {
            None => call
                .args
                .iter()
                .filter_map(|arg| match arg {
                    ast::CallArg::Pos(ast::Expr::Const(c)) => c.value.as_str().map(str::to_owned),
                    _ => None,
                })
                .collect(),
            Some(_) => Vec::new(),
        };
        let span = call.span();
        let start = (span.start_offset as usize).min(self.text.len());
        let end = (span.end_offset as usize).clamp(start, self.text.len());
        let mut shown = self.text.get(start..end).unwrap_or_default().to_owned();
        if shown.len() > 200 {
            let mut cut = 200;
            while !shown.is_char_boundary(cut) {
                cut -= 1;
            }
            shown.truncate(cut);
        }
        let found = TemplateCall {
            template: self.path.to_owned(),
            line: usize::from(span.start_line),
            files,
            text: shown,
            problem,
        };
        match problem {
            None => self.scan.literal.push(found),
            Some(_) => self.scan.non_literal.push(found),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(text: &str) -> TemplateScan {
        let mut scan = TemplateScan::default();
        scan_text(Path::new("t.html"), text, &mut scan).unwrap();
        scan
    }

    #[test]
    fn finds_literal_and_other_calls() {
        let found = scan(
            "{{ static('css/a.css', \"css/b.css\") }}\n{{ mystatic('x.css') }}\n\
             {{ static_url(name) }} {{ static( 'js/a.js' , ) }}\n{{ static() }}\n\
             {% set x = static('js/set.js') %}{% macro m(u=static_url('img/d.png')) %}\
             {{ x.static('no.js') }}{% endmacro %}\n",
        );
        let literal: Vec<_> = found
            .literal
            .iter()
            .map(|c| (c.line, c.files.join(",")))
            .collect();
        assert_eq!(
            literal,
            [
                (1, "css/a.css,css/b.css".to_owned()),
                (3, "js/a.js".to_owned()),
                (5, "js/set.js".to_owned()),
                (5, "img/d.png".to_owned()),
            ]
        );
        let other: Vec<_> = found
            .non_literal
            .iter()
            .map(|c| (c.line, c.text.as_str()))
            .collect();
        assert_eq!(other, [(3, "static_url(name)"), (4, "static()")]);
    }

    #[test]
    fn each_unbuildable_call_names_its_problem() {
        let found = scan(
            "{{ static() }} {{ static(-1.5) }} {{ static('a.js', False) }} \
             {{ static(nan) }} {{ static('a.js', x + 1) }} {{ static(none) }}",
        );
        let problems: Vec<_> = found.non_literal.iter().map(|c| c.problem).collect();
        assert_eq!(
            problems,
            [
                Some(CallProblem::NoArguments),
                Some(CallProblem::NonString),
                Some(CallProblem::NonString),
                Some(CallProblem::NonLiteral),
                Some(CallProblem::NonLiteral),
                Some(CallProblem::NonString),
            ]
        );
        assert!(found.literal.is_empty());
    }

    #[test]
    fn a_template_that_does_not_parse_names_its_line() {
        let mut found = TemplateScan::default();
        let err = scan_text(Path::new("t.html"), "ok\n{{ static( }}", &mut found).unwrap_err();
        assert!(matches!(err, ScanError::Syntax { line: 2, .. }), "{err:?}");
        assert!(
            err.to_string()
                .starts_with("t.html:2: template syntax error: "),
            "{err}"
        );
    }
}
