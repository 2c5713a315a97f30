//! The service's configuration: flags > `MCP_CONFIG_*` environment > a TOML file > defaults
//! (clap does the layering; [`with_file_defaults`] adds the file). Nothing else in the code
//! reads the environment. Settings come in one group per concern, each defined once: its flag,
//! variable, default and bounds are declared on its field, and `config print`
//! ([`Settings::describe`]) is derived from those declarations, not written again.
//!
//! The variable names and defaults of `docs/design.md`'s "Operations" table are a public
//! contract.

use std::{net::SocketAddr, time::Duration};

use clap::{Args, ValueEnum, builder::RangedU64ValueParser};
use secrecy::SecretString;
use serde::{Serialize, Serializer};

use crate::secrets::redact_url;

fn secret(value: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(value))
}

/// A count or a duration that 0 would make meaningless (a cap of nothing, a timeout of no time):
/// refused when parsed, naming the flag.
fn at_least_one<T>() -> RangedU64ValueParser<T>
where
    T: TryFrom<u64> + Clone + Send + Sync + 'static,
{
    RangedU64ValueParser::<T>::new().range(1..)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    /// No authentication: development only, refused unless every listener is on loopback.
    None,
    /// Bearer JWTs.
    Jwt,
}

/// The one JWT algorithm accepted (pinned: a token signed otherwise is refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum JwtAlgorithm {
    #[value(name = "HS256")]
    Hs256,
    #[value(name = "RS256")]
    Rs256,
    #[value(name = "ES256")]
    Es256,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Pretty,
    Json,
}

/// Settings of `mcp-config serve`. Their `Debug` is [`Settings::describe`]'s, credentials
/// masked.
#[derive(Clone, Args, Serialize)]
pub struct Settings {
    #[command(flatten)]
    #[serde(flatten)]
    pub store: StoreSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub listen: ListenSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub redis: RedisOptions,
    #[command(flatten)]
    #[serde(flatten)]
    pub access: AccessSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub oidc: OidcSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub cache: CacheSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub propagation: PropagationSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub watch: WatchSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub tls: TlsSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub connections: ConnectionSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub mcp: McpSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub http: HttpSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub render: RenderSettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub telemetry: TelemetrySettings,
    #[command(flatten)]
    #[serde(flatten)]
    pub webhooks: WebhookSettings,
}

/// Change webhooks: where deliveries may go, how long an attempt may take, when to retry.
#[derive(Clone, Args, Serialize)]
pub struct WebhookSettings {
    /// Let webhooks reach private, loopback and link-local addresses (refused by default: an
    /// admin's URL must not reach the service's own network or a cloud metadata endpoint).
    #[arg(long, env = "MCP_CONFIG_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,

    /// Milliseconds one delivery attempt may take, connection included.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(),
        env = "MCP_CONFIG_WEBHOOK_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub webhook_timeout_ms: u64,

    /// The waits between a delivery's attempts (the first goes at once); when they run out
    /// the delivery has failed. The default spans about a day.
    #[arg(
        long,
        env = "MCP_CONFIG_WEBHOOK_RETRY_SCHEDULE",
        default_value = "5s,5m,30m,2h,5h,10h,10h"
    )]
    pub webhook_retry_schedule: String,

    /// Delivery attempts one replica makes at once (each endpoint has at most one in flight).
    #[arg(
        long,
        value_parser = at_least_one::<usize>(),
        env = "MCP_CONFIG_WEBHOOK_CONCURRENCY",
        default_value_t = 16
    )]
    pub webhook_concurrency: usize,

    /// Milliseconds between looks for new changes and due deliveries.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(),
        env = "MCP_CONFIG_WEBHOOK_POLL_MS",
        default_value_t = 250
    )]
    pub webhook_poll_ms: u64,
}

