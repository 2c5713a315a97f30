//! The `mcp-config` command: run the service, migrate its database, import and export bundles,
//! capture an MCP server that already runs.

mod admin_cli;

use std::path::PathBuf;

use admin_cli::{AdminClient, ChangeRequestCommand, checked};
use anyhow::{Context, bail};
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand, ValueEnum};
use mcp_config::{
    app::{self, App},
    bundle::{self, import::ImportReport},
    capture::Capture,
    config::{self, LogFormat, Settings},
    domain::Scope,
    renderer,
    store::Store,
    telemetry,
};

/// mimalloc: a cached `GetPrompts` allocates ~70 times (h2 frames, headers, tasks); with
/// glibc's allocator, malloc and free took ~6 % of its CPU (`docs/benchmarks-analysis.md`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "mcp-config",
    version,
    about = "Prompts and resources for MCP servers, served over gRPC"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (gRPC, admin HTTP API, relay).
    Serve(Box<ServeArgs>),
    /// Inspect the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(
            long,
            env = "MCP_CONFIG_DATABASE_URL",
            default_value = "sqlite://mcp-config.db"
        )]
        database_url: String,
    },
    /// Import a bundle (YAML or JSON) through the admin API: all or nothing.
    Import {
        /// The bundle file (`.json` is read as JSON, anything else as YAML).
        file: PathBuf,
        /// Show what would change without changing anything.
        #[arg(long)]
        dry_run: bool,
        /// Also delete entries of the bundle's servers that the bundle does not list.
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        admin: AdminClient,
    },
    /// Export the defaults and every org as a bundle.
    Export {
        #[arg(long, value_enum, default_value = "yaml")]
        format: BundleFormat,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
        #[command(flatten)]
        admin: AdminClient,
    },
    /// Read an MCP server that already runs (streamable HTTP) and write its prompts and
    /// resources as a bundle `import` accepts; what cannot be captured as it is is reported on
    /// standard error.
    Capture {
        /// The server's MCP endpoint, e.g. `http://127.0.0.1:3000/mcp`.
        #[arg(long)]
        from: String,
        /// The bundle's server name (default: the server's own name, as a slug).
        #[arg(long)]
        server: Option<String>,
        /// Capture as this org's entries instead of the defaults.
        #[arg(long)]
        org: Option<String>,
        /// A header sent with every request, `Name: value` (repeatable).
        #[arg(long = "header", value_parser = header_pair)]
        headers: Vec<(String, String)>,
        /// Write to this file instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// The gateway's upstreams: where `/mcp/{server}` forwards what mcp-config does not answer
    /// (global admins only).
    Upstream {
        #[command(subcommand)]
        action: UpstreamCommand,
        #[command(flatten)]
        admin: AdminClient,
    },
    /// Change requests and approval policies: open, review, approve, schedule and apply
    /// requests; require approvals to move a label.
    ChangeRequest {
        #[command(subcommand)]
        action: ChangeRequestCommand,
        #[command(flatten)]
        admin: AdminClient,
    },
    /// Render templates for a running service, one JSON job per line on standard input (the
    /// service starts these itself).
    #[command(hide = true)]
    RenderWorker {
        /// The most memory this worker may allocate.
        #[arg(long)]
        memory_limit_bytes: u64,
    },
}

#[derive(Subcommand)]
enum UpstreamCommand {
    /// Every server's upstream.
    List,
    /// One server's upstream.
    Get { server: String },
    /// Set a server's upstream (a new version).
    Set {
        server: String,
        /// The upstream's streamable HTTP endpoint.
        #[arg(long)]
        url: String,
        /// Longest a forwarded request may take, in milliseconds.
        #[arg(long, default_value_t = mcp_config::domain::upstream::DEFAULT_TIMEOUT_MS)]
        timeout_ms: u64,
        /// A caller header passed on to the upstream (repeatable).
        #[arg(long = "pass-header")]
        pass_headers: Vec<String>,
        /// Send the caller's own token to the upstream too.
        #[arg(long)]
        forward_token: bool,
        /// Why (kept in the history).
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Remove a server's upstream (its history stays).
    Delete { server: String },
    /// Every version of a server's upstream: who set what, when, why.
    History { server: String },
    /// Set an earlier version's upstream again, as the next version.
    Rollback { server: String, version: u64 },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the effective configuration (flags > environment > file > defaults), secrets masked.
    Print(Box<ServeArgs>),
}

#[derive(Args)]
struct ServeArgs {
    /// A TOML file of settings, keys named like the flags (`database_url = "…"`); flags and
    /// environment variables override it.
    #[arg(long, env = "MCP_CONFIG_FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    settings: Settings,
}

/// Parses the command line; when a configuration file is named, parses again with the file's
/// settings as the defaults of their flags.
fn parse() -> anyhow::Result<Cli> {
    let first = Cli::parse();
    let (path, file): (&[&str], _) = match &first.command {
        Command::Serve(args) => (&["serve"], args.config.clone()),
        Command::Config(ConfigCommand::Print(args)) => (&["config", "print"], args.config.clone()),
        _ => return Ok(first),
    };
    let Some(file) = file else { return Ok(first) };
    let command = config::with_file_defaults(Cli::command(), path, &file)?;
    Ok(Cli::from_arg_matches(&command.get_matches())?)
}

#[derive(Clone, Copy, ValueEnum)]
enum BundleFormat {
    Yaml,
    Json,
}

/// `Name: value` (or `Name=value`) as a header's name and value.
fn header_pair(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once(':')
        .or_else(|| text.split_once('='))
        .ok_or_else(|| format!("{text:?} is not `Name: value`"))?;
    Ok((name.trim().to_owned(), value.trim().to_owned()))
}

/// Runs the command; a failure is one line on standard error and exit status 1.
fn main() -> std::process::ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) => return failed(e),
    };
    // A worker is single-threaded blocking I/O: no runtime.
    if let Command::RenderWorker { memory_limit_bytes } = cli.command {
        return match renderer::worker::run(memory_limit_bytes) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => failed(e.into()),
        };
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => failed(e),
    }
}

