//! C-VIEW-5: concurrent reads of one view share one request. A test binary of its own: it
//! counts the service's `GetPrompts` calls on the process-wide metrics, which another test
//! running alongside would add to.

use mcp_config_client::{ClientConfig, ConfigClient, Source};
use mcp_config_tests::service::{EXAMPLE_BUNDLE, Service};

/// `GetPrompts` calls the service has answered OK, from its metrics.
async fn get_prompts_answered(service: &Service) -> f64 {
    service
        .metric(
            "mcp_config_grpc_requests_total",
            &[r#"method="GetPrompts""#, r#"code="OK""#],
        )
        .await
}

#[tokio::test]
async fn s_view_4_concurrent_reads_of_one_view_share_one_request() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    service.import(EXAMPLE_BUNDLE).await;
    let client = ConfigClient::connect(ClientConfig {
        source: Source::None,
        ..ClientConfig::new(format!("http://{}", service.grpc_addr))
    })
    .await
    .unwrap();
    let before = get_prompts_answered(&service).await;
    let reads = (0..100).map(|_| client.prompts("globex", "github"));
    let views = futures::future::join_all(reads).await;
    let after = get_prompts_answered(&service).await;
    assert_eq!(
        after - before,
        1.0,
        "one GetPrompts for 100 concurrent reads"
    );
    let revisions: Vec<u64> = views.into_iter().map(|v| v.unwrap().revision).collect();
    assert!(revisions.iter().all(|r| *r == revisions[0]));
}