/// The database.
#[derive(Clone, Args, Serialize)]
pub struct StoreSettings {
    /// Database: `sqlite://PATH` (created if missing) or `postgres://USER:PASS@HOST/DB`.
    #[arg(
        long,
        env = "MCP_CONFIG_DATABASE_URL",
        default_value = "sqlite://mcp-config.db"
    )]
    #[serde(serialize_with = "redacted")]
    pub database_url: String,

    /// Largest number of database connections.
    #[arg(long, env = "MCP_CONFIG_DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Do not apply database migrations at start-up (run `mcp-config migrate` instead).
    #[arg(long, env = "MCP_CONFIG_NO_MIGRATE")]
    pub no_migrate: bool,

    /// Hours published changes stay in the change log (Watch can resume from within them).
    #[arg(long, env = "MCP_CONFIG_CHANGE_RETENTION_HOURS", default_value_t = 168)]
    pub change_retention_hours: u64,
}

/// Where the two ports listen.
#[derive(Clone, Args, Serialize)]
pub struct ListenSettings {
    /// gRPC listen address (ConfigService, health, reflection).
    #[arg(long, env = "MCP_CONFIG_GRPC_ADDR", default_value = "127.0.0.1:50051")]
    pub grpc_addr: SocketAddr,

    /// HTTP listen address (admin API, web UI, MCP, health, metrics).
    #[arg(long, env = "MCP_CONFIG_HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: SocketAddr,
}

/// Redis: the shared L2 cache and the invalidation channel.
#[derive(Clone, Args, Serialize)]
pub struct RedisOptions {
    /// Redis URL for the shared L2 cache and pub/sub invalidations: `redis://HOST:PORT`,
    /// `redis-sentinel://SENTINEL:PORT?sentinelServiceName=NAME&node=SENTINEL2:PORT`, or
    /// `redis-cluster://NODE:PORT?node=NODE2:PORT`. Unset: in-process invalidation only.
    #[arg(long, env = "MCP_CONFIG_REDIS_URL")]
    #[serde(serialize_with = "redacted_optional")]
    pub redis_url: Option<String>,

    /// Redis pub/sub channel of invalidation events; also the prefix of L2 keys.
    #[arg(
        long,
        value_parser = clap::builder::NonEmptyStringValueParser::new(),
        env = "MCP_CONFIG_CHANNEL",
        default_value = "mcp-config:invalidations"
    )]
    pub channel: String,

    /// Milliseconds an L2 (Redis cache) call on the read path may take; a hung Redis then costs
    /// a read this much, and after three such failures nothing for 5 s (the breaker rests L2).
    #[arg(long, env = "MCP_CONFIG_L2_TIMEOUT_MS", default_value_t = 50)]
    pub l2_timeout_ms: u64,
}

/// Who may call: the authentication mode and how JWTs are checked.
#[derive(Clone, Args, Serialize)]
pub struct AccessSettings {
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
    #[serde(serialize_with = "masked")]
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
}

/// Single sign-on to the web UI with OpenID Connect (with `--auth jwt`; API tokens and token
/// sign-in are unchanged). Unset issuer: token sign-in only.
#[derive(Clone, Args, Serialize)]
pub struct OidcSettings {
    /// The OpenID provider's issuer URL. Its discovery document is read at start-up and again
    /// until it answers; the gRPC port and the admin API serve meanwhile.
    #[arg(long, env = "MCP_CONFIG_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// This service's client id at the provider.
    #[arg(long, env = "MCP_CONFIG_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// This service's client secret at the provider (none: a public client, PKCE only).
    #[arg(long, env = "MCP_CONFIG_OIDC_CLIENT_SECRET", hide_env_values = true, value_parser = secret)]
    #[serde(serialize_with = "masked")]
    pub oidc_client_secret: Option<SecretString>,

    /// The callback as registered at the provider and as browsers reach it:
    /// `https://config.example.com/ui/login/oidc/callback`.
    #[arg(long, env = "MCP_CONFIG_OIDC_REDIRECT_URL")]
    pub oidc_redirect_url: Option<String>,

