//! `steward deploy`, `steward deployments ...` and `steward predictions list`: what servers route, and the
//! traffic they captured.

use clap::{Args, Subcommand};
use steward_service::Steward;
use steward_service::deploy::DeployRequest;
use steward_store::{
    Canary, Deployment, DeploymentTarget, PageRequest, PredictionQuery, PredictionRecord,
    PredictionRole,
};

use crate::output::*;

#[derive(Args)]
pub(crate) struct DeployArgs {
    /// The model to deploy.
    model: String,
    /// Follow this alias: when it moves, every server swaps to its new version (default: production).
    #[arg(long, conflicts_with = "version")]
    alias: Option<String>,
    /// Pin this version instead of following an alias.
    #[arg(long)]
    version: Option<i64>,
    /// Send a share of the traffic (--percent) to this version.
    #[arg(long, requires = "percent")]
    canary: Option<i64>,
    /// The canary's share of the traffic, 0-100. Requests with the same x-steward-routing-key header always
    /// reach the same arm.
    #[arg(long, requires = "canary")]
    percent: Option<f64>,
    /// Mirror every request to this version; its answers are recorded, never returned.
    #[arg(long)]
    shadow: Option<i64>,
    /// The deployment's name, which clients route by (default: the model's name).
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    reason: Option<String>,
}

#[derive(Subcommand)]
pub(crate) enum DeploymentsCommand {
    /// Every deployment with the versions it routes to now.
    List {
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
    Show {
        name: String,
    },
    /// Stop routing NAME (its model and versions stay).
    Delete {
        name: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

#[derive(Subcommand)]
pub(crate) enum PredictionsCommand {
    /// Captured predictions, newest first.
    List {
        #[arg(long)]
        model: Option<String>,
        #[arg(long)]
        version: Option<i64>,
        #[arg(long)]
        deployment: Option<String>,
        /// primary, canary or shadow.
        #[arg(long, value_parser = parse_role)]
        role: Option<PredictionRole>,
        /// The x-steward-request-id of one answer.
        #[arg(long)]
        request_id: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[arg(long)]
        page_token: Option<String>,
    },
}

fn parse_role(text: &str) -> Result<PredictionRole, String> {
    PredictionRole::parse(text)
        .ok_or_else(|| format!("unknown role '{text}': use primary, canary or shadow"))
}

pub(crate) async fn deploy(steward: &Steward, args: DeployArgs, json: bool) -> anyhow::Result<()> {
    let primary = match (args.alias, args.version) {
        (_, Some(version)) => DeploymentTarget::Version(version),
        (Some(alias), None) => DeploymentTarget::Alias(alias),
        (None, None) => DeploymentTarget::Alias("production".into()),
    };
    let canary = match (args.canary, args.percent) {
        (Some(version), Some(percent)) => Some(Canary { version, percent }),
        _ => None,
    };
    let deployed = steward
        .deploy(&DeployRequest {
            name: args.name,
            model: args.model,
            primary,
            canary,
            shadow: args.shadow,
            reason: args.reason,
        })
        .await?;
    if json {
        return print_json(&deployed);
    }
    println!(
        "deployed {} (revision {}); running servers switch within a second",
        deployed.describe(),
        deployed.deployment.revision
    );
    Ok(())
}

pub(crate) async fn deployments(
    steward: &Steward,
    command: DeploymentsCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        DeploymentsCommand::List { limit, page_token } => {
            let page = steward
                .deployments(&PageRequest {
                    limit: Some(limit),
                    page_token,
                })
                .await?;
            let resolved = page.items;
            if json {
                return print_json(&serde_json::json!({
                    "deployments": resolved,
                    "next_page_token": page.next_page_token,
                }));
            }
            let mut t = table(&[
                "name", "model", "primary", "version", "canary", "shadow", "revision", "updated",
            ]);
            for r in &resolved {
                let d = &r.deployment;
                t.add_row(vec![
                    d.name.clone(),
                    d.model.clone(),
                    target_text(d),
                    r.primary_version.version.to_string(),
                    d.canary
                        .as_ref()
                        .map(|c| format!("{} at {}%", c.version, c.percent))
                        .unwrap_or_default(),
                    d.shadow.map(|v| v.to_string()).unwrap_or_default(),
                    d.revision.to_string(),
                    time(d.updated_at),
                ]);
            }
            print_table(t, "no deployments: create one with `steward deploy MODEL`");
            next_page_hint(&page.next_page_token);
        }
        DeploymentsCommand::Show { name } => {
            let resolved = steward.deployment(&name).await?;
            if json {
                return print_json(&resolved);
            }
            let d = &resolved.deployment;
            key_values(&[
                ("name", d.name.clone()),
                ("model", d.model.clone()),
                ("primary", target_text(d)),
                (
                    "primary version",
                    resolved.primary_version.version.to_string(),
                ),
                (
                    "canary",
                    d.canary
                        .as_ref()
                        .map(|c| format!("version {} at {}%", c.version, c.percent))
                        .unwrap_or_else(|| "-".into()),
                ),
                (
                    "shadow",
                    d.shadow
                        .map(|v| format!("version {v}"))
                        .unwrap_or_else(|| "-".into()),
                ),
                ("revision", d.revision.to_string()),
                ("created", time(d.created_at)),
                (
                    "updated",
                    format!("{} by {}", time(d.updated_at), d.updated_by),
                ),
            ]);
        }
        DeploymentsCommand::Delete { name, reason } => {
            let previous = steward.undeploy(&name, reason.as_deref()).await?;
            if json {
                return print_json(&previous);
            }
            println!(
                "deleted deployment {name}; requests for '{name}' now reach {}",
                if previous.name == previous.model {
                    format!("{}@production, else its latest version", previous.model)
                } else {
                    "nothing (404)".to_string()
                }
            );
        }
    }
    Ok(())
}

fn target_text(d: &Deployment) -> String {
    match &d.primary {
        DeploymentTarget::Alias(alias) => format!("@{alias}"),
        DeploymentTarget::Version(v) => format!("/{v} (pinned)"),
    }
}

pub(crate) async fn predictions(
    steward: &Steward,
    command: PredictionsCommand,
    json: bool,
) -> anyhow::Result<()> {
    let PredictionsCommand::List {
        model,
        version,
        deployment,
        role,
        request_id,
        limit,
        page_token,
    } = command;
    let page = steward
        .store
        .list_predictions(
            &PredictionQuery {
                model,
                version,
                deployment,
                role,
                request_id,
            },
            &PageRequest {
                limit: Some(limit),
                page_token,
            },
        )
        .await?;
    if json {
        return print_json(&page);
    }
    print_table(
        predictions_table(&page.items),
        "no captured predictions: `steward serve` records them as it answers",
    );
    next_page_hint(&page.next_page_token);
    Ok(())
}

fn predictions_table(items: &[PredictionRecord]) -> comfy_table::Table {
    let mut t = table(&[
        "time",
        "request id",
        "deployment",
        "version",
        "role",
        "rows",
        "µs",
        "answer",
    ]);
    for record in items {
        let p = record;
        let mut answer = p.outputs["predictions"].to_string();
        if answer.len() > 40 {
            answer.truncate(answer.floor_char_boundary(37));
            answer.push_str("...");
        }
        t.add_row(vec![
            time(p.at),
            p.request_id.clone(),
            p.deployment.clone().unwrap_or_default(),
            format!("{}/{}", p.model, p.version),
            p.role.as_str().to_string(),
            p.rows.to_string(),
            p.latency_micros.to_string(),
            answer,
        ]);
    }
    t
}
