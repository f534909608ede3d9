//! `steward`: the command-line face of Steward. Parses arguments, calls the service, prints tables or JSON.
//! Exit codes: 0 success, 1 an error (the message says what to do), 2 a usage error (from clap).

mod data_cmd;
mod demo;
mod deploy_cmd;
mod output;
mod train_cmd;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};
use steward_service::{Config, RegisterRequest, ServiceError, Steward, VersionRef, default_actor};
use steward_store::{Audit, DatasetRef, Filter, MetricValues, PageRequest, StoreError, Tags};

use output::*;

#[derive(Parser)]
#[command(
    name = "steward",
    version,
    about = "Manage machine-learning models through their life cycle",
    after_help = "Data lives in STEWARD_HOME (default ./.steward): steward.db (SQLite) and artifacts/.\n\
                  Names of models, experiments and datasets: letters, digits, '_', '.', '-' (start with a letter or digit, at most 128).\n\
                  Aliases: a-z, 0-9, '_', '-' (start with a letter, at most 64)."
)]
struct Cli {
    /// Steward's data folder.
    #[arg(long, global = true, env = "STEWARD_HOME", default_value = ".steward")]
    home: PathBuf,
    /// Metadata store URI (default: sqlite://$STEWARD_HOME/steward.db; or postgres://user:pass@host/db).
    #[arg(long, global = true, env = "STEWARD_STORE")]
    store: Option<String>,
    /// Artifact store (default: $STEWARD_HOME/artifacts).
    #[arg(long, global = true, env = "STEWARD_ARTIFACTS")]
    artifacts: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Experiments group runs.
    #[command(subcommand)]
    Experiments(ExperimentsCommand),
    /// Runs: the record of one training (params, metrics, tags, inputs).
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Registered models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Immutable, numbered versions of a model.
    #[command(subcommand)]
    Versions(VersionsCommand),
    /// Named pointers such as `production` to a model version.
    #[command(subcommand)]
    Alias(AliasCommand),
    /// The append-only event log (audit trail and change feed).
    Events(EventsArgs),
    /// Datasets: register CSV files, profile them, validate new data.
    #[command(subcommand)]
    Data(data_cmd::DataCommand),
    /// Train a model on a CSV file, record the run, optionally register the model.
    Train(train_cmd::TrainArgs),
    /// Evaluate a model version on a CSV file that has the target column.
    Evaluate(train_cmd::EvaluateArgs),
    /// Predict every row of a CSV file with a model version (ONNX or trained by Steward).
    Predict(train_cmd::PredictArgs),
    /// Check that every version's artifacts exist and match their hashes.
    Doctor,
    /// A guided tour of the registry on the embedded store.
    Demo,
    /// Serve predictions over HTTP: the Open Inference Protocol (/v2) and MLflow-style /invocations.
    Serve(ServeArgs),
    /// Route a model under a name: follow an alias (or pin a version), with an optional canary and shadow.
    Deploy(deploy_cmd::DeployArgs),
    /// What servers route: list, show, delete.
    #[command(subcommand)]
    Deployments(deploy_cmd::DeploymentsCommand),
    /// Predictions captured by `steward serve` (inputs, answers, latency).
    #[command(subcommand)]
    Predictions(deploy_cmd::PredictionsCommand),
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on; port 0 picks a free one (the address is printed). Binds loopback unless told.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// The model /invocations serves when a request names none (NAME, NAME@ALIAS or NAME/VERSION).
    #[arg(long)]
    model: Option<String>,
    /// A request body slower than this to arrive is answered 408.
    #[arg(long, default_value_t = 30_000)]
    body_timeout_ms: u64,
    /// A connection whose request head (line and headers) is slower than this to arrive is closed; also how
    /// long an idle keep-alive connection stays open.
    #[arg(long, default_value_t = 10_000)]
    header_timeout_ms: u64,
    /// Micro-batching: gather concurrent requests of fewer rows than this into one prediction (off when unset).
    #[arg(long)]
    batch_max_rows: Option<usize>,
    /// Micro-batching: how long the first request of a batch waits for others, in microseconds.
    #[arg(long, default_value_t = 200, requires = "batch_max_rows")]
    batch_wait_us: u64,
    /// Do not record predictions (inputs, answers, latency) in the store.
    #[arg(long)]
    no_capture: bool,
    /// Keep at most this many captured predictions (the newest); 0 keeps all.
    #[arg(long, default_value_t = steward_server::DEFAULT_CAPTURE_KEEP)]
    capture_keep: u64,
    /// Drop captured predictions older than this many hours.
    #[arg(long)]
    capture_max_age_hours: Option<f64>,
    /// How often the captured predictions are pruned to the limits above, in seconds.
    #[arg(long, default_value_t = 60.0)]
    capture_prune_seconds: f64,
    /// Captured predictions waiting to be written beyond this many are dropped (and counted in /metrics).
    #[arg(long, default_value_t = steward_server::DEFAULT_CAPTURE_QUEUE)]
    capture_queue: usize,
}