    /// Scopes asked for besides `openid`.
    #[arg(
        long,
        env = "MCP_CONFIG_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "profile,email"
    )]
    pub oidc_scopes: Vec<String>,

    /// The ID token claim recorded as the actor of the user's changes.
    #[arg(long, env = "MCP_CONFIG_OIDC_SUBJECT_CLAIM", default_value = "sub")]
    pub oidc_subject_claim: String,

    /// The ID token claim naming the user's org (absent: no org, as a token without `org`).
    #[arg(long, env = "MCP_CONFIG_OIDC_ORG_CLAIM", default_value = "org")]
    pub oidc_org_claim: String,

    /// The ID token claim listing role names (reader, editor, admin, emergency).
    #[arg(long, env = "MCP_CONFIG_OIDC_ROLES_CLAIM", default_value = "roles")]
    pub oidc_roles_claim: String,

    /// The ID token claim listing the user's groups.
    #[arg(long, env = "MCP_CONFIG_OIDC_GROUPS_CLAIM", default_value = "groups")]
    pub oidc_groups_claim: String,

    /// Groups granting roles, `group=role` (`prompt-admins=admin,prompt-writers=editor`).
    #[arg(
        long = "oidc-group-role",
        env = "MCP_CONFIG_OIDC_GROUP_ROLES",
        value_delimiter = ','
    )]
    pub oidc_group_roles: Vec<String>,

    /// Groups whose members may sign in without an org claim, with rights over every org (as
    /// a token without `org`). Anyone else without an org claim is refused.
    #[arg(
        long = "oidc-global-group",
        env = "MCP_CONFIG_OIDC_GLOBAL_GROUPS",
        value_delimiter = ','
    )]
    pub oidc_global_groups: Vec<String>,

    /// How long a session opened by single sign-on lasts, in hours.
    #[arg(
        long,
        env = "MCP_CONFIG_OIDC_SESSION_HOURS",
        default_value_t = 8,
        value_parser = at_least_one::<u64>()
    )]
    pub oidc_session_hours: u64,

    /// The provider's name on the sign-in page's button.
    #[arg(long, env = "MCP_CONFIG_OIDC_NAME", default_value = "single sign-on")]
    pub oidc_name: String,
}

/// The in-process view cache.
#[derive(Clone, Args, Serialize)]
pub struct CacheSettings {
    /// Byte budget of the in-process view cache.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(), env = "MCP_CONFIG_CACHE_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_bytes: u64,

    /// Seconds a cached view may live (L1 and L2) without an invalidation: a safety net only.
    #[arg(long, env = "MCP_CONFIG_CACHE_TTL_SECS", default_value_t = 300)]
    pub cache_ttl_secs: u64,
}

/// How changes get out: the relay and the progress heartbeat.
#[derive(Clone, Args, Serialize)]
pub struct PropagationSettings {
    /// Milliseconds between relay polls for unpublished changes (commits also wake it at once).
    #[arg(long, env = "MCP_CONFIG_RELAY_POLL_MS", default_value_t = 1000)]
    pub relay_poll_ms: u64,

    /// Seconds a committed change may wait unpublished before the replica reports not ready
    /// (invalidations are not getting out). Generous on purpose: readiness gates reads too.
    #[arg(long, env = "MCP_CONFIG_RELAY_STUCK_SECS", default_value_t = 600)]
    pub relay_stuck_secs: u64,

    /// Seconds a quiet Watch stream waits before it sends a progress event, and how often the
    /// leading relay announces progress on the Redis channel (subscribers take a stream or a
    /// channel silent three times as long as cut off).
    #[arg(long, env = "MCP_CONFIG_WATCH_PROGRESS_SECS", default_value_t = 5)]
    pub watch_progress_secs: u64,
}

/// Watch streams.
#[derive(Clone, Args, Serialize)]
pub struct WatchSettings {
    /// Watch streams one replica keeps open at most; more are refused (RESOURCE_EXHAUSTED).
    #[arg(
        long,
        value_parser = at_least_one::<usize>(), env = "MCP_CONFIG_WATCH_MAX_STREAMS", default_value_t = 16_384)]
    pub watch_max_streams: usize,

    /// Watch streams one token subject may hold open on one replica (a fleet sharing a service
    /// token shares it).
    #[arg(
        long,
        value_parser = at_least_one::<usize>(),
        env = "MCP_CONFIG_WATCH_MAX_STREAMS_PER_PRINCIPAL",
        default_value_t = 1024
    )]
    pub watch_max_streams_per_principal: usize,
}

