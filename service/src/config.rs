//! The service's configuration: one struct, layered flags > `MCP_CONFIG_*` environment >
//! defaults (clap does the layering). Nothing else in the code reads the environment.
//!
//! The variable names and defaults of `docs/design.md`'s "Operations" table are a public
//! contract.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum};
use secrecy::SecretString;

use crate::secrets::redact_url;

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthMode {
    /// No authentication: development only, refused unless every listener is on loopback.
    None,
    /// Bearer JWTs.
    Jwt,
}

/// The one JWT algorithm accepted (pinned: a token signed otherwise is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum JwtAlgorithm {
    #[value(name = "HS256")]
    Hs256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Settings of `mcp-config serve`. Their `Debug` is [`Settings::describe`]'s, credentials
/// masked.
#[derive(Clone, Args)]
pub struct Settings {
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "MCP_CONFIG_DATABASE_URL",
        default_value = "sqlite://mcp-config.db"
    )]
    pub database_url: String,

    /// Redis URL for the shared L2 cache and pub/sub invalidations: `redis://HOST:PORT`,
    /// `redis-sentinel://SENTINEL:PORT?sentinelServiceName=NAME&node=SENTINEL2:PORT`, or
    /// `redis-cluster://NODE:PORT?node=NODE2:PORT`. Unset: in-process invalidation only.
    #[arg(long, env = "MCP_CONFIG_REDIS_URL")]
    pub redis_url: Option<String>,

    /// gRPC listen address (ConfigService, health, reflection).
    #[arg(long, env = "MCP_CONFIG_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// HTTP listen address (admin API, web UI, MCP, health, metrics).
    #[arg(long, env = "MCP_CONFIG_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,

    /// Redis pub/sub channel of invalidation events; also the prefix of L2 keys.
    #[arg(
        long,
        env = "MCP_CONFIG_CHANNEL",
        default_value = "mcp-config:invalidations"
    )]
    pub channel: String,

    /// Authentication mode.
    #[arg(long, env = "MCP_CONFIG_AUTH", value_enum, default_value = "none")]
    pub auth: AuthMode,

    /// JWT algorithm accepted with `--auth jwt`.
    #[arg(
        long,
        env = "MCP_CONFIG_JWT_ALGORITHM",
        value_enum,
        default_value = "HS256"
    )]
    pub jwt_algorithm: JwtAlgorithm,

    /// HS256 shared secret (at least 32 bytes).
    #[arg(long, env = "MCP_CONFIG_JWT_SECRET", hide_env_values = true, value_parser = secret)]
    pub jwt_secret: Option<SecretString>,

    /// Path of a PEM public key (RS256 or ES256).
    #[arg(long, env = "MCP_CONFIG_JWT_PUBLIC_KEY")]
    pub jwt_public_key: Option<std::path::PathBuf>,

    /// Path of a JWKS file (RS256 or ES256), reloaded when it changes.
    #[arg(long, env = "MCP_CONFIG_JWT_JWKS")]
    pub jwt_jwks: Option<std::path::PathBuf>,

    /// Required `iss` claim, if set.
    #[arg(long, env = "MCP_CONFIG_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, if set.
    #[arg(long, env = "MCP_CONFIG_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "MCP_CONFIG_JWT_LEEWAY_SECS", default_value_t = 30)]
    pub jwt_leeway_secs: u64,

    /// Do not apply database migrations at start-up (run `mcp-config migrate` instead).
    #[arg(long, env = "MCP_CONFIG_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Byte budget of the in-process view cache.
    #[arg(long, env = "MCP_CONFIG_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// Seconds a cached view may live (L1 and L2) without an invalidation: a safety net only.
    #[arg(long, env = "MCP_CONFIG_CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,

    /// Largest number of database connections.
    #[arg(long, env = "MCP_CONFIG_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Milliseconds between relay polls for unpublished changes (commits also wake it at once).
    #[arg(long, env = "MCP_CONFIG_RELAY_POLL_MS", default_value_t = 1000)]
    pub relay_poll_ms: u64,

    /// Hours published changes stay in the change log (Watch can resume from within them).
    #[arg(long, env = "MCP_CONFIG_CHANGE_RETENTION_HOURS", default_value_t = 168)]
    pub change_retention_hours: u64,

    /// OTLP/gRPC endpoint to export traces to (e.g. `http://otel-collector:4317`); unset: no export.
    #[arg(long, env = "MCP_CONFIG_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Seconds a committed change may wait unpublished before the replica reports not ready
    /// (invalidations are not getting out). Generous on purpose: readiness gates reads too.
    #[arg(long, env = "MCP_CONFIG_RELAY_STUCK_SECS", default_value_t = 600)]
    pub relay_stuck_secs: u64,

    /// Admin API requests per second allowed to one token subject (bursts of twice that);
    /// more are answered 429.
    #[arg(long, env = "MCP_CONFIG_ADMIN_RATE_LIMIT", default_value_t = 50)]
    pub admin_rate_limit: u32,

    /// Milliseconds an L2 (Redis cache) call on the read path may take; a hung Redis then costs
    /// a read this much, and after three such failures nothing for 5 s (the breaker rests L2).
    #[arg(long, env = "MCP_CONFIG_L2_TIMEOUT_MS", default_value_t = 50)]
    pub l2_timeout_ms: u64,

    /// Seconds a quiet Watch stream waits before it sends a progress event, and how often the
    /// leading relay announces progress on the Redis channel (subscribers take a stream or a
    /// channel silent three times as long as cut off).
    #[arg(long, env = "MCP_CONFIG_WATCH_PROGRESS_SECS", default_value_t = 5)]
    pub watch_progress_secs: u64,

    /// Watch streams one replica keeps open at most; more are refused (RESOURCE_EXHAUSTED).
    #[arg(long, env = "MCP_CONFIG_WATCH_MAX_STREAMS", default_value_t = 16_384)]
    pub watch_max_streams: usize,

    /// Watch streams one token subject may hold open on one replica (a fleet sharing a service
    /// token shares it).
    #[arg(
        long,
        env = "MCP_CONFIG_WATCH_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = 1024
    )]
    pub watch_max_streams_per_principal: usize,

    /// PEM certificate (chain) for both listeners; with `--tls-key`, they serve TLS only.
    #[arg(long, env = "MCP_CONFIG_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "MCP_CONFIG_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,

    /// PEM CA whose client certificates the gRPC listener requires (mTLS for MCP servers).
    #[arg(long, env = "MCP_CONFIG_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// Open connections allowed on each listener; more are closed as soon as accepted.
    #[arg(long, env = "MCP_CONFIG_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections allowed from one client address (an IPv6 /64 counts as one) on each
    /// listener; more are closed as soon as accepted.
    #[arg(
        long,
        env = "MCP_CONFIG_MAX_CONNECTIONS_PER_PEER",
        default_value_t = 256
    )]
    pub max_connections_per_peer: usize,

    /// Seconds a connection may move no bytes either way before it is closed.
    #[arg(long, env = "MCP_CONFIG_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    pub idle_timeout_secs: u64,

    /// Seconds an HTTP/1 client has to send a request's headers (also the keep-alive wait
    /// between requests), and any client on either port to send its first bytes.
    #[arg(
        long,
        env = "MCP_CONFIG_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub header_read_timeout_secs: u64,

    /// Seconds a client has to finish the TLS handshake.
    #[arg(
        long,
        env = "MCP_CONFIG_TLS_HANDSHAKE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub tls_handshake_timeout_secs: u64,

    /// Seconds of silence from an HTTP/2 client before the server pings it; below
    /// `--idle-timeout-secs`, so the answers keep quiet clients (Watch streams) from idling out.
    #[arg(long, env = "MCP_CONFIG_HTTP2_KEEPALIVE_SECS", default_value_t = 30)]
    pub http2_keepalive_secs: u64,

    /// Seconds an HTTP/2 client has to answer a ping before its connection is closed.
    #[arg(
        long,
        env = "MCP_CONFIG_HTTP2_KEEPALIVE_TIMEOUT_SECS",
        default_value_t = 20
    )]
    pub http2_keepalive_timeout_secs: u64,

    /// Concurrent streams (calls) allowed on one HTTP/2 connection, on either listener.
    #[arg(long, env = "MCP_CONFIG_MAX_CONCURRENT_STREAMS", default_value_t = 128)]
    pub max_concurrent_streams: u32,

    /// MCP sessions (legacy `initialize` clients) and `subscriptions/listen` streams one
    /// replica holds open at most at `/mcp/{server}`; more are refused with an MCP error.
    #[arg(long, env = "MCP_CONFIG_MCP_MAX_SESSIONS", default_value_t = 4096)]
    pub mcp_max_sessions: usize,

    /// MCP sessions and listen streams one token subject may hold open on one replica (a
    /// gateway or fleet sharing a token shares it; with `--auth none` everyone is one subject).
    #[arg(
        long,
        env = "MCP_CONFIG_MCP_MAX_SESSIONS_PER_PRINCIPAL",
        default_value_t = 1024
    )]
    pub mcp_max_sessions_per_principal: usize,

    /// Seconds an MCP session may pass with no message either way before it is closed.
    #[arg(long, env = "MCP_CONFIG_MCP_SESSION_IDLE_SECS", default_value_t = 300)]
    pub mcp_session_idle_secs: u64,

    /// Largest MCP request body, in bytes; larger ones are answered 413.
    #[arg(long, env = "MCP_CONFIG_MCP_MAX_REQUEST_BYTES", default_value_t = 1024 * 1024)]
    pub mcp_max_request_bytes: usize,

    /// Host names the HTTP port answers besides IP addresses and `localhost` (DNS rebinding
    /// protection, every route): a name matches any port, `name:port` that port only. Add the
    /// names clients, gateways and browsers use (an Ingress's, a Service's DNS name).
    #[arg(
        long = "allowed-host",
        alias = "mcp-allowed-hosts",
        env = "MCP_CONFIG_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    pub allowed_hosts: Vec<String>,

    /// Browser origins (`https://app.example.com:443`, `http://localhost:*`) allowed to call the
    /// HTTP port besides same-origin pages; a request with any other `Origin` is refused.
    /// Clients that are not browsers send none.
    #[arg(
        long = "allowed-origin",
        alias = "mcp-allowed-origins",
        env = "MCP_CONFIG_ALLOWED_ORIGINS",
        value_delimiter = ','
    )]
    pub allowed_origins: Vec<String>,

    /// Largest body of a web UI form, in bytes (a bundle upload is the largest); a larger one
    /// is answered 413 before it is read.
    #[arg(
        long,
        env = "MCP_CONFIG_UI_MAX_FORM_BYTES",
        default_value_t = 17 * 1024 * 1024
    )]
    pub ui_max_form_bytes: usize,

    /// Most fields one web UI form may have; a form with more is answered 413.
    #[arg(long, env = "MCP_CONFIG_UI_MAX_FORM_FIELDS", default_value_t = 4096)]
    pub ui_max_form_fields: usize,

    /// The executable whose `render-worker` command renders templates in child processes.
    /// Unset: this executable (set it when the service runs embedded in another program).
    #[arg(long, env = "MCP_CONFIG_RENDER_WORKER")]
    pub render_worker: Option<std::path::PathBuf>,

    /// Render worker processes (renders at once); one org may use all but one of them.
    /// Unset: the number of CPUs plus one.
    #[arg(long, env = "MCP_CONFIG_RENDER_WORKERS")]
    pub render_workers: Option<usize>,

    /// Memory one render worker may allocate, in MiB; a render that needs more fails and its
    /// worker is replaced.
    #[arg(long, env = "MCP_CONFIG_RENDER_MEMORY_MIB", default_value_t = 256)]
    pub render_memory_mib: u64,

    /// Log format.
    #[arg(
        long,
        env = "MCP_CONFIG_LOG_FORMAT",
        value_enum,
        default_value = "pretty"
    )]
    pub log_format: LogFormat,
}

