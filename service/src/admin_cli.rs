//! The commands that talk to a running service through its admin API: where they send
//! (`AdminClient`), how an answer becomes output or an error, and the change-request commands.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use serde_json::{Value, json};

/// Where CLI commands send their requests.
#[derive(Args)]
pub struct AdminClient {
    /// Base URL of the admin API.
    #[arg(
        long,
        env = "MCP_CONFIG_ADMIN_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub admin_url: String,
    /// Bearer token sent to the admin API.
    #[arg(long, env = "MCP_CONFIG_TOKEN", hide_env_values = true)]
    token: Option<String>,
}

impl AdminClient {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let url = format!("{}/admin/v1{path}", self.admin_url.trim_end_matches('/'));
        let request = reqwest::Client::new().request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }
}

/// The response body, or an error with the API's message.
pub async fn checked(response: reqwest::Response) -> anyhow::Result<String> {
    let status = response.status();
    let body = response
        .text()
        .await
        .context("reading the admin API's response")?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
            .unwrap_or(body);
        bail!("admin API answered {status}: {message}");
    }
    Ok(body)
}

/// Sends one request and prints the JSON answer (nothing for an empty one).
pub async fn send(
    admin: &AdminClient,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> anyhow::Result<()> {
    let mut request = admin.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .with_context(|| format!("cannot reach the admin API at {}", admin.admin_url))?;
    let text = checked(response).await?;
    if !text.is_empty() {
        println!("{text}");
    }
    Ok(())
}

/// Where a change request or an approval policy belongs.
#[derive(Args)]
pub struct ScopeArgs {
    /// The MCP server.
    #[arg(long)]
    server: String,
    /// The org (default: the defaults).
    #[arg(long)]
    org: Option<String>,
}

impl ScopeArgs {
    fn path(&self, rest: &str) -> String {
        match &self.org {
            Some(org) => format!("/orgs/{org}/servers/{}/{rest}", self.server),
            None => format!("/defaults/servers/{}/{rest}", self.server),
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ApproverRole {
    Editor,
    Admin,
}

#[derive(Subcommand)]
pub enum ChangeRequestCommand {
    /// A scope's change requests, newest first.
    List {
        #[command(flatten)]
        scope: ScopeArgs,
        /// Only those in this state (draft, in_review, approved, scheduled, applied, rejected,
        /// cancelled).
        #[arg(long)]
        state: Option<String>,
    },
    /// One request: what it saves and moves, who approved, its trail.
    Show {
        id: u64,
    },
    /// Open a request from a file (YAML or JSON: `title`, `description`, `edits`, `moves`, as
    /// the admin API takes it).
    Open {
        #[command(flatten)]
        scope: ScopeArgs,
        file: PathBuf,
        /// Open it for review at once instead of as a draft.
        #[arg(long)]
        submit: bool,
    },
    /// Replace what a request holds (its author only; approvals of other content stop counting).
    Edit {
        id: u64,
        file: PathBuf,
    },
    /// Submit a draft for review.
    Submit {
        id: u64,
    },
    /// Approve what you reviewed: `--hash` is the `content_hash` `show` printed (if the
    /// request changed since, nothing is approved).
    Approve {
        id: u64,
        #[arg(long)]
        hash: String,
        #[arg(long, default_value = "")]
        message: String,
    },
    Reject {
        id: u64,
        #[arg(long, default_value = "")]
        message: String,
    },
    Comment {
        id: u64,
        #[arg(long)]
        message: String,
    },
    /// Apply an approved request at a time (RFC 3339, e.g. 2026-12-24T06:00:00Z).
    Schedule {
        id: u64,
        #[arg(long)]
        at: String,
    },
    Unschedule {
        id: u64,
    },
    /// Apply an approved request now, in one transaction.
    Apply {
        id: u64,
    },
    Cancel {
        id: u64,
    },
    /// A scope's approval policies.
    Policies {
        #[command(flatten)]
        scope: ScopeArgs,
    },
    /// Require approvals to move a label of a scope (admins).
    SetPolicy {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long, default_value = "production")]
        label: String,
        /// 1 to 10.
        #[arg(long)]
        approvals: u64,
        #[arg(long, value_enum, default_value = "editor")]
        approver_role: ApproverRole,
        /// Only this subject may approve (repeatable).
        #[arg(long = "approver")]
        approvers: Vec<String>,
    },
    /// Let a label move directly again (admins).
    DeletePolicy {
        #[command(flatten)]
        scope: ScopeArgs,
        #[arg(long, default_value = "production")]
        label: String,
    },
}

/// A request file's JSON: YAML unless it ends in `.json`.
fn read_request(file: &PathBuf) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    if file.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))
    } else {
        serde_saphyr::from_str(&text).with_context(|| format!("{} is not YAML", file.display()))
    }
}

impl ChangeRequestCommand {
    pub async fn run(self, admin: &AdminClient) -> anyhow::Result<()> {
        use reqwest::Method;
        let action = |id: u64, action: &str, body: Value| {
            (
                Method::POST,
                format!("/change-requests/{id}/{action}"),
                Some(body),
            )
        };
        let (method, path, body) = match self {
            Self::List { scope, state } => {
                let query = state.map(|s| format!("?state={s}")).unwrap_or_default();
                (
                    Method::GET,
                    scope.path(&format!("change-requests{query}")),
                    None,
                )
            }
            Self::Show { id } => (Method::GET, format!("/change-requests/{id}"), None),
            Self::Open {
                scope,
                file,
                submit,
            } => {
                let mut body = read_request(&file)?;
                if !body.is_object() {
                    bail!("{}: a change request is a mapping", file.display());
                }
                if submit {
                    body["submit"] = json!(true);
                }
                (Method::POST, scope.path("change-requests"), Some(body))
            }
            Self::Edit { id, file } => (
                Method::PATCH,
                format!("/change-requests/{id}"),
                Some(read_request(&file)?),
            ),
            Self::Submit { id } => action(id, "submit", json!({})),
            Self::Approve { id, hash, message } => action(
                id,
                "approve",
                json!({"content_hash": hash, "message": message}),
            ),
            Self::Reject { id, message } => action(id, "reject", json!({"message": message})),
            Self::Comment { id, message } => action(id, "comment", json!({"message": message})),
            Self::Schedule { id, at } => action(id, "schedule", json!({"at": at})),
            Self::Unschedule { id } => action(id, "unschedule", json!({})),
            Self::Apply { id } => action(id, "apply", json!({})),
            Self::Cancel { id } => action(id, "cancel", json!({})),
            Self::Policies { scope } => (Method::GET, scope.path("approval-policies"), None),
            Self::SetPolicy {
                scope,
                label,
                approvals,
                approver_role,
                approvers,
            } => (
                Method::PUT,
                scope.path(&format!("approval-policies/{label}")),
                Some(json!({
                    "approvals": approvals,
                    "approver_role": match approver_role {
                        ApproverRole::Editor => "editor",
                        ApproverRole::Admin => "admin",
                    },
                    "approvers": approvers,
                })),
            ),
            Self::DeletePolicy { scope, label } => (
                Method::DELETE,
                scope.path(&format!("approval-policies/{label}")),
                None,
            ),
        };
        send(admin, method, &path, body).await
    }
}
