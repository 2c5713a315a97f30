//! Authentication and authorization over both doors: a matrix of roles and orgs × operations,
//! and every kind of bad token refused without reading or writing anything.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use mcp_config_tests::{
    service::{Service, prompts, settings},
    tokens::{SECRET, example_with_jwt, jwt_service, now, token, token_with, with_token},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tonic::{Code, Request};

async fn start() -> (tempfile::TempDir, Service) {
    example_with_jwt(|_| {}).await
}

async fn grpc_read(service: &Service, token: Option<&str>, org: &str) -> Result<usize, Code> {
    let request = match token {
        Some(token) => with_token(prompts(org, "github"), token),
        None => Request::new(prompts(org, "github")),
    };
    let mut grpc = service.grpc().await;
    grpc.get_prompts(request)
        .await
        .map(|r| r.into_inner().prompts.len())
        .map_err(|s| s.code())
}

async fn http(
    service: &Service,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> StatusCode {
    let api = match token {
        Some(token) => service.api().as_token(token),
        None => service.api(),
    };
    let mut request = api.request(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.unwrap().status()
}

fn prompt_body(text: &str) -> Option<Value> {
    Some(json!({"content": {"messages": [{"role": "user", "text": text}]}}))
}

#[tokio::test]
async fn every_role_and_org_gets_exactly_its_rights_on_both_doors() {
    let (_dir, service) = start().await;
    const OK: bool = true;
    const NO: bool = false;
    // (who, token, [grpc acme, grpc globex, grpc no org, GET acme, PUT acme, PUT defaults, POST org])
    let matrix: Vec<(&str, String, [bool; 7])> = vec![
        (
            "global admin",
            token("root", None, &["admin"]),
            [OK, OK, OK, OK, OK, OK, OK],
        ),
        (
            "acme editor",
            token("ann", Some("acme"), &["editor"]),
            [OK, NO, OK, OK, OK, NO, NO],
        ),
        (
            "acme reader",
            token("rob", Some("acme"), &["reader"]),
            [OK, NO, OK, OK, NO, NO, NO],
        ),
        (
            "acme admin",
            token("ada", Some("acme"), &["admin"]),
            [OK, NO, OK, OK, OK, NO, NO],
        ),
        (
            "MCP server",
            token("github-mcp", None, &["service"]),
            [OK, OK, OK, OK, NO, NO, NO],
        ),
        (
            "globex editor",
            token("gil", Some("globex"), &["editor"]),
            [NO, OK, OK, NO, NO, NO, NO],
        ),
        (
            "no role",
            token("nobody", Some("acme"), &[]),
            [NO, NO, NO, NO, NO, NO, NO],
        ),
    ];
    for (i, (who, token, expected)) in matrix.iter().enumerate() {
        let t = Some(token.as_str());
        let got = [
            grpc_read(&service, t, "acme").await.is_ok(),
            grpc_read(&service, t, "globex").await.is_ok(),
            grpc_read(&service, t, "").await.is_ok(),
            http(
                &service,
                t,
                Method::GET,
                "/orgs/acme/servers/github/prompts",
                None,
            )
            .await
            .is_success(),
            http(
                &service,
                t,
                Method::PUT,
                "/orgs/acme/servers/github/prompts/matrix",
                prompt_body(who),
            )
            .await
            .is_success(),
            http(
                &service,
                t,
                Method::PUT,
                "/defaults/servers/github/prompts/matrix",
                prompt_body(who),
            )
            .await
            .is_success(),
            http(
                &service,
                t,
                Method::POST,
                "/orgs",
                Some(json!({"slug": format!("org{i}")})),
            )
            .await
            .is_success(),
        ];
        assert_eq!(
            &got, expected,
            "{who}: [grpc acme, grpc globex, grpc none, GET acme, PUT acme, PUT defaults, POST org]"
        );
    }
    // Denials are the right codes, and a user token without an org reads its own org.
    let acme_reader = token("rob", Some("acme"), &["reader"]);
    assert_eq!(
        grpc_read(&service, Some(&acme_reader), "globex").await,
        Err(Code::PermissionDenied)
    );
    assert_eq!(
        grpc_read(&service, Some(&acme_reader), "").await,
        Ok(5),
        "acme's view: 4 prompts and the matrix one"
    );
    let put = http(
        &service,
        Some(&acme_reader),
        Method::PUT,
        "/orgs/acme/servers/github/prompts/x",
        prompt_body("x"),
    )
    .await;
    assert_eq!(put, StatusCode::FORBIDDEN);

    // The actor of every change is the token's subject.
    let root = token("root", None, &["admin"]);
    let log: Value = service
        .api()
        .as_token(&root)
        .request(Method::GET, "/changes?org=acme&limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let actors: Vec<&str> = log["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["actor"].as_str().unwrap())
        .collect();
    assert!(
        actors.contains(&"ann") && actors.contains(&"ada") && actors.contains(&"root"),
        "{actors:?}"
    );
}

#[tokio::test]
async fn bad_tokens_are_rejected_and_change_nothing() {
    let (_dir, service) = start().await;
    let root = token("root", None, &["admin"]);
    let before = service.latest_revision_as(&root).await;
    let claims = |exp: u64| json!({"sub": "mallory", "roles": ["admin"], "exp": exp});
    let header_none = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = base64_url(&claims(now() + 600).to_string());
    let bad: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        (
            "expired",
            Some(token_with(claims(now() - 3600), Algorithm::HS256, SECRET)),
        ),
        (
            "not yet valid",
            Some(token_with(
                json!({"sub": "m", "roles": ["admin"], "exp": now() + 7200, "nbf": now() + 3600}),
                Algorithm::HS256,
                SECRET,
            )),
        ),
        (
            "wrong signature",
            Some(token_with(
                claims(now() + 600),
                Algorithm::HS256,
                "another-secret-that-is-also-long-enough",
            )),
        ),
        (
            "wrong algorithm",
            Some(token_with(claims(now() + 600), Algorithm::HS384, SECRET)),
        ),
        ("alg none", Some(format!("{header_none}.{payload}."))),
        (
            "no exp",
            Some(token_with(
                json!({"sub": "m", "roles": ["admin"]}),
                Algorithm::HS256,
                SECRET,
            )),
        ),
        ("malformed", Some("not.a.jwt".into())),
    ];
    for (what, token) in &bad {
        let t = token.as_deref();
        assert_eq!(
            grpc_read(&service, t, "acme").await,
            Err(Code::Unauthenticated),
            "{what} over gRPC"
        );
        let put = http(
            &service,
            t,
            Method::PUT,
            "/defaults/servers/github/prompts/evil",
            prompt_body("evil"),
        )
        .await;
        assert_eq!(put, StatusCode::UNAUTHORIZED, "{what} over HTTP");
        let get = http(
            &service,
            t,
            Method::GET,
            "/defaults/servers/github/prompts",
            None,
        )
        .await;
        assert_eq!(get, StatusCode::UNAUTHORIZED, "{what} reading over HTTP");
    }
    let basic = reqwest::Client::new()
        .get(service.admin("/defaults/servers/github/prompts"))
        .basic_auth("root", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        service.latest_revision_as(&root).await,
        before,
        "nothing was written"
    );
}

fn base64_url(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[tokio::test]
async fn health_stays_open_without_a_token() {
    let (_dir, service) = start().await;
    let ready = reqwest::get(service.url("/readyz")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_admin_api_limits_each_token_subject_separately() {
    let dir = tempfile::tempdir().unwrap();
    let service = jwt_service(dir.path(), |c| c.http.admin_rate_limit = 1).await;
    let (ann, bob) = (
        token("ann", None, &["admin"]),
        token("bob", None, &["admin"]),
    );
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..6 {
        let response = service
            .api()
            .as_token(&ann)
            .request(Method::GET, "/orgs")
            .send()
            .await
            .unwrap();
        statuses.push(response.status());
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(response);
        }
    }
    let refused = refused.unwrap_or_else(|| panic!("never limited: {statuses:?}"));
    assert_eq!(refused.headers()["retry-after"], "1", "told when to retry");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    assert_eq!(statuses[0], StatusCode::OK, "a burst is allowed");
    let other = service
        .api()
        .as_token(&bob)
        .request(Method::GET, "/orgs")
        .send()
        .await
        .unwrap();
    assert_eq!(
        other.status(),
        StatusCode::OK,
        "another token has its own budget"
    );
}

/// An EC P-256 key pair made with openssl: (PKCS#8 private key PEM, public key PEM).
fn ec_key(dir: &std::path::Path, name: &str) -> (Vec<u8>, std::path::PathBuf) {
    let sec1 = dir.join(format!("{name}.sec1"));
    let private = dir.join(format!("{name}.key"));
    let public = dir.join(format!("{name}.pub"));
    let run = |args: &[&str]| {
        assert!(
            std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap()
                .status
                .success(),
            "{args:?}"
        )
    };
    run(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        sec1.to_str().unwrap(),
    ]);
    run(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        sec1.to_str().unwrap(),
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "ec",
        "-in",
        sec1.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (std::fs::read(private).unwrap(), public)
}

fn es256_token(private_pem: &[u8], kid: Option<&str>, extra: Value) -> String {
    let mut claims = json!({"sub": "ec-user", "roles": ["admin"], "exp": now() + 600});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let mut header = Header::new(Algorithm::ES256);
    header.kid = kid.map(str::to_owned);
    encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(private_pem).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn es256_public_keys_jwks_reload_issuer_and_audience() {
    use mcp_config::config::JwtAlgorithm;
    let dir = tempfile::tempdir().unwrap();
    let (first_private, first_public) = ec_key(dir.path(), "first");
    let (second_private, _) = ec_key(dir.path(), "second");

    // A PEM public key, with issuer and audience required.
    let pem_service = jwt_service(dir.path(), |c| {
        c.access.jwt_algorithm = JwtAlgorithm::Es256;
        c.access.jwt_secret = None;
        c.access.jwt_public_key = Some(first_public.clone());
        c.access.jwt_issuer = Some("mcp-auth".into());
        c.access.jwt_audience = Some("mcp-config".into());
    })
    .await;
    let good = es256_token(
        &first_private,
        None,
        json!({"iss": "mcp-auth", "aud": "mcp-config"}),
    );
    assert!(grpc_read(&pem_service, Some(&good), "").await.is_ok());
    for (what, token) in [
        (
            "no issuer",
            es256_token(&first_private, None, json!({"aud": "mcp-config"})),
        ),
        (
            "wrong audience",
            es256_token(
                &first_private,
                None,
                json!({"iss": "mcp-auth", "aud": "elsewhere"}),
            ),
        ),
        (
            "another key",
            es256_token(
                &second_private,
                None,
                json!({"iss": "mcp-auth", "aud": "mcp-config"}),
            ),
        ),
        ("HS256 on an ES256 service", token("x", None, &["admin"])),
    ] {
        assert_eq!(
            grpc_read(&pem_service, Some(&token), "").await,
            Err(Code::Unauthenticated),
            "{what}"
        );
    }
    pem_service.stop().await;

    // A JWKS file, reloaded when it changes.
    let jwk = |private: &[u8], kid: &str| {
        let mut jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(
            &EncodingKey::from_ec_pem(private).unwrap(),
            Algorithm::ES256,
        )
        .unwrap();
        jwk.common.key_id = Some(kid.into());
        jwk
    };
    let jwks_path = dir.path().join("jwks.json");
    std::fs::write(
        &jwks_path,
        serde_json::to_vec(&json!({"keys": [jwk(&first_private, "k1")]})).unwrap(),
    )
    .unwrap();
    let jwks_service = jwt_service(dir.path(), |c| {
        c.access.jwt_algorithm = JwtAlgorithm::Es256;
        c.access.jwt_secret = None;
        c.access.jwt_jwks = Some(jwks_path.clone());
    })
    .await;
    let by_first = es256_token(&first_private, Some("k1"), json!({}));
    let by_second = es256_token(&second_private, Some("k2"), json!({}));
    assert!(grpc_read(&jwks_service, Some(&by_first), "").await.is_ok());
    assert_eq!(
        grpc_read(&jwks_service, Some(&by_second), "").await,
        Err(Code::Unauthenticated),
        "k2 not yet known"
    );
    let first_written = std::fs::metadata(&jwks_path).unwrap().modified().unwrap();
    std::fs::write(
        &jwks_path,
        serde_json::to_vec(
            &json!({"keys": [jwk(&first_private, "k1"), jwk(&second_private, "k2")]}),
        )
        .unwrap(),
    )
    .unwrap();
    // The service reloads when the file's modification time changes. Rewritten within the
    // same tick of a coarse file system clock, the file would look unchanged: its time is set
    // apart explicitly rather than by waiting for the clock to move on.
    std::fs::File::options()
        .write(true)
        .open(&jwks_path)
        .unwrap()
        .set_modified(first_written + std::time::Duration::from_secs(10))
        .unwrap();
    let reloaded = mcp_config_tests::eventually(std::time::Duration::from_secs(10), || async {
        grpc_read(&jwks_service, Some(&by_second), "").await.is_ok()
    })
    .await;
    assert!(reloaded, "the JWKS file was reloaded");
}

#[test]
fn auth_none_refuses_to_listen_beyond_loopback() {
    let mut config = settings("sqlite::memory:", None);
    config.listen.http_addr = "0.0.0.0:8080".parse().unwrap();
    let err = config.validate().unwrap_err();
    assert!(err.to_string().contains("MCP_CONFIG_AUTH=none"), "{err}");
}