/// TLS on both listeners.
#[derive(Clone, Args, Serialize)]
pub struct TlsSettings {
    /// PEM certificate (chain) for both listeners; with `--tls-key`, they serve TLS only.
    #[arg(long, env = "MCP_CONFIG_TLS_CERT")]
    pub tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of `--tls-cert`.
    #[arg(long, env = "MCP_CONFIG_TLS_KEY")]
    pub tls_key: Option<std::path::PathBuf>,

    /// PEM CA whose client certificates the gRPC listener requires (mTLS for MCP servers).
    #[arg(long, env = "MCP_CONFIG_TLS_CLIENT_CA")]
    pub tls_client_ca: Option<std::path::PathBuf>,

    /// Seconds a client has to finish the TLS handshake.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(),
        env = "MCP_CONFIG_TLS_HANDSHAKE_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub tls_handshake_timeout_secs: u64,
}

/// Bounds on client connections, on both listeners.
#[derive(Clone, Args, Serialize)]
pub struct ConnectionSettings {
    /// Open connections allowed on each listener; more are closed as soon as accepted.
    #[arg(
        long,
        value_parser = at_least_one::<usize>(), env = "MCP_CONFIG_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,

    /// Open connections allowed from one client address (an IPv6 /64 counts as one) on each
    /// listener; more are closed as soon as accepted.
    #[arg(
        long,
        value_parser = at_least_one::<usize>(),
        env = "MCP_CONFIG_MAX_CONNECTIONS_PER_PEER",
        default_value_t = 256
    )]
    pub max_connections_per_peer: usize,

    /// Seconds a connection may move no bytes either way before it is closed.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(), env = "MCP_CONFIG_IDLE_TIMEOUT_SECS", default_value_t = 300)]
    pub idle_timeout_secs: u64,

    /// Seconds an HTTP/1 client has to send a request's headers (also the keep-alive wait
    /// between requests), and any client on either port to send its first bytes.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(),
        env = "MCP_CONFIG_HEADER_READ_TIMEOUT_SECS",
        default_value_t = 10
    )]
    pub header_read_timeout_secs: u64,

    /// Seconds of silence from an HTTP/2 client before the server pings it; below
    /// `--idle-timeout-secs`, so the answers keep quiet clients (Watch streams) from idling out.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(), env = "MCP_CONFIG_HTTP2_KEEPALIVE_SECS", default_value_t = 30)]
    pub http2_keepalive_secs: u64,

    /// Seconds an HTTP/2 client has to answer a ping before its connection is closed.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(),
        env = "MCP_CONFIG_HTTP2_KEEPALIVE_TIMEOUT_SECS",
        default_value_t = 20
    )]
    pub http2_keepalive_timeout_secs: u64,

    /// Concurrent streams (calls) allowed on one HTTP/2 connection, on either listener.
    #[arg(
        long,
        value_parser = at_least_one::<u32>(), env = "MCP_CONFIG_MAX_CONCURRENT_STREAMS", default_value_t = 128)]
    pub max_concurrent_streams: u32,
}

