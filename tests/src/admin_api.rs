//! The admin API as tests use it: typed calls for what they do over and over (save a prompt,
//! roll back, read an entry, import), each answering the response as it came so a test can
//! assert on its status. A test of how the API meets bad input builds its request itself.

use reqwest::{Method, RequestBuilder, Response};
use serde_json::{Value, json};

use crate::service::Service;

/// The admin API of one service, called with a token or none.
pub struct AdminApi<'a> {
    service: &'a Service,
    token: Option<String>,
}

/// The path of an entry: `org` `""` for the defaults, `kind` `prompts` or `resources`, the key
/// one percent-encoded segment (a resource's URI has slashes).
fn entry_path(org: &str, server: &str, kind: &str, key: &str) -> String {
    let scope = if org.is_empty() {
        "/defaults".to_owned()
    } else {
        format!("/orgs/{org}")
    };
    let key = percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC);
    format!("{scope}/servers/{server}/{kind}/{key}")
}

impl<'a> AdminApi<'a> {
    pub(crate) fn new(service: &'a Service) -> Self {
        Self {
            service,
            token: None,
        }
    }

    /// The same calls with `token` as the bearer.
    pub fn as_token(self, token: &str) -> Self {
        Self {
            token: Some(token.to_owned()),
            ..self
        }
    }

    /// A request to `path` (under `/admin/v1`), with the token if any.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = reqwest::Client::new().request(method, self.service.admin(path));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// Saves `org`'s (`""`: the defaults') prompt `name` of `server` with `content`.
    pub async fn put_prompt(
        &self,
        org: &str,
        server: &str,
        name: &str,
        content: Value,
    ) -> Response {
        self.put(org, server, "prompts", name, content).await
    }

    /// Saves `org`'s resource `uri` of `server` with `content`.
    pub async fn put_resource(
        &self,
        org: &str,
        server: &str,
        uri: &str,
        content: Value,
    ) -> Response {
        self.put(org, server, "resources", uri, content).await
    }

    async fn put(
        &self,
        org: &str,
        server: &str,
        kind: &str,
        key: &str,
        content: Value,
    ) -> Response {
        self.request(Method::PUT, &entry_path(org, server, kind, key))
            .json(&json!({ "content": content }))
            .send()
            .await
            .expect("the admin API answers")
    }

    /// [`AdminApi::put_prompt`] of a prompt that is one user message of `text`.
    pub async fn put_text_prompt(
        &self,
        org: &str,
        server: &str,
        name: &str,
        text: &str,
    ) -> Response {
        self.put_prompt(
            org,
            server,
            name,
            json!({"messages": [{"role": "user", "text": text}]}),
        )
        .await
    }

    /// Rolls `org`'s entry back to `version`.
    pub async fn rollback(
        &self,
        org: &str,
        server: &str,
        kind: &str,
        key: &str,
        version: u64,
    ) -> Response {
        let path = format!("{}/rollback", entry_path(org, server, kind, key));
        self.request(Method::POST, &path)
            .json(&json!({ "version": version }))
            .send()
            .await
            .expect("the admin API answers")
    }

    /// Imports a YAML bundle.
    pub async fn import(&self, yaml: &str) -> Response {
        self.request(Method::POST, "/bundle")
            .header("content-type", "application/yaml")
            .body(yaml.to_owned())
            .send()
            .await
            .expect("the admin API answers")
    }

    /// `org`'s entry as the admin API shows it.
    pub async fn entry(&self, org: &str, server: &str, kind: &str, key: &str) -> Response {
        self.request(Method::GET, &entry_path(org, server, kind, key))
            .send()
            .await
            .expect("the admin API answers")
    }

    /// Sets `server`'s upstream to `upstream` (the registry entry's JSON).
    pub async fn put_upstream(&self, server: &str, upstream: Value) -> Response {
        self.request(Method::PUT, &format!("/servers/{server}/upstream"))
            .json(&json!({"upstream": upstream, "message": "test"}))
            .send()
            .await
            .expect("the admin API answers")
    }

    /// Every version of `server`'s upstream.
    pub async fn upstream_history(&self, server: &str) -> Response {
        self.request(Method::GET, &format!("/servers/{server}/upstream/versions"))
            .send()
            .await
            .expect("the admin API answers")
    }

    /// Sets `server`'s upstream to its `version` again.
    pub async fn rollback_upstream(&self, server: &str, version: u64) -> Response {
        self.request(
            Method::POST,
            &format!("/servers/{server}/upstream/rollback"),
        )
        .json(&json!({ "version": version }))
        .send()
        .await
        .expect("the admin API answers")
    }
}