#[derive(Args)]
pub(crate) struct ListArgs {
    /// Filter, e.g. "name LIKE 'iris%'", "tags.team = 'vision'", "metrics.accuracy > 0.9" (join with AND).
    #[arg(long)]
    filter: Option<String>,
    /// Results per page.
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// The token printed after the previous page.
    #[arg(long)]
    page_token: Option<String>,
}

impl ListArgs {
    pub(crate) fn filter(&self) -> anyhow::Result<Filter> {
        Ok(Filter::parse(self.filter.as_deref().unwrap_or(""))?)
    }

    pub(crate) fn page(&self) -> PageRequest {
        PageRequest {
            limit: Some(self.limit),
            page_token: self.page_token.clone(),
        }
    }
}

#[derive(Subcommand)]
enum ExperimentsCommand {
    List(ListArgs),
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
    },
}

#[derive(Subcommand)]
enum RunsCommand {
    /// Newest first.
    List {
        /// Only runs of these experiments (repeatable).
        #[arg(long)]
        experiment: Vec<String>,
        #[command(flatten)]
        list: ListArgs,
    },
    Show {
        run_id: String,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    List(ListArgs),
    Show {
        name: String,
    },
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// key=value, repeatable.
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
    },
    /// Delete a model and its versions' metadata. Refused while aliases point at it, unless --force.
    Delete {
        name: String,
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum VersionsCommand {
    /// Register a new version from an .onnx file or a package folder (creates the model if needed).
    Register {
        model: String,
        /// An .onnx file, or a folder holding one (plus any other files, e.g. signature.json), or an MLflow model
        /// folder with an onnx flavor.
        #[arg(required_unless_present = "onnx")]
        path: Option<PathBuf>,
        /// The same as PATH, for an .onnx file.
        #[arg(long, conflicts_with = "path")]
        onnx: Option<PathBuf>,
        #[arg(long)]
        description: Option<String>,
        /// key=value, repeatable.
        #[arg(long = "tag", value_parser = parse_pair)]
        tags: Vec<(String, String)>,
        /// name=number, repeatable.
        #[arg(long = "metric", value_parser = parse_pair)]
        metrics: Vec<(String, String)>,
        /// The version this one was derived from.
        #[arg(long)]
        parent: Option<i64>,
        /// The run that produced it.
        #[arg(long)]
        run: Option<String>,
        /// The training dataset, NAME/VERSION.
        #[arg(long)]
        dataset: Option<String>,
    },
    List {
        model: String,
        #[command(flatten)]
        list: ListArgs,
    },
    /// MODEL/VERSION, MODEL@ALIAS or MODEL (latest).
    Show { reference: String },
}

#[derive(Subcommand)]
enum AliasCommand {
    /// Point ALIAS at VERSION (creates or moves it; the move is recorded).
    Set {
        model: String,
        alias: String,
        version: i64,
        #[arg(long)]
        reason: Option<String>,
    },
    Delete {
        model: String,
        alias: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Every move of the model's aliases (or of one alias), oldest first.
    History {
        model: String,
        alias: Option<String>,
    },
}

#[derive(Args)]
struct EventsArgs {
    /// Only events with a larger id.
    #[arg(long, default_value_t = 0)]
    after: i64,
    #[arg(long, default_value_t = 100)]
    limit: u32,
    /// Keep printing new events as they happen (Ctrl-C to stop).
    #[arg(long)]
    follow: bool,
}

pub(crate) fn parse_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(format!("expected key=value, got '{text}'")),
    }
}

fn tags_from(pairs: &[(String, String)]) -> Tags {
    pairs.iter().cloned().collect()
}

fn metrics_from(pairs: &[(String, String)]) -> anyhow::Result<MetricValues> {
    pairs
        .iter()
        .map(|(key, value)| {
            let number: f64 = value
                .parse()
                .with_context(|| format!("--metric {key}={value}: '{value}' is not a number"))?;
            Ok((key.clone(), number))
        })
        .collect()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    // The server answers many connections at once: a worker per core. Every other command is one sequence of
    // awaits, for which one thread is enough and starts faster.
    let runtime = if matches!(cli.command, Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            report_error(&error, json);
            ExitCode::FAILURE
        }
    }
}