/// A configuration that cannot work, found before anything starts.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_secs(self.cache_ttl_secs)
    }

    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.relay_poll_ms.max(10))
    }

    /// How long a change may wait for the relay before the replica reports not ready.
    pub fn relay_bound(&self) -> Duration {
        Duration::from_secs(self.relay_stuck_secs)
    }

    /// How often quiet Watch streams and the Redis channel carry a progress event.
    pub fn progress_every(&self) -> Duration {
        Duration::from_secs(self.watch_progress_secs.max(1))
    }

    pub fn change_retention(&self) -> Duration {
        Duration::from_secs(self.change_retention_hours * 3600)
    }

    /// Checks what the types alone cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.auth == AuthMode::None {
            for (name, addr) in [("grpc_addr", self.grpc_addr), ("http_addr", self.http_addr)] {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError(format!(
                        "MCP_CONFIG_AUTH=none is for development and only listens on loopback, but {name} is {addr}; \
                         use MCP_CONFIG_AUTH=jwt or a 127.0.0.1 address"
                    )));
                }
            }
        }
        let must_be_positive = [
            ("CACHE_BYTES", self.cache_bytes),
            ("MAX_CONNECTIONS", self.max_connections as u64),
            (
                "MAX_CONNECTIONS_PER_PEER",
                self.max_connections_per_peer as u64,
            ),
            ("IDLE_TIMEOUT_SECS", self.idle_timeout_secs),
            ("HEADER_READ_TIMEOUT_SECS", self.header_read_timeout_secs),
            (
                "TLS_HANDSHAKE_TIMEOUT_SECS",
                self.tls_handshake_timeout_secs,
            ),
            ("HTTP2_KEEPALIVE_SECS", self.http2_keepalive_secs),
            (
                "HTTP2_KEEPALIVE_TIMEOUT_SECS",
                self.http2_keepalive_timeout_secs,
            ),
            (
                "MAX_CONCURRENT_STREAMS",
                u64::from(self.max_concurrent_streams),
            ),
            ("MCP_MAX_SESSIONS", self.mcp_max_sessions as u64),
            (
                "MCP_MAX_SESSIONS_PER_PRINCIPAL",
                self.mcp_max_sessions_per_principal as u64,
            ),
            ("MCP_SESSION_IDLE_SECS", self.mcp_session_idle_secs),
            ("MCP_MAX_REQUEST_BYTES", self.mcp_max_request_bytes as u64),
        ];
        if let Some((name, _)) = must_be_positive.iter().find(|(_, value)| *value == 0) {
            return Err(ConfigError(format!("MCP_CONFIG_{name} must be above 0")));
        }
        if self.http2_keepalive_secs >= self.idle_timeout_secs {
            return Err(ConfigError(format!(
                "MCP_CONFIG_HTTP2_KEEPALIVE_SECS ({}) must be below MCP_CONFIG_IDLE_TIMEOUT_SECS ({}): \
                 the pings are what keep a quiet gRPC client (a Watch stream) from idling out",
                self.http2_keepalive_secs, self.idle_timeout_secs
            )));
        }
        if self.watch_max_streams == 0 || self.watch_max_streams_per_principal == 0 {
            return Err(ConfigError(
                "MCP_CONFIG_WATCH_MAX_STREAMS and MCP_CONFIG_WATCH_MAX_STREAMS_PER_PRINCIPAL must be above 0"
                    .into(),
            ));
        }
        if self.channel.is_empty() {
            return Err(ConfigError("MCP_CONFIG_CHANNEL must not be empty".into()));
        }
        Ok(())
    }
}

