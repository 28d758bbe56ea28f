//! What a suite hands back: tables, checks, raw numbers and a chart, and
//! how they are printed and written.

use std::fmt::Write as _;
use std::io;
use std::path::Path;

use serde::Serialize;

use crate::plot::Chart;

/// A Markdown table.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Table {
    /// Shown as a heading above the table.
    pub title: String,
    /// Column headings.
    pub headers: Vec<String>,
    /// Cells, already formatted.
    pub rows: Vec<Vec<String>>,
    /// Lines printed under the table.
    pub notes: Vec<String>,
}

impl Table {
    /// An empty table with these headings.
    #[must_use]
    pub fn new(title: impl Into<String>, headers: &[&str]) -> Self {
        Self {
            title: title.into(),
            headers: headers.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.headers.len(), "{}", self.title);
        self.rows.push(cells);
    }

    /// The table as GitHub Markdown, numbers right-aligned.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        if !self.title.is_empty() {
            let _ = writeln!(s, "#### {}\n", self.title);
        }
        let _ = writeln!(s, "| {} |", self.headers.join(" | "));
        let aligns: Vec<&str> = (0..self.headers.len())
            .map(|c| {
                let numeric = !self.rows.is_empty()
                    && self.rows.iter().all(|r| {
                        r[c].chars()
                            .next()
                            .is_some_and(|ch| ch.is_ascii_digit() || matches!(ch, '-' | '+' | '—'))
                    });
                if numeric && c > 0 { "---:" } else { "---" }
            })
            .collect();
        let _ = writeln!(s, "| {} |", aligns.join(" | "));
        for r in &self.rows {
            let _ = writeln!(s, "| {} |", r.join(" | "));
        }
        for n in &self.notes {
            let _ = writeln!(s, "\n{n}");
        }
        s
    }
}

/// Whether a check guards correctness (a miss is a bug) or is a
/// performance target (a miss is a gap to close).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckKind {
    /// A miss means a bug in a policy or in the lab.
    Correctness,
    /// A performance goal.
    Target,
}

/// The outcome of a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Met.
    Pass,
    /// Not met.
    Fail,
    /// Could not be measured yet (the message says why).
    Pending,
}

/// One checked figure.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What is checked.
    pub name: String,
    /// Correctness or target.
    pub kind: CheckKind,
    /// The bound, in words (`≤ 1.0×`).
    pub target: String,
    /// What was measured.
    pub measured: String,
    /// The outcome.
    pub status: Status,
}

impl Check {
    /// A check whose outcome is `ok`.
    pub fn new(
        kind: CheckKind,
        name: impl Into<String>,
        target: impl Into<String>,
        measured: impl Into<String>,
        ok: bool,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            target: target.into(),
            measured: measured.into(),
            status: if ok { Status::Pass } else { Status::Fail },
        }
    }

    /// A check that could not run, with the reason as its measurement.
    pub fn pending(
        kind: CheckKind,
        name: impl Into<String>,
        target: impl Into<String>,
        why: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            kind,
            target: target.into(),
            measured: why.into(),
            status: Status::Pending,
        }
    }

    fn label(&self) -> &'static str {
        match (self.kind, self.status) {
            (CheckKind::Correctness, Status::Pass) => "PASS",
            (CheckKind::Correctness, Status::Fail) => "FAIL",
            (CheckKind::Target, Status::Pass) => "MET",
            (CheckKind::Target, Status::Fail) => "MISSED",
            (_, Status::Pending) => "PENDING",
        }
    }
}

/// Everything one suite measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The suite's name.
    pub suite: String,
    /// Whether it ran in `--quick` mode.
    pub quick: bool,
    /// How the figures were obtained, in a few lines.
    pub method: Vec<String>,
    /// Result tables.
    pub tables: Vec<Table>,
    /// Checks and targets.
    pub checks: Vec<Check>,
    /// Raw numbers, for the JSON file.
    pub data: serde_json::Value,
    /// The suite's chart.
    #[serde(skip)]
    pub chart: Option<Chart>,
}

impl Report {
    /// An empty report for `suite`.
    #[must_use]
    pub fn new(suite: &str, quick: bool) -> Self {
        Self {
            suite: suite.to_owned(),
            quick,
            method: Vec::new(),
            tables: Vec::new(),
            checks: Vec::new(),
            data: serde_json::Value::Null,
            chart: None,
        }
    }

    /// Checks that were measured and missed.
    pub fn failed_checks(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }

    /// The check named `name`, if the suite made one.
    #[must_use]
    pub fn check(&self, name: &str) -> Option<&Check> {
        self.checks.iter().find(|c| c.name == name)
    }

    /// The checks as a Markdown table.
    #[must_use]
    pub fn checks_markdown(&self) -> String {
        let mut t = Table::new("", &["check", "kind", "target", "measured", "result"]);
        for c in &self.checks {
            let kind = match c.kind {
                CheckKind::Correctness => "correctness",
                CheckKind::Target => "target",
            };
            t.row(vec![
                c.name.clone(),
                kind.to_owned(),
                c.target.clone(),
                c.measured.clone(),
                format!("**{}**", c.label()),
            ]);
        }
        t.markdown()
    }

    /// The whole report as Markdown.
    #[must_use]
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "### {}{}\n\n",
            self.suite,
            if self.quick { " (quick)" } else { "" }
        );
        for m in &self.method {
            let _ = writeln!(s, "- {m}");
        }
        if !self.method.is_empty() {
            s.push('\n');
        }
        for t in &self.tables {
            s.push_str(&t.markdown());
            s.push('\n');
        }
        if !self.checks.is_empty() {
            s.push_str("#### Checks\n\n");
            s.push_str(&self.checks_markdown());
        }
        s
    }

    /// Writes `<dir>/<suite>.json` and, if the suite drew one,
    /// `<dir>/<suite>.svg`. Returns the paths written.
    ///
    /// # Errors
    /// If a file cannot be written.
    pub fn write_files(&self, dir: &Path) -> io::Result<Vec<std::path::PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let stem = self.suite.replace('-', "_");
        let json = dir.join(format!("{stem}.json"));
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&json, text + "\n")?;
        let mut out = vec![json];
        if let Some(chart) = &self.chart {
            let svg = dir.join(format!("{stem}.svg"));
            chart
                .write_svg(&svg)
                .map_err(|e| io::Error::other(e.to_string()))?;
            out.push(svg);
        }
        Ok(out)
    }
}

/// `x` with `digits` decimals.
#[must_use]
pub fn f(x: f64, digits: usize) -> String {
    format!("{x:.digits$}")
}

/// A ratio as `0.42×`.
#[must_use]
pub fn ratio(x: f64) -> String {
    if x >= 10.0 {
        format!("{x:.1}×")
    } else {
        format!("{x:.2}×")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_aligns_numeric_columns_right() {
        let mut t = Table::new("t", &["name", "value"]);
        t.row(vec!["a".into(), "1.5".into()]);
        t.row(vec!["b".into(), "—".into()]);
        let md = t.markdown();
        assert!(md.contains("| --- | ---: |"), "{md}");
        assert!(md.contains("| b | — |"));
    }

    #[test]
    fn check_labels_depend_on_kind() {
        let c = Check::new(CheckKind::Target, "x", "≤ 1", "2", false);
        assert_eq!(c.label(), "MISSED");
        let c = Check::new(CheckKind::Correctness, "x", "≤ 1", "2", false);
        assert_eq!(c.label(), "FAIL");
    }
}