fn failed(e: anyhow::Error) -> std::process::ExitCode {
    eprintln!("error: {e:#}");
    std::process::ExitCode::FAILURE
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Config(ConfigCommand::Print(args)) => {
            args.settings.validate()?;
            mcp_config::sso::SsoConfig::from_settings(&args.settings)?;
            print!("{}", args.settings.describe());
            Ok(())
        }
        Command::Serve(args) => {
            let settings = args.settings;
            let telemetry = telemetry::init(
                settings.telemetry.log_format,
                settings.telemetry.otlp_endpoint.as_deref(),
            )?;
            let app = App::build(&settings).await?;
            let stop = app.shutdown_token();
            tokio::spawn(async move {
                app::stop_signal().await;
                tracing::info!("stopping");
                stop.cancel();
            });
            app.wait().await;
            telemetry.shutdown();
            Ok(())
        }
        Command::RenderWorker { .. } => bail!("render-worker runs before the runtime starts"),
        Command::Migrate { database_url } => {
            telemetry::init(LogFormat::Pretty, None)?;
            let store = Store::connect(&database_url, 1).await?;
            store.migrate().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Import {
            file,
            dry_run,
            prune,
            admin,
        } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let content_type = if file.extension().is_some_and(|e| e == "json") {
                "application/json"
            } else {
                "application/yaml"
            };
            let response = admin
                .request(reqwest::Method::POST, "/bundle")
                .query(&[("dry_run", dry_run), ("prune", prune)])
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(text)
                .send()
                .await
                .with_context(|| format!("cannot reach the admin API at {}", admin.admin_url))?;
            let report: ImportReport = serde_json::from_str(&checked(response).await?)
                .context("reading the import report")?;
            for entry in &report.entries {
                let scope = match &entry.org {
                    Scope::Defaults => "defaults",
                    Scope::Org(org) => org.as_str(),
                };
                println!(
                    "{:<9} {scope}/{}/{} {}",
                    entry.diff.as_str(),
                    entry.server,
                    entry.kind.as_str().to_lowercase(),
                    entry.key
                );
            }
            let verb = if dry_run { "would be" } else { "were" };
            println!(
                "{} added, {} changed, {} removed, {} unchanged ({verb} applied)",
                report.added, report.changed, report.removed, report.unchanged
            );
            Ok(())
        }
        Command::Capture {
            from,
            server,
            org,
            headers,
            output,
        } => {
            let captured = Capture {
                from,
                headers,
                server,
                org,
            }
            .run()
            .await?;
            let yaml = captured.bundle.to_text(bundle::Format::Yaml);
            let text = format!(
                "# Captured by `mcp-config capture`: review it, then `mcp-config import` it.\n{yaml}"
            );
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            eprintln!(
                "captured {} prompts and {} resources of server {}",
                captured.prompts, captured.resources, captured.server
            );
            for line in &captured.reported {
                eprintln!("reported: {line}");
            }
            Ok(())
        }
        Command::Upstream { action, admin } => {
            let (method, path, body) = match action {
                UpstreamCommand::List => (reqwest::Method::GET, "/upstreams".to_owned(), None),
                UpstreamCommand::Get { server } => (
                    reqwest::Method::GET,
                    format!("/servers/{server}/upstream"),
                    None,
                ),
                UpstreamCommand::Set {
                    server,
                    url,
                    timeout_ms,
                    pass_headers,
                    forward_token,
                    message,
                } => (
                    reqwest::Method::PUT,
                    format!("/servers/{server}/upstream"),
                    Some(serde_json::json!({
                        "upstream": {
                            "url": url,
                            "timeout_ms": timeout_ms,
                            "pass_headers": pass_headers,
                            "forward_token": forward_token,
                        },
                        "message": message,
                    })),
                ),
                UpstreamCommand::Delete { server } => (
                    reqwest::Method::DELETE,
                    format!("/servers/{server}/upstream"),
                    None,
                ),
                UpstreamCommand::History { server } => (
                    reqwest::Method::GET,
                    format!("/servers/{server}/upstream/versions"),
                    None,
                ),
                UpstreamCommand::Rollback { server, version } => (
                    reqwest::Method::POST,
                    format!("/servers/{server}/upstream/rollback"),
                    Some(serde_json::json!({ "version": version })),
                ),
            };
            admin_cli::send(&admin, method, &path, body).await
        }
        Command::ChangeRequest { action, admin } => action.run(&admin).await,
        Command::Export {
            format,
            output,
            admin,
        } => {
            let format = match format {
                BundleFormat::Yaml => "yaml",
                BundleFormat::Json => "json",
            };
            let response = admin
                .request(reqwest::Method::GET, "/bundle")
                .query(&[("format", format)])
                .send()
                .await
                .with_context(|| format!("cannot reach the admin API at {}", admin.admin_url))?;
            let text = checked(response).await?;
            match output {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
            Ok(())
        }
    }
}
