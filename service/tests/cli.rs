//! The real `mcp-config` binary: `serve` on the embedded default, `import` through the admin
//! API, reads over gRPC, and a clean exit (status 0) on SIGTERM.

use std::{
    net::TcpListener,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use mcp_config_proto::v1::{GetPromptsRequest, config_service_client::ConfigServiceClient};
use tokio::sync::Notify;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-config");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `mcp-config serve` on `database` and the given loopback ports, configured by environment.
fn serve(database: &str, grpc_port: u16, http_port: u16) -> std::process::Child {
    Command::new(BIN)
        .arg("serve")
        .env("MCP_CONFIG_DATABASE_URL", database)
        .env("MCP_CONFIG_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("MCP_CONFIG_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits (at most 20 s) for the server to exit after a signal.
async fn wait_for_exit(server: &mut std::process::Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = server.try_wait().unwrap() {
            return status;
        }
        assert!(
            Instant::now() < deadline,
            "the server did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn serve_import_read_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc_port, http_port) = (free_port(), free_port());
    let mut server = serve(
        &format!("sqlite://{}", dir.path().join("cli.db").display()),
        grpc_port,
        http_port,
    );
    wait_for_port(http_port);
    wait_for_port(grpc_port);

    // Before the first request, /metrics already lists every documented metric with its
    // help, and the process's own.
    let metrics = reqwest::get(format!("http://127.0.0.1:{http_port}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "mcp_config_grpc_requests_total",
        "mcp_config_grpc_request_seconds",
        "mcp_config_l1_hits_total",
        "mcp_config_l1_misses_total",
        "mcp_config_l1_evictions_total",
        "mcp_config_l1_bytes",
        "mcp_config_l2_errors_total",
        "mcp_config_store_load_seconds",
        "mcp_config_relay_lag",
        "mcp_config_relay_publish_errors_total",
        "mcp_config_subscriber_reconnects_total",
        "mcp_config_watch_streams",
        "mcp_config_connections_open",
        "mcp_config_connections_refused_total",
        "mcp_config_renders_timed_out_total",
    ] {
        assert!(
            metrics.contains(&format!("# HELP {name} ")),
            "{name} missing:\n{metrics}"
        );
    }
    for process in [
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_cpu_seconds_total",
    ] {
        assert!(
            metrics.contains(&format!("\n{process} ")),
            "{process} missing:\n{metrics}"
        );
    }

    let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/bundle.yaml");
    let import = Command::new(BIN)
        .args(["import", bundle])
        .env(
            "MCP_CONFIG_ADMIN_URL",
            format!("http://127.0.0.1:{http_port}"),
        )
        .output()
        .unwrap();
    let printed = String::from_utf8_lossy(&import.stdout);
    assert!(
        import.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&import.stderr)
    );
    assert!(printed.contains("15 added"), "{printed}");

    let mut grpc = ConfigServiceClient::connect(format!("http://127.0.0.1:{grpc_port}"))
        .await
        .unwrap();
    let request = GetPromptsRequest {
        org_id: "acme".into(),
        server: "github".into(),
        ..Default::default()
    };
    let acme = grpc.get_prompts(request).await.unwrap().into_inner();
    assert_eq!(acme.prompts.len(), 4);

    let export = Command::new(BIN)
        .args(["export", "--format", "json"])
        .env(
            "MCP_CONFIG_ADMIN_URL",
            format!("http://127.0.0.1:{http_port}"),
        )
        .output()
        .unwrap();
    let exported: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(
        exported["orgs"]["globex"]["servers"]["github"]["hidden_prompts"][0],
        "triage-issue"
    );

    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = wait_for_exit(&mut server).await;
    assert_eq!(status.code(), Some(0));
}

#[test]
fn import_without_a_reachable_admin_api_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, "defaults:\n  github:\n    prompts:\n      x:\n        messages: [{role: user, text: '{% if %}'}]\n").unwrap();
    // No server runs on this port: the CLI must say so rather than hang or panic.
    let unreachable = Command::new(BIN)
        .args(["import", file.to_str().unwrap()])
        .env(
            "MCP_CONFIG_ADMIN_URL",
            format!("http://127.0.0.1:{}", free_port()),
        )
        .output()
        .unwrap();
    assert!(!unreachable.status.success());
    assert!(String::from_utf8_lossy(&unreachable.stderr).contains("cannot reach the admin API"));
}

#[test]
fn serve_help_documents_every_flag_with_its_variable() {
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for variable in [
        "MCP_CONFIG_DATABASE_URL",
        "MCP_CONFIG_REDIS_URL",
        "MCP_CONFIG_GRPC_ADDR",
        "MCP_CONFIG_HTTP_ADDR",
        "MCP_CONFIG_CHANNEL",
        "MCP_CONFIG_AUTH",
    ] {
        assert!(
            text.contains(variable),
            "{variable} missing from serve --help"
        );
    }
}

#[tokio::test]
async fn sigterm_under_write_load_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("load.db").display());
    let (grpc_port, http_port) = (free_port(), free_port());
    let mut server = serve(&database, grpc_port, http_port);
    wait_for_port(http_port);
    let http = reqwest::Client::new();
    // The signal must come while the writers are in full flow: once this many writes are
    // acknowledged, whatever the machine's speed, rather than after a guessed time.
    const UNDER_WAY: usize = 20;
    let acked = Arc::new(AtomicUsize::new(0));
    let under_way = Arc::new(Notify::new());
    let writers: Vec<_> = (0..4)
        .map(|writer| {
            let http = http.clone();
            let (acked, under_way) = (acked.clone(), under_way.clone());
            tokio::spawn(async move {
                let mut acknowledged = Vec::new();
                for i in 0.. {
                    let name = format!("w{writer}-{i}");
                    let url = format!("http://127.0.0.1:{http_port}/admin/v1/defaults/servers/load/prompts/{name}");
                    let body = serde_json::json!({"content": {"messages": [{"role": "user", "text": "x"}]}});
                    match http.put(url).json(&body).send().await {
                        Ok(response) if response.status().is_success() => {
                            acknowledged.push(name);
                            if acked.fetch_add(1, Ordering::Relaxed) + 1 == UNDER_WAY {
                                under_way.notify_one();
                            }
                        }
                        Ok(_) => {}
                        Err(_) => break,
                    }
                }
                acknowledged
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), under_way.notified())
        .await
        .expect("the writers got under way");
    assert!(
        Command::new("kill")
            .args(["-TERM", &server.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    let status = wait_for_exit(&mut server).await;
    assert_eq!(status.code(), Some(0));
    assert!(
        !acknowledged.is_empty(),
        "some writes were made before the signal"
    );

    let store = mcp_config::store::Store::connect(&database, 1)
        .await
        .unwrap();
    let server = mcp_config::domain::Slug::parse("server", "load").unwrap();
    let stored = store
        .list_entries(
            mcp_config::domain::Kind::Prompts,
            &server,
            &mcp_config::domain::Scope::Defaults,
        )
        .await
        .unwrap();
    let stored: std::collections::HashSet<String> = stored.into_iter().map(|h| h.key).collect();
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|k| !stored.contains(*k))
        .collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(
        store.unpublished(0, 1).await.unwrap().is_empty(),
        "the relay flushed before exiting"
    );
}

#[test]
fn config_print_layers_file_under_environment_under_flags_and_masks_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("mcp-config.toml");
    std::fs::write(
        &file,
        "database_url = \"postgres://app:s3cret@db/config\"\ncache_ttl_secs = 60\nrelay_poll_ms = 250\nchannel = \"from-file\"\n",
    )
    .unwrap();
    let output = Command::new(BIN)
        .args([
            "config",
            "print",
            "--config",
            file.to_str().unwrap(),
            "--channel",
            "from-flag",
        ])
        .env("MCP_CONFIG_CACHE_TTL_SECS", "99")
        .env("MCP_CONFIG_CHANNEL", "from-env")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("MCP_CONFIG_RELAY_POLL_MS=250\n"),
        "file over default: {text}"
    );
    assert!(
        text.contains("MCP_CONFIG_CACHE_TTL_SECS=99\n"),
        "environment over file: {text}"
    );
    assert!(
        text.contains("MCP_CONFIG_CHANNEL=from-flag\n"),
        "flag over environment: {text}"
    );
    assert!(
        text.contains("MCP_CONFIG_DATABASE_URL=postgres://app:***@db/config\n"),
        "password masked: {text}"
    );
    assert!(!text.contains("s3cret"));

    // Every credential form the drivers accept, not only a URL's userinfo.
    let output = Command::new(BIN)
        .args(["config", "print"])
        .env(
            "MCP_CONFIG_DATABASE_URL",
            "postgres://app@db/config?password=pg-s3cret&sslmode=require",
        )
        .env(
            "MCP_CONFIG_REDIS_URL",
            "redis-sentinel://s1:26379/main?sentinelPassword=sentinel-s3cret",
        )
        .env(
            "MCP_CONFIG_OTLP_ENDPOINT",
            "http://otel:otlp-s3cret@collector:4317",
        )
        .env(
            "MCP_CONFIG_JWT_SECRET",
            "jwt-s3cret-that-is-long-enough-for-hs256",
        )
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    for secret in ["pg-s3cret", "sentinel-s3cret", "otlp-s3cret", "jwt-s3cret"] {
        assert!(!text.contains(secret), "{secret} shown: {text}");
    }
    assert!(
        text.contains("sslmode=require"),
        "the rest is shown: {text}"
    );

    std::fs::write(&file, "cache_ttl = 5\n").unwrap();
    let bad = Command::new(BIN)
        .args(["config", "print", "--config", file.to_str().unwrap()])
        .output()
        .unwrap();
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success());
    assert_eq!(
        message.trim().lines().count(),
        1,
        "one clear line: {message}"
    );
    assert!(
        message.contains("unknown setting \"cache_ttl\""),
        "{message}"
    );
}

/// An HS256 token of `sub` (in `org`) with `roles`, for a server started with [`JWT_SECRET`].
fn token(sub: &str, org: Option<&str>, roles: &[&str]) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut claims = serde_json::json!({"sub": sub, "roles": roles, "exp": exp});
    if let Some(org) = org {
        claims["org"] = org.into();
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes()),
    )
    .unwrap()
}

