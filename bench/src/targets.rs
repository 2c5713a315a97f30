//! The servers a load run targets: the service itself, and the baselines it is compared to.

use std::net::SocketAddr;

use anyhow::Context;
use clap::ValueEnum;
use mcp_config::{
    app::App,
    cache::ViewKey,
    domain::{Kind, Scope, Slug},
    edits::{Editor, Missing},
    relay::RelayHandle,
    store::Store,
    views::load_from_store,
};
use mcp_config_proto::{
    EncodedResponse,
    server::config_service_server::{ConfigService, ConfigServiceServer},
    v1::{
        GetPromptRequest, GetPromptResponse, GetPromptsRequest, GetResourcesRequest,
        InvalidationEvent, ReadResourceRequest, ReadResourceResponse, WatchRequest,
    },
};
use tonic::{Request, Response, Status, transport::server::TcpIncoming};

use crate::fixture;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// mcp-config, answering from its L1 cache.
    Service,
    /// A bare tonic server returning the same precomputed bytes: the ceiling.
    Bare,
    /// A tonic server that queries the database and merges on every request: what users do
    /// without this service.
    Direct,
}

/// Serves `target` on `addr` until killed.
pub async fn serve(
    target: Target,
    addr: SocketAddr,
    database_url: &str,
    size: &str,
) -> anyhow::Result<()> {
    // Every target runs as `mcp-config serve` does: with its log subscriber installed. Without
    // one, tracing hands every disabled span of h2, hyper and tower to the `log` crate instead
    // (~3 % of a 2 KB request), a cost no deployed server pays.
    let _telemetry = mcp_config::telemetry::init(mcp_config::config::LogFormat::Pretty, None)?;
    match target {
        Target::Service => {
            // Seeded before it listens, so the first request already sees the data.
            seed(database_url).await?;
            let settings = mcp_config_tests::service::settings(database_url, None);
            let settings = mcp_config::config::Settings {
                grpc_addr: addr,
                ..settings
            };
            let app = App::build(&settings)
                .await
                .context("building the service")?;
            println!("ready");
            app.wait().await;
        }
        Target::Bare => {
            let body = fixture::encoded(size, 1).full();
            println!("ready");
            serve_grpc(addr, Baseline::Bare(body)).await?;
        }
        Target::Direct => {
            let store = seed(database_url).await?;
            println!("ready");
            serve_grpc(addr, Baseline::Direct(store)).await?;
        }
    }
    Ok(())
}

/// Creates the schema and the fixture's data in `database_url`.
async fn seed(database_url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(database_url, 16).await?;
    store.migrate().await?;
    let editor = Editor::new(store.clone(), RelayHandle::default());
    editor
        .import(&fixture::bundle(), Missing::Keep, false, "bench")
        .await?;
    Ok(store)
}

async fn serve_grpc(addr: SocketAddr, baseline: Baseline) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tonic::transport::Server::builder()
        .add_service(ConfigServiceServer::new(baseline))
        .serve_with_incoming(TcpIncoming::from(listener).with_nodelay(Some(true)))
        .await?;
    Ok(())
}

enum Baseline {
    Bare(EncodedResponse),
    Direct(Store),
}

fn unimplemented<T>() -> Result<T, Status> {
    Err(Status::unimplemented("baselines serve GetPrompts only"))
}

#[tonic::async_trait]
impl ConfigService for Baseline {
    async fn get_prompts(
        &self,
        request: Request<GetPromptsRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        match self {
            Baseline::Bare(body) => Ok(Response::new(body.clone())),
            Baseline::Direct(store) => {
                let r = request.into_inner();
                let key = ViewKey {
                    kind: Kind::Prompts,
                    scope: Scope::parse_optional("org_id", &r.org_id)
                        .map_err(|e| Status::invalid_argument(e.to_string()))?,
                    server: Slug::parse("server", &r.server)
                        .map_err(|e| Status::invalid_argument(e.to_string()))?,
                };
                let (view, _) = load_from_store(store, &key)
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                Ok(Response::new(view.full()))
            }
        }
    }

    async fn get_resources(
        &self,
        _: Request<GetResourcesRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        unimplemented()
    }

    async fn get_prompt(
        &self,
        _: Request<GetPromptRequest>,
    ) -> Result<Response<GetPromptResponse>, Status> {
        unimplemented()
    }

    async fn read_resource(
        &self,
        _: Request<ReadResourceRequest>,
    ) -> Result<Response<ReadResourceResponse>, Status> {
        unimplemented()
    }

    type WatchStream = tokio_stream::Empty<Result<InvalidationEvent, Status>>;

    async fn watch(&self, _: Request<WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        unimplemented()
    }
}