/// The settings of a configuration file (TOML, keys named like the flags:
/// `database_url = "postgres://…"`), applied *under* flags and environment: each becomes the
/// default of its flag in the subcommand at `path` (e.g. `["serve"]`), so `--flag` and
/// `MCP_CONFIG_*` still win, and a bad value fails just as a bad flag does.
pub fn with_file_defaults(
    command: clap::Command,
    path: &[&str],
    file: &std::path::Path,
) -> Result<clap::Command, ConfigError> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| ConfigError(format!("cannot read {}: {e}", file.display())))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(format!("{} is not TOML: {e}", file.display())))?;
    let mut target = &command;
    for name in path {
        target = target
            .find_subcommand(name)
            .ok_or_else(|| ConfigError(format!("no subcommand {name}")))?;
    }
    let known: Vec<String> = target
        .get_arguments()
        .map(|a| a.get_id().to_string())
        .collect();
    let mut defaults = Vec::with_capacity(table.len());
    for (key, value) in table {
        if !known.contains(&key) || key == "config" {
            return Err(ConfigError(format!(
                "{}: unknown setting {key:?}",
                file.display()
            )));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            other => {
                return Err(ConfigError(format!(
                    "{}: {key} must be a string, number or boolean, not {other}",
                    file.display()
                )));
            }
        };
        defaults.push((key, value));
    }
    Ok(set_defaults(command, path, defaults))
}