fn report_error(error: &anyhow::Error, json: bool) {
    let code = error
        .chain()
        .find_map(|cause| {
            cause
                .downcast_ref::<ServiceError>()
                .map(ServiceError::code)
                .or_else(|| cause.downcast_ref::<StoreError>().map(StoreError::code))
        })
        .unwrap_or("error");
    let message = error
        .chain()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(": ");
    if json {
        let body = serde_json::json!({ "error": { "code": code, "message": message } });
        eprintln!("{body}");
    } else {
        eprintln!("error: {message}");
    }
}

fn config(cli: &Cli) -> Config {
    Config {
        home: cli.home.clone(),
        store_uri: cli.store.clone(),
        artifacts_uri: cli.artifacts.clone(),
        actor: default_actor(),
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = config(&cli);
    if let Command::Demo = cli.command {
        return demo::run(&config, cli.json).await;
    }
    let steward = Steward::open(&config).await?;
    let json = cli.json;
    match cli.command {
        Command::Experiments(command) => experiments(&steward, command, json).await,
        Command::Runs(command) => runs(&steward, command, json).await,
        Command::Models(command) => models(&steward, command, json).await,
        Command::Versions(command) => versions(&steward, command, json).await,
        Command::Alias(command) => alias(&steward, command, json).await,
        Command::Events(args) => events(&steward, args, json).await,
        Command::Data(command) => data_cmd::run(&steward, command, json).await,
        Command::Train(args) => train_cmd::train(&steward, args, json).await,
        Command::Evaluate(args) => train_cmd::evaluate(&steward, args, json).await,
        Command::Predict(args) => train_cmd::predict(&steward, args, json).await,
        Command::Doctor => doctor(&steward, json).await,
        Command::Serve(args) => serve(steward, args, json).await,
        Command::Deploy(args) => deploy_cmd::deploy(&steward, args, json).await,
        Command::Deployments(command) => deploy_cmd::deployments(&steward, command, json).await,
        Command::Predictions(command) => deploy_cmd::predictions(&steward, command, json).await,
        Command::Demo => unreachable!("handled above"),
    }
}

async fn serve(steward: Steward, args: ServeArgs, json: bool) -> anyhow::Result<()> {
    // Structured logs on stderr: STEWARD_LOG=debug shows every request, info (the default) loads and swaps.
    let level = match std::env::var("STEWARD_LOG").as_deref() {
        Ok("debug") => tracing_subscriber::filter::LevelFilter::DEBUG,
        Ok("warn") => tracing_subscriber::filter::LevelFilter::WARN,
        Ok("error") => tracing_subscriber::filter::LevelFilter::ERROR,
        Ok("off") => tracing_subscriber::filter::LevelFilter::OFF,
        _ => tracing_subscriber::filter::LevelFilter::INFO,
    };
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
    let listener = tokio::net::TcpListener::bind(&args.addr)
        .await
        .with_context(|| format!("cannot listen on {}; pick another --addr", args.addr))?;
    let address = listener.local_addr().context("reading the bound address")?;
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: listening on {address}, beyond this machine; Steward has no authentication yet, so keep it behind a trusted network"
        );
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"listening": format!("http://{address}")})
        );
    } else {
        println!("listening on http://{address}");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let state = steward_server::AppState::new(
        std::sync::Arc::new(steward),
        steward_server::ServerOptions {
            default_model: args.model,
            body_timeout: std::time::Duration::from_millis(args.body_timeout_ms),
            header_timeout: std::time::Duration::from_millis(args.header_timeout_ms),
            capture_queue: (!args.no_capture).then_some(args.capture_queue),
            retention: steward_server::Retention {
                keep: (args.capture_keep > 0).then_some(args.capture_keep),
                max_age: args
                    .capture_max_age_hours
                    .filter(|h| h.is_finite() && *h > 0.0)
                    .map(|h| std::time::Duration::from_secs_f64(h * 3600.0)),
                every: std::time::Duration::from_secs_f64(
                    args.capture_prune_seconds.clamp(0.1, 86_400.0),
                ),
            },
            batching: args
                .batch_max_rows
                .map(|max_rows| steward_server::BatchConfig {
                    max_rows,
                    max_wait: std::time::Duration::from_micros(args.batch_wait_us),
                }),
        },
    );
    let shutdown = async {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = async {
                match terminate.as_mut() {
                    Some(signal) => { signal.recv().await; }
                    None => std::future::pending::<()>().await,
                }
            } => {}
        }
    };
    steward_server::serve(state, listener, shutdown)
        .await
        .context("serving")?;
    Ok(())
}