/// The MCP endpoint (`/mcp/{server}`).
#[derive(Clone, Args, Serialize)]
pub struct McpSettings {
    /// MCP sessions (legacy `initialize` clients) and `subscriptions/listen` streams one
    /// replica holds open at most at `/mcp/{server}`; more are refused with an MCP error.
    #[arg(
        long,
        value_parser = at_least_one::<usize>(), env = "MCP_CONFIG_MCP_MAX_SESSIONS", default_value_t = 4096)]
    pub mcp_max_sessions: usize,

    /// MCP sessions and listen streams one token subject may hold open on one replica (a
    /// gateway or fleet sharing a token shares it; with `--auth none` everyone is one subject).
    #[arg(
        long,
        value_parser = at_least_one::<usize>(),
        env = "MCP_CONFIG_MCP_MAX_SESSIONS_PER_PRINCIPAL",
        default_value_t = 1024
    )]
    pub mcp_max_sessions_per_principal: usize,

    /// Seconds an MCP session may pass with no message either way before it is closed.
    #[arg(
        long,
        value_parser = at_least_one::<u64>(), env = "MCP_CONFIG_MCP_SESSION_IDLE_SECS", default_value_t = 300)]
    pub mcp_session_idle_secs: u64,

    /// Largest MCP request body, in bytes; larger ones are answered 413.
    #[arg(
        long,
        value_parser = at_least_one::<usize>(), env = "MCP_CONFIG_MCP_MAX_REQUEST_BYTES", default_value_t = 1024 * 1024)]
    pub mcp_max_request_bytes: usize,

    /// HS256 key (at least 32 bytes) the gateway signs a short-lived context token with
    /// (`x-mcp-config-context`: org, subject, server), for upstreams that verify rather than
    /// trust the context headers. Unset: no token is sent.
    #[arg(
        long,
        env = "MCP_CONFIG_GATEWAY_SIGNING_KEY",
        hide_env_values = true,
        value_parser = secret
    )]
    #[serde(serialize_with = "masked")]
    pub gateway_signing_key: Option<SecretString>,

    /// PEM CA certificates the gateway trusts for https upstreams besides the system's (an
    /// internal CA); the system's trust store alone when unset.
    #[arg(long, env = "MCP_CONFIG_GATEWAY_UPSTREAM_CA")]
    pub gateway_upstream_ca: Option<std::path::PathBuf>,
}

/// The HTTP port's admin API and web UI.
#[derive(Clone, Args, Serialize)]
pub struct HttpSettings {
    /// Admin API requests per second allowed to one token subject (bursts of twice that);
    /// more are answered 429.
    #[arg(long, env = "MCP_CONFIG_ADMIN_RATE_LIMIT", default_value_t = 50)]
    pub admin_rate_limit: u32,

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
}

/// Template render workers.
#[derive(Clone, Args, Serialize)]
pub struct RenderSettings {
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
}

/// Logs and traces.
#[derive(Clone, Args, Serialize)]
pub struct TelemetrySettings {
    /// OTLP/gRPC endpoint to export traces to (e.g. `http://otel-collector:4317`); unset: no export.
    #[arg(long, env = "MCP_CONFIG_OTLP_ENDPOINT")]
    #[serde(serialize_with = "redacted_optional")]
    pub otlp_endpoint: Option<String>,

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
        Duration::from_secs(self.cache.cache_ttl_secs)
    }

    pub fn relay_poll(&self) -> Duration {
        Duration::from_millis(self.propagation.relay_poll_ms.max(10))
    }

    /// How long a change may wait for the relay before the replica reports not ready.
    pub fn relay_bound(&self) -> Duration {
        Duration::from_secs(self.propagation.relay_stuck_secs)
    }

    /// How often quiet Watch streams and the Redis channel carry a progress event.
    pub fn progress_every(&self) -> Duration {
        Duration::from_secs(self.propagation.watch_progress_secs.max(1))
    }

    pub fn change_retention(&self) -> Duration {
        Duration::from_secs(self.store.change_retention_hours * 3600)
    }

    /// Checks what one flag alone cannot (each flag's own bounds are checked as it is parsed).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.access.auth == AuthMode::None {
            let ListenSettings {
                grpc_addr,
                http_addr,
            } = self.listen;
            for (name, addr) in [("grpc_addr", grpc_addr), ("http_addr", http_addr)] {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError(format!(
                        "MCP_CONFIG_AUTH=none is for development and only listens on loopback, but {name} is {addr}; \
                         use MCP_CONFIG_AUTH=jwt or a 127.0.0.1 address"
                    )));
                }
            }
        }
        let connections = &self.connections;
        if connections.http2_keepalive_secs >= connections.idle_timeout_secs {
            return Err(ConfigError(format!(
                "MCP_CONFIG_HTTP2_KEEPALIVE_SECS ({}) must be below MCP_CONFIG_IDLE_TIMEOUT_SECS ({}): \
                 the pings are what keep a quiet gRPC client (a Watch stream) from idling out",
                connections.http2_keepalive_secs, connections.idle_timeout_secs
            )));
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
    /// The effective configuration as `MCP_CONFIG_*` lines, in the order the flags are
    /// declared, credentials masked: each line's variable is its flag's, each value its
    /// field's as serialized (see the `serialize_with` of the credentials).
    pub fn describe(&self) -> String {
        let values = serde_json::to_value(self).expect("settings serialize");
        let flags = <Self as Args>::augment_args(clap::Command::new("serve"));
        flags
            .get_arguments()
            .filter_map(|flag| {
                let variable = flag.get_env()?.to_str()?;
                let value = shown(&values[flag.get_id().as_str()]);
                Some(format!("{variable}={value}\n"))
            })
            .collect()
    }
}

