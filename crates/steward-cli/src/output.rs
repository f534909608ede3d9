//! How results reach the terminal: human tables by default, JSON with `--json`.

use std::collections::HashMap;

use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use serde::Serialize;
use steward_service::Steward;
use steward_store::{
    AliasChange, Event, Experiment, Filter, Millis, Model, ModelVersion, PageRequest, Run, Tags,
};

pub fn print_json(value: &impl Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub fn time(millis: Millis) -> String {
    chrono::DateTime::from_timestamp_millis(millis)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| millis.to_string())
}

pub fn optional_time(millis: Option<Millis>) -> String {
    millis.map(time).unwrap_or_default()
}

pub fn pairs(tags: &Tags) -> String {
    tags.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn numbers<'a>(values: impl IntoIterator<Item = (&'a String, &'a f64)>) -> String {
    values
        .into_iter()
        .map(|(k, v)| format!("{k}={}", format_number(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Metrics shown first in list tables, when present; `show` prints them all.
const HEADLINE_METRICS: &[&str] = &["accuracy", "f1_macro", "roc_auc", "r2", "rmse", "mae"];
/// At most this many metrics per row of a list table; the rest are counted.
const LIST_METRICS: usize = 4;

/// A list table's metrics cell: the headline metrics first, at most [`LIST_METRICS`], and how many more there are.
pub fn headline_numbers<'a>(values: impl IntoIterator<Item = (&'a String, &'a f64)>) -> String {
    let mut values: Vec<(&String, &f64)> = values.into_iter().collect();
    values.sort_by_key(|(k, _)| {
        HEADLINE_METRICS
            .iter()
            .position(|h| h == k)
            .unwrap_or(HEADLINE_METRICS.len())
    });
    let more = values.len().saturating_sub(LIST_METRICS);
    let mut text = numbers(values.into_iter().take(LIST_METRICS));
    if more > 0 {
        text.push_str(&format!(" (+{more} more)"));
    }
    text
}

pub fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

pub fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_header(header.to_vec());
    table
}

pub fn print_table(table: Table, empty_hint: &str) {
    if table.row_count() == 0 {
        println!("{empty_hint}");
    } else {
        println!("{table}");
    }
}

pub fn next_page_hint(token: &Option<String>) {
    if let Some(token) = token {
        println!("more results: add --page-token {token}");
    }
}

pub fn experiments_table(items: &[Experiment]) -> Table {
    let mut t = table(&["id", "name", "created", "description"]);
    for e in items {
        t.add_row(vec![
            e.id.to_string(),
            e.name.clone(),
            time(e.created_at),
            e.description.clone().unwrap_or_default(),
        ]);
    }
    t
}

/// Every experiment's name by id, for tables of runs (which hold the id); paged through, so none is missed.
pub async fn experiment_names(steward: &Steward) -> anyhow::Result<HashMap<i64, String>> {
    let mut names = HashMap::new();
    let mut page = PageRequest {
        limit: Some(PageRequest::MAX_LIMIT),
        page_token: None,
    };
    loop {
        let experiments = steward
            .store
            .list_experiments(&Filter::default(), &page)
            .await?;
        names.extend(experiments.items.into_iter().map(|e| (e.id, e.name)));
        match experiments.next_page_token {
            Some(token) => page.page_token = Some(token),
            None => return Ok(names),
        }
    }
}

/// Runs with their experiment's name (its id when `experiments` lacks it).
pub fn runs_table(items: &[Run], experiments: &HashMap<i64, String>) -> Table {
    let mut t = table(&[
        "run id",
        "name",
        "experiment",
        "status",
        "started",
        "metrics",
    ]);
    for r in items {
        t.add_row(vec![
            r.id.clone(),
            r.name.clone(),
            experiments
                .get(&r.experiment_id)
                .cloned()
                .unwrap_or_else(|| r.experiment_id.to_string()),
            r.status.to_string(),
            time(r.start_time),
            headline_numbers(&r.metrics),
        ]);
    }
    t
}

pub fn models_table(items: &[Model]) -> Table {
    let mut t = table(&["name", "latest", "aliases", "tags", "updated"]);
    for m in items {
        t.add_row(vec![
            m.name.clone(),
            m.latest_version.map(|v| v.to_string()).unwrap_or_default(),
            m.aliases
                .iter()
                .map(|(a, v)| format!("{a}→{v}"))
                .collect::<Vec<_>>()
                .join(", "),
            pairs(&m.tags),
            time(m.updated_at),
        ]);
    }
    t
}

pub fn versions_table(items: &[ModelVersion]) -> Table {
    let mut t = table(&[
        "version",
        "created",
        "hash",
        "metrics",
        "tags",
        "description",
    ]);
    for v in items {
        t.add_row(vec![
            v.version.to_string(),
            time(v.created_at),
            v.artifact_hash.chars().take(12).collect(),
            headline_numbers(&v.metrics),
            pairs(&v.tags),
            v.description.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub fn alias_history_table(items: &[AliasChange]) -> Table {
    let mut t = table(&["when", "alias", "from", "to", "actor", "reason"]);
    for c in items {
        let show = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
        t.add_row(vec![
            time(c.at),
            c.alias.clone(),
            show(c.previous_version),
            c.version
                .map(|v| v.to_string())
                .unwrap_or_else(|| "(deleted)".into()),
            c.actor.clone(),
            c.reason.clone().unwrap_or_default(),
        ]);
    }
    t
}

pub fn event_line(e: &Event) -> String {
    let reason = e
        .reason
        .as_deref()
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    format!(
        "#{:<6} {}  {:<26} {:<28} by {}{}",
        e.id,
        time(e.at),
        e.kind,
        e.subject,
        e.actor,
        reason
    )
}

pub fn key_values(rows: &[(&str, String)]) {
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (key, value) in rows {
        println!("{key:<width$}  {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short_but_exact_enough() {
        assert_eq!(format_number(3.0), "3");
        assert_eq!(format_number(0.9666666), "0.966667");
        assert_eq!(format_number(0.5), "0.5");
    }
}
