//! The servers a load run targets: the service itself, and the baselines it is compared to.

use std::net::SocketAddr;

use anyhow::Context;
use clap::ValueEnum;
use mcp_config::{
    app::App,
    domain::{Kind, Label, Scope, Slug, ViewKey},
    edits::Editor,
    propagation::relay::RelayHandle,
    store::{Store, ViewRow},
    views::{load_from_store, merge_and_encode},
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
    /// without this service (sqlx, a pool, as the service itself reads).
    Direct,
    /// The same with tokio-postgres: one connection, concurrent queries pipelined on it, a
    /// prepared statement.
    DirectTokioPostgres,
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
            let mut settings = mcp_config_tests::service::settings(database_url, None);
            settings.listen.grpc_addr = addr;
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
        Target::DirectTokioPostgres => {
            seed(database_url).await?;
            let (client, connection) =
                tokio_postgres::connect(database_url, tokio_postgres::NoTls).await?;
            tokio::spawn(connection);
            let view = client.prepare(VIEW_QUERY).await?;
            println!("ready");
            serve_grpc(addr, Baseline::DirectTokioPostgres { client, view }).await?;
        }
    }
    Ok(())
}

/// Creates the schema and the fixture's data in `database_url`.
async fn seed(database_url: &str) -> anyhow::Result<Store> {
    let store = Store::connect(database_url, 16).await?;
    store.migrate().await?;
    fixture::import(&Editor::new(
        store.clone(),
        RelayHandle::default(),
        mcp_config_tests::service::renderer(),
    ))
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
    DirectTokioPostgres {
        client: tokio_postgres::Client,
        view: tokio_postgres::Statement,
    },
}

/// The view's query as a user would write it: defaults and the org's overrides of one server,
/// with the current content of each (the service's own query, less its snapshot revision).
const VIEW_QUERY: &str = "SELECT e.org, e.key, e.active, e.deleted, e.revision, v.body \
     FROM entries e LEFT JOIN entry_versions v ON v.kind = e.kind AND v.server = e.server \
     AND v.org = e.org AND v.key = e.key AND v.version = e.version \
     WHERE e.kind = $1 AND e.server = $2 AND e.org IN ('', $3)";

fn view_key(request: &GetPromptsRequest) -> Result<ViewKey, Status> {
    Ok(ViewKey {
        kind: Kind::Prompts,
        scope: Scope::parse_optional("org_id", &request.org_id)
            .map_err(|e| Status::invalid_argument(e.to_string()))?,
        server: Slug::parse("server", &request.server)
            .map_err(|e| Status::invalid_argument(e.to_string()))?,
        label: Label::Production,
    })
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
                let key = view_key(request.get_ref())?;
                let (view, _) = load_from_store(store, &key)
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                Ok(Response::new(view.full()))
            }
            Baseline::DirectTokioPostgres { client, view } => {
                let key = view_key(request.get_ref())?;
                let rows = client
                    .query(
                        view,
                        &[
                            &key.kind.as_str(),
                            &key.server.as_str(),
                            &key.scope.as_str(),
                        ],
                    )
                    .await
                    .map_err(|e| Status::unavailable(e.to_string()))?;
                let rows = rows
                    .iter()
                    .map(|row| {
                        Ok(ViewRow {
                            org: Scope::parse_optional("org", row.get(0))
                                .map_err(|e| Status::unavailable(e.to_string()))?,
                            key: row.get(1),
                            active: row.get(2),
                            deleted: row.get(3),
                            revision: row.get::<_, i64>(4) as u64,
                            body: row.get(5),
                        })
                    })
                    .collect::<Result<_, Status>>()?;
                let view = merge_and_encode(key.kind, rows, false)
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