async fn experiments(
    steward: &Steward,
    command: ExperimentsCommand,
    json: bool,
) -> anyhow::Result<()> {
    match command {
        ExperimentsCommand::List(list) => {
            let page = steward
                .store
                .list_experiments(&list.filter()?, &list.page())
                .await?;
            if json {
                return print_json(&page);
            }
            print_table(
                experiments_table(&page.items),
                "no experiments (create one with `steward experiments create NAME`)",
            );
            next_page_hint(&page.next_page_token);
        }
        ExperimentsCommand::Create { name, description } => {
            let experiment = steward
                .store
                .create_experiment(&name, description.as_deref(), &steward.audit())
                .await?;
            if json {
                return print_json(&experiment);
            }
            println!(
                "created experiment '{}' (id {})",
                experiment.name, experiment.id
            );
        }
    }
    Ok(())
}

async fn runs(steward: &Steward, command: RunsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        RunsCommand::List { experiment, list } => {
            let mut ids = Vec::new();
            for name in &experiment {
                ids.push(steward.store.get_experiment(name).await?.id);
            }
            let page = steward
                .store
                .search_runs(&ids, &list.filter()?, &list.page())
                .await?;
            if json {
                return print_json(&page);
            }
            let experiments = experiment_names(steward).await?;
            print_table(runs_table(&page.items, &experiments), "no runs match");
            next_page_hint(&page.next_page_token);
        }
        RunsCommand::Show { run_id } => {
            let run = steward.store.get_run(&run_id).await?;
            // The run itself is the answer; a package that cannot be read only loses its checks.
            let quality = steward.run_quality(&run).await.unwrap_or_else(|e| {
                eprintln!("warning: the run's quality checks could not be read ({e}); `steward doctor` checks artifacts");
                None
            });
            if json {
                let mut document = serde_json::to_value(&run)?;
                if let (Some(map), Some(quality)) = (document.as_object_mut(), &quality) {
                    map.insert("quality".into(), serde_json::to_value(quality)?);
                }
                return print_json(&document);
            }
            key_values(&[
                ("run", run.id.clone()),
                ("name", run.name.clone()),
                (
                    "experiment",
                    experiment_names(steward)
                        .await?
                        .remove(&run.experiment_id)
                        .unwrap_or_else(|| run.experiment_id.to_string()),
                ),
                ("status", run.status.to_string()),
                ("started", time(run.start_time)),
                ("ended", optional_time(run.end_time)),
                ("params", pairs(&run.params)),
                ("metrics", numbers(&run.metrics)),
                ("tags", pairs(&run.tags)),
                (
                    "inputs",
                    run.inputs
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
            ]);
            if let Some(quality) = &quality {
                println!("\ndata-quality checks of the training data:");
                data_cmd::print_quality(quality);
            }
        }
    }
    Ok(())
}

