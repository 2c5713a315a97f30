//! `mcp-config-example-server --server github`: an MCP server (streamable HTTP at `/mcp`) whose
//! prompts and resources come from mcp-config.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use clap::Parser;
use mcp_config_client::{ClientConfig, ConfigClient, Source};
use mcp_config_example_server::{config_backed_server, org::OrgResolver, serve};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The MCP server this process is (`github`, `slack`, …): the `server` of mcp-config's views.
    #[arg(long)]
    server: String,
    /// mcp-config's gRPC endpoint.
    #[arg(
        long,
        env = "MCP_CONFIG_ENDPOINT",
        default_value = "http://127.0.0.1:50051"
    )]
    config_endpoint: String,
    /// Bearer token (a `service` token) this server presents to mcp-config.
    #[arg(long, env = "MCP_CONFIG_TOKEN", hide_env_values = true)]
    config_token: Option<String>,
    /// Take invalidations from this Redis instead of mcp-config's Watch stream.
    #[arg(long, env = "MCP_CONFIG_REDIS_URL")]
    redis_url: Option<String>,
    /// The Redis channel mcp-config publishes on.
    #[arg(
        long,
        env = "MCP_CONFIG_CHANNEL",
        default_value = "mcp-config:invalidations"
    )]
    channel: String,
    /// Where MCP clients connect (`/mcp` on this address).
    #[arg(long, default_value = "127.0.0.1:8000")]
    listen: SocketAddr,
    /// `Host` header values accepted (DNS rebinding protection); add your public name.
    #[arg(long = "allowed-host", default_values = ["localhost", "127.0.0.1", "::1"])]
    allowed_hosts: Vec<String>,
    /// HS256 secret: take the org from the verified `org` claim of the caller's bearer token
    /// instead of the `x-org-id` header.
    #[arg(long, env = "EXAMPLE_JWT_SECRET", hide_env_values = true)]
    jwt_secret: Option<String>,
    /// The release label served (`staging`, …); production when empty.
    #[arg(long, env = "MCP_CONFIG_LABEL", default_value = "")]
    label: String,
    /// How long the last known view is served while mcp-config is unreachable.
    #[arg(long, default_value_t = 3600)]
    max_stale_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let mut config = ClientConfig::new(&args.config_endpoint);
    config.token = args.config_token;
    config.max_stale = Duration::from_secs(args.max_stale_secs);
    config.label = args.label;
    config.source = match args.redis_url {
        Some(url) => Source::Redis {
            url,
            channel: args.channel,
        },
        None => Source::Watch,
    };
    let client = ConfigClient::connect(config)
        .await
        .context("mcp-config client")?;
    let orgs = match args.jwt_secret {
        Some(secret) => OrgResolver::hs256(secret.as_bytes()),
        None => OrgResolver::Header,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listen on {}", args.listen))?;
    tracing::info!(address = %listener.local_addr()?, server = %args.server, "MCP endpoint at /mcp");
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let server = config_backed_server(client, &args.server, orgs);
    serve(listener, server, args.allowed_hosts, shutdown)
        .await
        .context("serve")
}

/// SIGTERM (Kubernetes) or Ctrl-C: stop accepting, end the subscription streams, exit.
async fn cancel_on_signal(shutdown: CancellationToken) {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    shutdown.cancel();
}
