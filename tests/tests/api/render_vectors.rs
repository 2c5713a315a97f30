//! The shared render vectors (`client/render-vectors/`) through the real service: each vector's
//! prompt saved as a default, rendered by `GetPrompt`. The clients' local renderers are checked
//! against the same files, so a vector the service disagrees with fails here first.

use std::{collections::HashMap, path::PathBuf};

use mcp_config_proto::v1::GetPromptRequest;
use mcp_config_tests::service::Service;
use serde_json::Value;
use tonic::Code;

fn vectors() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../client/render-vectors");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
        .collect()
}

#[tokio::test]
async fn the_service_renders_every_shared_vector_as_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let service = Service::sqlite(&dir).await;
    let vectors = vectors();
    assert!(vectors.len() >= 5);
    let mut grpc = service.grpc().await;
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let saved = service
            .api()
            .put_prompt("", "vectors", name, vector["prompt"].clone())
            .await;
        assert_eq!(
            saved.status(),
            200,
            "{name}: {}",
            saved.text().await.unwrap()
        );
        let arguments: HashMap<String, String> =
            serde_json::from_value(vector["arguments"].clone()).unwrap_or_default();
        let rendered = grpc
            .get_prompt(GetPromptRequest {
                server: "vectors".into(),
                name: name.into(),
                arguments,
                ..Default::default()
            })
            .await;
        let expect = &vector["expect"];
        match (
            expect.get("texts"),
            expect.get("missing_argument"),
            rendered,
        ) {
            (Some(texts), None, Ok(answer)) => {
                let got: Vec<String> = answer
                    .into_inner()
                    .messages
                    .into_iter()
                    .map(|m| m.text)
                    .collect();
                assert_eq!(serde_json::to_value(&got).unwrap(), *texts, "{name}");
            }
            (None, Some(missing), Err(status)) => {
                assert_eq!(status.code(), Code::InvalidArgument, "{name}: {status:?}");
                let missing = missing.as_str().unwrap();
                assert_eq!(
                    status.message(),
                    format!("arguments.{missing}: missing argument {missing:?}"),
                    "{name}"
                );
            }
            (_, _, other) => panic!("{name}: {other:?}"),
        }
    }
}