/// A setting's value as `config print` shows it.
fn shown(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "(unset)".to_owned(),
        serde_json::Value::String(text) => text.clone(),
        serde_json::Value::Array(items) => items.iter().map(shown).collect::<Vec<_>>().join(","),
        other => other.to_string(),
    }
}

/// A URL with its credentials masked.
fn redacted<S: Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_url(url))
}

fn redacted_optional<S: Serializer>(
    url: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match url {
        Some(url) => redacted(url, serializer),
        None => serializer.serialize_none(),
    }
}

/// A credential: whether it is set, never what it is.
fn masked<S: Serializer>(secret: &Option<SecretString>, serializer: S) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("***"),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use clap::Parser;

    /// [`Settings`] as `mcp-config serve` parses them, for the tests of what reads them.
    #[derive(Parser)]
    pub(crate) struct Cli {
        #[command(flatten)]
        pub(crate) settings: Settings,
    }

    #[test]
    fn the_defaults_are_the_designs() {
        let settings = Cli::parse_from(["mcp-config"]).settings;
        assert_eq!(settings.store.database_url, "sqlite://mcp-config.db");
        assert_eq!(settings.listen.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(settings.listen.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.redis.channel, "mcp-config:invalidations");
        assert_eq!(settings.access.auth, AuthMode::None);
        assert!(settings.redis.redis_url.is_none());
        settings.validate().unwrap();
    }

    #[test]
    fn a_zero_bound_is_refused_by_name() {
        for flag in [
            "--max-connections-per-peer",
            "--cache-bytes",
            "--watch-max-streams",
            "--mcp-max-sessions",
            "--max-concurrent-streams",
        ] {
            let err = Cli::try_parse_from(["mcp-config", &format!("{flag}=0")])
                .err()
                .unwrap_or_else(|| panic!("{flag}=0 accepted"));
            assert!(err.to_string().contains(flag), "{err}");
        }
        let err = Cli::try_parse_from(["mcp-config", "--channel="])
            .err()
            .unwrap();
        assert!(err.to_string().contains("--channel"), "{err}");
    }

    #[test]
    fn config_print_names_every_variable_once_and_masks_credentials() {
        let settings = Cli::parse_from([
            "mcp-config",
            "--jwt-secret=hunter2-hunter2-hunter2-hunter2-hunter2",
            "--database-url=postgres://app:hunter2@db/config",
            "--allowed-host=a.example,b.example",
        ])
        .settings;
        let printed = settings.describe();
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("MCP_CONFIG_JWT_SECRET=***\n"), "{printed}");
        assert!(
            printed.contains("MCP_CONFIG_ALLOWED_HOSTS=a.example,b.example\n"),
            "{printed}"
        );
        assert!(
            printed.contains("MCP_CONFIG_REDIS_URL=(unset)\n"),
            "{printed}"
        );
        assert!(
            printed.contains("MCP_CONFIG_JWT_ALGORITHM=HS256\n"),
            "{printed}"
        );
        assert!(printed.contains("MCP_CONFIG_AUTH=none\n"), "{printed}");
        let flags = <Settings as Args>::augment_args(clap::Command::new("serve"));
        let variables = flags
            .get_arguments()
            .filter(|f| f.get_env().is_some())
            .count();
        assert_eq!(printed.lines().count(), variables);
        assert!(
            variables >= 49,
            "every setting has its variable: {variables}"
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
        assert_eq!(settings.listen.grpc_addr.port(), 50051);
        let err = settings.validate().unwrap_err();
        assert!(
            err.to_string().contains("grpc_addr is 0.0.0.0:50051"),
            "{err}"
        );
    }
}
