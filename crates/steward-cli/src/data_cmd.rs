//! `steward data ...`: register, list, show, profile and validate datasets.

use std::path::PathBuf;

use anyhow::bail;
use clap::{Args, Subcommand};
use steward_ml::dataset::{ColumnType, Profile, Role, RoleOverrides, Schema};
use steward_ml::quality::{QualityReport, Severity};
use steward_service::Steward;
use steward_service::data::load_csv;

use crate::ListArgs;
use crate::output::*;

#[derive(Args, Clone, Default)]
pub struct RoleArgs {
    /// The column to predict.
    #[arg(long)]
    pub target: Option<String>,
    /// Row identifiers (not features); repeatable.
    #[arg(long)]
    pub id: Vec<String>,
    /// Time columns (not features); repeatable.
    #[arg(long)]
    pub time: Vec<String>,
    /// Columns to leave out; repeatable.
    #[arg(long)]
    pub ignore: Vec<String>,
}

impl RoleArgs {
    pub fn overrides(&self) -> RoleOverrides {
        RoleOverrides {
            target: self.target.clone(),
            id: self.id.clone(),
            time: self.time.clone(),
            ignore: self.ignore.clone(),
        }
    }
}

#[derive(Subcommand)]
pub enum DataCommand {
    /// Register a CSV file as a new dataset version (versioned by content hash).
    Register {
        file: PathBuf,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        roles: RoleArgs,
    },
    List(ListArgs),
    /// NAME or NAME/VERSION: schema, roles and profile.
    Show {
        dataset: String,
    },
    /// Profile a CSV file (or a registered dataset): types, missing values, ranges, quantiles, categories.
    Profile {
        /// A CSV file, or NAME[/VERSION] of a registered dataset.
        source: String,
        #[command(flatten)]
        roles: RoleArgs,
    },
    /// Check a CSV file's quality, alone or against a dataset or a model's training data.
    Validate {
        file: PathBuf,
        /// DATASET[/VERSION], MODEL@ALIAS or MODEL/VERSION.
        #[arg(long)]
        against: Option<String>,
        /// Exit with status 1 when a check of this severity (or worse) fails: info, warning or error.
        #[arg(long, default_value = "error", value_parser = parse_severity)]
        fail_on: Severity,
        #[command(flatten)]
        roles: RoleArgs,
    },
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text).ok_or_else(|| format!("'{text}' is not one of info, warning, error"))
}

pub async fn run(steward: &Steward, command: DataCommand, json: bool) -> anyhow::Result<()> {
    match command {
        DataCommand::Register { file, name, roles } => {
            let registered = steward
                .register_dataset(&file, &name, &roles.overrides())
                .await?;
            if json {
                return print_json(&registered);
            }
            let d = &registered.dataset;
            println!(
                "dataset {}/{}: {} rows, {} columns, sha256 {}",
                d.name,
                d.version,
                d.row_count.unwrap_or_default(),
                registered.metadata.schema.columns.len(),
                d.content_hash
            );
            print_schema(&registered.metadata.schema, &registered.metadata.profile);
        }
        DataCommand::List(list) => {
            let page = steward
                .store
                .list_datasets(&list.filter()?, &list.page())
                .await?;
            if json {
                return print_json(&page);
            }
            let mut t = table(&["name", "version", "rows", "sha256", "registered"]);
            for d in &page.items {
                t.add_row(vec![
                    d.name.clone(),
                    d.version.to_string(),
                    d.row_count.map(|r| r.to_string()).unwrap_or_default(),
                    d.content_hash.chars().take(12).collect(),
                    time(d.created_at),
                ]);
            }
            print_table(
                t,
                "no datasets (register one with `steward data register FILE --name NAME`)",
            );
            next_page_hint(&page.next_page_token);
        }
        DataCommand::Show { dataset } => {
            let registered = steward.get_dataset(&dataset).await?;
            if json {
                return print_json(&registered);
            }
            let d = &registered.dataset;
            key_values(&[
                ("dataset", format!("{}/{}", d.name, d.version)),
                (
                    "rows",
                    d.row_count.map(|r| r.to_string()).unwrap_or_default(),
                ),
                ("sha256", d.content_hash.clone()),
                (
                    "file",
                    registered.metadata.file_name.clone().unwrap_or_default(),
                ),
                ("registered", time(d.created_at)),
            ]);
            print_schema(&registered.metadata.schema, &registered.metadata.profile);
        }
        DataCommand::Profile { source, roles } => {
            let path = PathBuf::from(&source);
            let (schema, profile) = if path.is_file() {
                let data = load_csv(&path, &roles.overrides()).await?;
                (data.schema.clone(), data.profile())
            } else {
                let registered = steward.get_dataset(&source).await?;
                (registered.metadata.schema, registered.metadata.profile)
            };
            if json {
                return print_json(&serde_json::json!({ "schema": schema, "profile": profile }));
            }
            println!("{} rows", profile.n_rows);
            print_schema(&schema, &profile);
            print_distributions(&schema, &profile);
        }
        DataCommand::Validate {
            file,
            against,
            fail_on,
            roles,
        } => {
            let validation = steward
                .validate(&file, against.as_deref(), &roles.overrides())
                .await?;
            if json {
                print_json(&validation)?;
            } else {
                println!(
                    "{}: {} rows{}",
                    validation.file.display(),
                    validation.rows,
                    validation
                        .against
                        .as_deref()
                        .map(|a| format!(", against {a}"))
                        .unwrap_or_default()
                );
                print_quality(&validation.report);
            }
            let failures = validation.report.failures(fail_on);
            if !failures.is_empty() {
                bail!(
                    "{} check(s) failed at severity {fail_on} or worse",
                    failures.len()
                );
            }
        }
    }
    Ok(())
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Feature => "feature",
        Role::Target => "target",
        Role::Id => "id",
        Role::Time => "time",
        Role::Ignore => "ignore",
    }
}