fn set_defaults(
    command: clap::Command,
    path: &[&str],
    defaults: Vec<(String, String)>,
) -> clap::Command {
    match path {
        [] => defaults.into_iter().fold(command, |command, (key, value)| {
            command.mut_arg(key, |arg| arg.default_value(value))
        }),
        [first, rest @ ..] => {
            command.mut_subcommand(first, |sub| set_defaults(sub, rest, defaults))
        }
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Settings {
    /// The effective configuration as `MCP_CONFIG_*` lines, secrets masked.
    pub fn describe(&self) -> String {
        let masked = |secret: &Option<SecretString>| {
            secret
                .as_ref()
                .map_or("(unset)".to_owned(), |_| "***".to_owned())
        };
        let path = |p: &Option<std::path::PathBuf>| {
            p.as_ref()
                .map_or("(unset)".to_owned(), |p| p.display().to_string())
        };
        let optional = |v: &Option<String>| v.clone().unwrap_or_else(|| "(unset)".to_owned());
        [
            ("DATABASE_URL", redact_url(&self.database_url)),
            (
                "REDIS_URL",
                self.redis_url
                    .as_deref()
                    .map_or("(unset)".to_owned(), redact_url),
            ),
            ("GRPC_ADDR", self.grpc_addr.to_string()),
            ("HTTP_ADDR", self.http_addr.to_string()),
            ("CHANNEL", self.channel.clone()),
            ("AUTH", format!("{:?}", self.auth).to_lowercase()),
            (
                "JWT_ALGORITHM",
                format!("{:?}", self.jwt_algorithm).to_uppercase(),
            ),
            ("JWT_SECRET", masked(&self.jwt_secret)),
            ("JWT_PUBLIC_KEY", path(&self.jwt_public_key)),
            ("JWT_JWKS", path(&self.jwt_jwks)),
            ("JWT_ISSUER", optional(&self.jwt_issuer)),
            ("JWT_AUDIENCE", optional(&self.jwt_audience)),
            ("JWT_LEEWAY_SECS", self.jwt_leeway_secs.to_string()),
            ("NO_MIGRATE", self.no_migrate.to_string()),
            ("CACHE_BYTES", self.cache_bytes.to_string()),
            ("CACHE_TTL_SECS", self.cache_ttl_secs.to_string()),
            ("DB_MAX_CONNECTIONS", self.db_max_connections.to_string()),
            ("RELAY_POLL_MS", self.relay_poll_ms.to_string()),
            (
                "CHANGE_RETENTION_HOURS",
                self.change_retention_hours.to_string(),
            ),
            ("RELAY_STUCK_SECS", self.relay_stuck_secs.to_string()),
            ("ADMIN_RATE_LIMIT", self.admin_rate_limit.to_string()),
            ("L2_TIMEOUT_MS", self.l2_timeout_ms.to_string()),
            ("WATCH_MAX_STREAMS", self.watch_max_streams.to_string()),
            ("WATCH_PROGRESS_SECS", self.watch_progress_secs.to_string()),
            (
                "WATCH_MAX_STREAMS_PER_PRINCIPAL",
                self.watch_max_streams_per_principal.to_string(),
            ),
            ("MAX_CONNECTIONS", self.max_connections.to_string()),
            (
                "MAX_CONNECTIONS_PER_PEER",
                self.max_connections_per_peer.to_string(),
            ),
            ("IDLE_TIMEOUT_SECS", self.idle_timeout_secs.to_string()),
            (
                "HEADER_READ_TIMEOUT_SECS",
                self.header_read_timeout_secs.to_string(),
            ),
            (
                "TLS_HANDSHAKE_TIMEOUT_SECS",
                self.tls_handshake_timeout_secs.to_string(),
            ),
            (
                "HTTP2_KEEPALIVE_SECS",
                self.http2_keepalive_secs.to_string(),
            ),
            (
                "HTTP2_KEEPALIVE_TIMEOUT_SECS",
                self.http2_keepalive_timeout_secs.to_string(),
            ),
            (
                "MAX_CONCURRENT_STREAMS",
                self.max_concurrent_streams.to_string(),
            ),
            ("MCP_MAX_SESSIONS", self.mcp_max_sessions.to_string()),
            (
                "MCP_MAX_SESSIONS_PER_PRINCIPAL",
                self.mcp_max_sessions_per_principal.to_string(),
            ),
            (
                "MCP_SESSION_IDLE_SECS",
                self.mcp_session_idle_secs.to_string(),
            ),
            (
                "MCP_MAX_REQUEST_BYTES",
                self.mcp_max_request_bytes.to_string(),
            ),
            ("ALLOWED_HOSTS", self.allowed_hosts.join(",")),
            ("ALLOWED_ORIGINS", self.allowed_origins.join(",")),
            ("UI_MAX_FORM_BYTES", self.ui_max_form_bytes.to_string()),
            ("UI_MAX_FORM_FIELDS", self.ui_max_form_fields.to_string()),
            ("RENDER_WORKER", path(&self.render_worker)),
            (
                "RENDER_WORKERS",
                self.render_workers
                    .map_or("(unset)".to_owned(), |n| n.to_string()),
            ),
            ("RENDER_MEMORY_MIB", self.render_memory_mib.to_string()),
            ("TLS_CERT", path(&self.tls_cert)),
            ("TLS_KEY", path(&self.tls_key)),
            ("TLS_CLIENT_CA", path(&self.tls_client_ca)),
            (
                "OTLP_ENDPOINT",
                self.otlp_endpoint
                    .as_deref()
                    .map_or("(unset)".to_owned(), redact_url),
            ),
            (
                "LOG_FORMAT",
                format!("{:?}", self.log_format).to_lowercase(),
            ),
        ]
        .iter()
        .map(|(name, value)| format!("MCP_CONFIG_{name}={value}\n"))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        settings: Settings,
    }

    #[test]
    fn the_defaults_are_the_designs() {
        let settings = Cli::parse_from(["mcp-config"]).settings;
        assert_eq!(settings.database_url, "sqlite://mcp-config.db");
        assert_eq!(settings.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.channel, "mcp-config:invalidations");
        assert_eq!(settings.auth, AuthMode::None);
        assert!(settings.redis_url.is_none());
        settings.validate().unwrap();
    }

    #[test]
    fn a_zero_connection_bound_is_refused_by_name() {
        let settings = Cli::parse_from(["mcp-config", "--max-connections-per-peer=0"]).settings;
        let err = settings.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("MCP_CONFIG_MAX_CONNECTIONS_PER_PEER must be above 0"),
            "{err}"
        );
    }

    #[test]
    fn keepalive_pings_must_come_before_the_idle_timeout() {
        let settings = Cli::parse_from([
            "mcp-config",
            "--idle-timeout-secs=20",
            "--http2-keepalive-secs=30",
        ])
        .settings;
        let err = settings.validate().unwrap_err();
        assert!(
            err.to_string()
                .contains("MCP_CONFIG_HTTP2_KEEPALIVE_SECS (30) must be below"),
            "{err}"
        );
    }

    #[test]
    fn auth_none_refuses_a_public_address() {
        let settings = Cli::parse_from(["mcp-config", "--grpc-addr", "0.0.0.0:50051"]).settings;
        let err = settings.validate().unwrap_err();
        assert!(
            err.to_string().contains("grpc_addr is 0.0.0.0:50051"),
            "{err}"
        );
    }
}