async fn models(steward: &Steward, command: ModelsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        ModelsCommand::List(list) => {
            let page = steward
                .store
                .list_models(&list.filter()?, &list.page())
                .await?;
            if json {
                return print_json(&page);
            }
            print_table(
                models_table(&page.items),
                "no models (register one with `steward versions register NAME model.onnx`)",
            );
            next_page_hint(&page.next_page_token);
        }
        ModelsCommand::Show { name } => {
            let model = steward.store.get_model(&name).await?;
            if json {
                return print_json(&model);
            }
            key_values(&[
                ("model", model.name.clone()),
                ("description", model.description.clone().unwrap_or_default()),
                (
                    "latest version",
                    model
                        .latest_version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                ),
                (
                    "aliases",
                    model
                        .aliases
                        .iter()
                        .map(|(a, v)| format!("{a} → {v}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                ),
                ("tags", pairs(&model.tags)),
                ("created", time(model.created_at)),
                ("updated", time(model.updated_at)),
            ]);
        }
        ModelsCommand::Create {
            name,
            description,
            tags,
        } => {
            let model = steward
                .store
                .create_model(
                    &name,
                    description.as_deref(),
                    &tags_from(&tags),
                    &steward.audit(),
                )
                .await?;
            if json {
                return print_json(&model);
            }
            println!("created model '{}'", model.name);
        }
        ModelsCommand::Delete { name, force } => {
            steward
                .store
                .delete_model(&name, force, &steward.audit())
                .await?;
            if json {
                return print_json(&serde_json::json!({ "deleted": name }));
            }
            println!("deleted model '{name}' (its artifacts stay in the artifact store)");
        }
    }
    Ok(())
}

async fn versions(steward: &Steward, command: VersionsCommand, json: bool) -> anyhow::Result<()> {
    match command {
        VersionsCommand::Register {
            model,
            path,
            onnx,
            description,
            tags,
            metrics,
            parent,
            run,
            dataset,
        } => {
            let dataset = dataset
                .map(|text| -> anyhow::Result<DatasetRef> {
                    let (name, version) = text
                        .split_once('/')
                        .and_then(|(n, v)| Some((n.to_string(), v.parse().ok()?)))
                        .with_context(|| format!("--dataset {text}: expected NAME/VERSION"))?;
                    Ok(DatasetRef { name, version })
                })
                .transpose()?;
            let source = path
                .or(onnx)
                .context("give the model as PATH or --onnx FILE")?;
            let registered = steward
                .register_version(&RegisterRequest {
                    model,
                    source,
                    description,
                    tags: tags_from(&tags),
                    metrics: metrics_from(&metrics)?,
                    parent_version: parent,
                    source_run: run,
                    dataset,
                })
                .await?;
            if json {
                return print_json(&registered);
            }
            let v = &registered.version;
            if registered.model_created {
                println!("created model '{}'", v.model);
            }
            println!(
                "registered {}/{} ({} file(s), {} bytes, sha256 {})",
                v.model,
                v.version,
                registered.package.manifest.files.len(),
                registered.package.manifest.total_size(),
                v.artifact_hash
            );
        }
        VersionsCommand::List { model, list } => {
            let page = steward
                .store
                .list_model_versions(&model, &list.filter()?, &list.page())
                .await?;
            if json {
                return print_json(&page);
            }
            print_table(versions_table(&page.items), "no versions match");
            next_page_hint(&page.next_page_token);
        }
        VersionsCommand::Show { reference } => {
            let version = steward.resolve(&VersionRef::parse(&reference)?).await?;
            if json {
                return print_json(&version);
            }
            key_values(&[
                ("version", format!("{}/{}", version.model, version.version)),
                ("created", time(version.created_at)),
                ("artifact", version.artifact_uri.clone()),
                ("sha256", version.artifact_hash.clone()),
                (
                    "description",
                    version.description.clone().unwrap_or_default(),
                ),
                ("metrics", numbers(&version.metrics)),
                ("tags", pairs(&version.tags)),
                ("source run", version.source_run.clone().unwrap_or_default()),
                (
                    "dataset",
                    version
                        .dataset
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                (
                    "parent",
                    version
                        .parent_version
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
                ),
                (
                    "signature",
                    version
                        .signature
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
            ]);
        }
    }
    Ok(())
}

async fn alias(steward: &Steward, command: AliasCommand, json: bool) -> anyhow::Result<()> {
    let audit = |reason: Option<String>| Audit {
        actor: steward.actor.clone(),
        reason,
    };
    match command {
        AliasCommand::Set {
            model,
            alias,
            version,
            reason,
        } => {
            let change = steward
                .store
                .set_alias(&model, &alias, version, &audit(reason))
                .await?;
            if json {
                return print_json(&change);
            }
            match change.previous_version {
                Some(previous) if previous != version => {
                    println!("{model}@{alias}: {previous} → {version}")
                }
                Some(_) => println!("{model}@{alias} already pointed at {version} (move recorded)"),
                None => println!("{model}@{alias} → {version}"),
            }
        }
        AliasCommand::Delete {
            model,
            alias,
            reason,
        } => {
            let change = steward
                .store
                .delete_alias(&model, &alias, &audit(reason))
                .await?;
            if json {
                return print_json(&change);
            }
            println!(
                "deleted {model}@{alias} (it pointed at {})",
                change.previous_version.unwrap_or_default()
            );
        }
        AliasCommand::History { model, alias } => {
            let history = steward
                .store
                .alias_history(&model, alias.as_deref())
                .await?;
            if json {
                return print_json(&history);
            }
            print_table(alias_history_table(&history), "no alias has ever been set");
        }
    }
    Ok(())
}

async fn events(steward: &Steward, args: EventsArgs, json: bool) -> anyhow::Result<()> {
    let print = |events: &[steward_store::Event]| -> anyhow::Result<()> {
        for event in events {
            if json {
                // One object per line, so that `--follow --json` is a JSON Lines stream.
                println!("{}", serde_json::to_string(event)?);
            } else {
                println!("{}", event_line(event));
            }
        }
        Ok(())
    };
    let first = steward.store.events_after(args.after, args.limit).await?;
    if !args.follow {
        if json {
            return print_json(&first);
        }
        if first.is_empty() {
            println!("no events after #{}", args.after);
        }
        return print(&first);
    }
    print(&first)?;
    let mut last = first.last().map_or(args.after, |e| e.id);
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return Ok(()),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
        let next = steward.store.events_after(last, 1000).await?;
        print(&next)?;
        if let Some(event) = next.last() {
            last = event.id;
        }
    }
}

async fn doctor(steward: &Steward, json: bool) -> anyhow::Result<()> {
    let report = steward.doctor().await?;
    if json {
        print_json(&report)?;
    } else {
        key_values(&[
            ("store", report.store.clone()),
            ("artifacts", report.artifacts.clone()),
            ("schema version", report.schema_version.to_string()),
            ("models", report.models.to_string()),
            ("versions checked", report.versions_checked.to_string()),
            ("bytes verified", report.bytes_verified.to_string()),
        ]);
        for problem in &report.problems {
            println!(
                "PROBLEM {}/{}: {}",
                problem.model, problem.version, problem.problem
            );
        }
        if report.healthy() {
            println!("healthy: every version's artifacts exist and match their hashes");
        }
    }
    if !report.healthy() {
        bail!(
            "{} problem(s) found; versions listed above have missing or corrupted artifacts",
            report.problems.len()
        );
    }
    Ok(())
}