fn type_name(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Numeric => "numeric",
        ColumnType::Categorical => "categorical",
        ColumnType::Boolean => "boolean",
        ColumnType::Identifier => "identifier",
    }
}

pub fn print_schema(schema: &Schema, profile: &Profile) {
    let mut t = table(&[
        "column",
        "type",
        "role",
        "count",
        "missing",
        "min",
        "median",
        "max",
        "mean",
        "std",
        "top values",
    ]);
    for column in &schema.columns {
        let p = profile.column(&column.name);
        let numeric = p.and_then(|p| p.numeric.as_ref());
        let number = |f: &dyn Fn(&steward_ml::dataset::NumericProfile) -> f64| {
            numeric.map(|n| format_number(f(n))).unwrap_or_default()
        };
        let top = p
            .and_then(|p| p.categorical.as_ref())
            .map(|c| {
                let shown: Vec<String> = c
                    .top
                    .iter()
                    .take(3)
                    .map(|(value, count)| format!("{value} ({count})"))
                    .collect();
                let more = c.distinct.saturating_sub(3);
                if more > 0 {
                    format!("{}, +{more} more", shown.join(", "))
                } else {
                    shown.join(", ")
                }
            })
            .unwrap_or_default();
        t.add_row(vec![
            column.name.clone(),
            type_name(column.column_type).into(),
            role_name(column.role).into(),
            p.map(|p| p.count.to_string()).unwrap_or_default(),
            p.map(|p| p.missing.to_string()).unwrap_or_default(),
            number(&|n| n.min),
            number(&|n| n.quantiles.get("p50").copied().unwrap_or(f64::NAN)),
            number(&|n| n.max),
            number(&|n| n.mean),
            number(&|n| n.std),
            top,
        ]);
    }
    println!("{t}");
}

/// The quantiles and histogram of every numeric column: what `data profile` adds to the schema table.
fn print_distributions(schema: &Schema, profile: &Profile) {
    const QUANTILES: [&str; 7] = ["p01", "p05", "p25", "p50", "p75", "p95", "p99"];
    let mut header = vec!["column"];
    header.extend(QUANTILES);
    header.push("histogram (min to max)");
    let mut t = table(&header);
    let mut rows = 0;
    for column in &schema.columns {
        let Some(numeric) = profile
            .column(&column.name)
            .and_then(|p| p.numeric.as_ref())
        else {
            continue;
        };
        let mut row = vec![column.name.clone()];
        row.extend(QUANTILES.iter().map(|q| {
            numeric
                .quantiles
                .get(*q)
                .map(|&v| format_number(v))
                .unwrap_or_default()
        }));
        row.push(sparkline(&numeric.histogram.counts));
        t.add_row(row);
        rows += 1;
    }
    if rows > 0 {
        println!("{t}");
    }
}

/// Counts as a row of block characters, the tallest bin full height; an empty bin is a blank, so gaps show.
fn sparkline(counts: &[u64]) -> String {
    const LEVELS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0);
    counts
        .iter()
        .map(|&count| {
            if count == 0 {
                ' '
            } else {
                // A block of height k/8 for a bin holding up to k/8 of the tallest; never below the lowest.
                let eighths = (count * LEVELS.len() as u64).div_ceil(max) as usize;
                LEVELS[eighths.clamp(1, LEVELS.len()) - 1]
            }
        })
        .collect()
}

pub fn print_quality(report: &QualityReport) {
    let failed: Vec<_> = report.checks.iter().filter(|c| !c.passed).collect();
    let passed = report.checks.len() - failed.len();
    if failed.is_empty() {
        println!("all {passed} checks passed");
        return;
    }
    let mut t = table(&["severity", "check", "column", "finding"]);
    let mut sorted = failed.clone();
    sorted.sort_by_key(|check| std::cmp::Reverse(check.severity));
    for check in sorted {
        t.add_row(vec![
            check.severity.to_string(),
            check.check.clone(),
            check.column.clone().unwrap_or_default(),
            check.message.clone(),
        ]);
    }
    println!("{t}");
    println!("{} finding(s), {passed} check(s) passed", failed.len());
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn a_sparkline_scales_to_the_tallest_bin_and_leaves_empty_bins_blank() {
        assert_eq!(sparkline(&[1, 0, 8, 4]), "▁ █▄");
        assert_eq!(sparkline(&[3, 3]), "██");
        assert_eq!(sparkline(&[]), "");
        assert_eq!(sparkline(&[0, 0]), "  ");
    }
}