const JWT_SECRET: &str = "a-cli-test-secret-that-is-long-enough";

/// Runs the CLI against the admin API on `http_port` with `token`: exit success, stdout, stderr.
fn cli(http_port: u16, token: &str, args: &[&str]) -> (bool, String, String) {
    let output = Command::new(BIN)
        .args(args)
        .env(
            "MCP_CONFIG_ADMIN_URL",
            format!("http://127.0.0.1:{http_port}"),
        )
        .env("MCP_CONFIG_TOKEN", token)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn change_requests_are_opened_approved_and_applied_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let (grpc_port, http_port) = (free_port(), free_port());
    let mut server = Command::new(BIN)
        .arg("serve")
        .env(
            "MCP_CONFIG_DATABASE_URL",
            format!("sqlite://{}", dir.path().join("cr.db").display()),
        )
        .env("MCP_CONFIG_GRPC_ADDR", format!("127.0.0.1:{grpc_port}"))
        .env("MCP_CONFIG_HTTP_ADDR", format!("127.0.0.1:{http_port}"))
        .env("MCP_CONFIG_AUTH", "jwt")
        .env("MCP_CONFIG_JWT_SECRET", JWT_SECRET)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(http_port);
    let (root, ann, bob) = (
        token("root", None, &["admin"]),
        token("ann", Some("acme"), &["editor"]),
        token("bob", Some("acme"), &["editor"]),
    );
    let bundle = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/bundle.yaml");
    let (ok, _, err) = cli(http_port, &root, &["import", bundle]);
    assert!(ok, "{err}");
    let manual = reqwest::Client::new()
        .put(format!(
            "http://127.0.0.1:{http_port}/admin/v1/orgs/acme/servers/github/release-policy"
        ))
        .bearer_auth(&root)
        .json(&serde_json::json!({"policy": "manual"}))
        .send()
        .await
        .unwrap();
    assert_eq!(manual.status(), 200);
    let scope = ["--server", "github", "--org", "acme"];
    let set = [
        &["change-request", "set-policy"][..],
        &scope,
        &["--approvals", "1"],
    ]
    .concat();
    let (ok, out, err) = cli(http_port, &root, &set);
    assert!(ok && out.contains("\"approvals\":1"), "{out}{err}");

    let request = dir.path().join("request.yaml");
    std::fs::write(
        &request,
        "title: Shorter checklist\nedits:\n  - kind: PROMPTS\n    key: review-pr\n    content:\n      messages: [{role: user, text: From the CLI}]\nmoves:\n  - {label: production, kind: PROMPTS, key: review-pr}\n",
    )
    .unwrap();
    let open = [
        &["change-request", "open"][..],
        &scope,
        &[request.to_str().unwrap(), "--submit"],
    ]
    .concat();
    let (ok, out, err) = cli(http_port, &ann, &open);
    assert!(ok, "{out}{err}");
    let opened: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(opened["state"], "in_review");
    let id = opened["id"].as_u64().unwrap().to_string();

    let hash = opened["content_hash"].as_str().unwrap().to_owned();
    let (ok, _, err) = cli(
        http_port,
        &ann,
        &["change-request", "approve", &id, "--hash", &hash],
    );
    assert!(
        !ok && err.contains("author"),
        "the author's own approval is refused: {err}"
    );
    let (ok, out, err) = cli(
        http_port,
        &bob,
        &[
            "change-request",
            "approve",
            &id,
            "--hash",
            &hash,
            "--message",
            "lgtm",
        ],
    );
    assert!(ok && out.contains("\"state\":\"approved\""), "{out}{err}");
    let (ok, out, err) = cli(http_port, &bob, &["change-request", "apply", &id]);
    assert!(ok && out.contains("\"state\":\"applied\""), "{out}{err}");
    let list = [
        &["change-request", "list"][..],
        &scope,
        &["--state", "applied"],
    ]
    .concat();
    let (ok, out, _) = cli(http_port, &bob, &list);
    assert!(ok && out.contains(&format!("\"id\":{id}")), "{out}");

    let mut grpc = ConfigServiceClient::connect(format!("http://127.0.0.1:{grpc_port}"))
        .await
        .unwrap();
    let mut read = tonic::Request::new(GetPromptsRequest {
        org_id: "acme".into(),
        server: "github".into(),
        ..Default::default()
    });
    read.metadata_mut()
        .insert("authorization", format!("Bearer {root}").parse().unwrap());
    let acme = grpc.get_prompts(read).await.unwrap().into_inner();
    let review = acme.prompts.iter().find(|p| p.name == "review-pr").unwrap();
    assert_eq!(review.messages[0].text, "From the CLI");
    server.kill().unwrap();
    server.wait().unwrap();
}
