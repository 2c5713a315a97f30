//! The gRPC door: `ConfigService`, plus health and reflection on the same port.
//!
//! Handlers are thin: parse the request into domain types, call one function of [`Views`] or
//! the event stream, map the error in [`status`].

mod status;
mod watch;

use std::collections::HashMap;

use mcp_config_proto::{
    EncodedResponse,
    server::config_service_server::ConfigService,
    v1::{
        GetPromptRequest, GetPromptResponse, GetPromptsRequest, GetResourcesRequest,
        ReadResourceRequest, ReadResourceResponse, WatchRequest,
    },
};
use tonic::{Request, Response, Status};

pub use status::to_status;
pub use watch::Watcher;

use crate::{
    cache::ViewKey,
    domain::{EntryKey, InvalidInput, Kind, Scope, Slug},
    views::{ListQuery, Views},
};

/// Largest page a caller may ask for; 0 asks for the whole view.
pub const MAX_PAGE_SIZE: u32 = 10_000;
/// Most arguments a render may carry, and the largest value of one.
const MAX_ARGUMENTS: usize = 64;
const MAX_ARGUMENT_BYTES: usize = 64 * 1024;

pub struct ConfigApi {
    views: Views,
    watcher: Watcher,
}

impl ConfigApi {
    pub fn new(views: Views, watcher: Watcher) -> Self {
        Self { views, watcher }
    }
}

fn view_key(kind: Kind, org_id: &str, server: &str) -> Result<ViewKey, InvalidInput> {
    Ok(ViewKey {
        kind,
        scope: Scope::parse_optional("org_id", org_id)?,
        server: Slug::parse("server", server)?,
    })
}

fn list_query(
    kind: Kind,
    org_id: &str,
    server: &str,
    known: u64,
    page_size: u32,
    cursor: String,
) -> Result<ListQuery, InvalidInput> {
    if page_size > MAX_PAGE_SIZE {
        return Err(InvalidInput::new(
            "page_size",
            format!("at most {MAX_PAGE_SIZE}"),
        ));
    }
    Ok(ListQuery {
        key: view_key(kind, org_id, server)?,
        known_revision: known,
        page_size: page_size as usize,
        cursor,
    })
}

fn check_arguments(arguments: &HashMap<String, String>) -> Result<(), InvalidInput> {
    if arguments.len() > MAX_ARGUMENTS {
        return Err(InvalidInput::new(
            "arguments",
            format!("at most {MAX_ARGUMENTS} arguments"),
        ));
    }
    match arguments.iter().find(|(_, v)| v.len() > MAX_ARGUMENT_BYTES) {
        Some((name, _)) => Err(InvalidInput::new(
            format!("arguments.{name}"),
            format!("longer than {MAX_ARGUMENT_BYTES} bytes"),
        )),
        None => Ok(()),
    }
}

#[tonic::async_trait]
impl ConfigService for ConfigApi {
    async fn get_prompts(
        &self,
        request: Request<GetPromptsRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        let r = request.into_inner();
        let query = list_query(
            Kind::Prompts,
            &r.org_id,
            &r.server,
            r.known_revision,
            r.page_size,
            r.cursor,
        )
        .map_err(to_status)?;
        self.views
            .list(&query)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn get_resources(
        &self,
        request: Request<GetResourcesRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        let r = request.into_inner();
        let query = list_query(
            Kind::Resources,
            &r.org_id,
            &r.server,
            r.known_revision,
            r.page_size,
            r.cursor,
        )
        .map_err(to_status)?;
        self.views
            .list(&query)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn get_prompt(
        &self,
        request: Request<GetPromptRequest>,
    ) -> Result<Response<GetPromptResponse>, Status> {
        let r = request.into_inner();
        let key = view_key(Kind::Prompts, &r.org_id, &r.server).map_err(to_status)?;
        let name = EntryKey::parse(Kind::Prompts, &r.name).map_err(to_status)?;
        check_arguments(&r.arguments).map_err(to_status)?;
        self.views
            .render_prompt(&key, &name, &r.arguments)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn read_resource(
        &self,
        request: Request<ReadResourceRequest>,
    ) -> Result<Response<ReadResourceResponse>, Status> {
        let r = request.into_inner();
        let key = view_key(Kind::Resources, &r.org_id, &r.server).map_err(to_status)?;
        let uri = EntryKey::parse(Kind::Resources, &r.uri).map_err(to_status)?;
        self.views
            .read_resource(&key, &uri)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    type WatchStream = watch::EventStream;

    async fn watch(
        &self,
        request: Request<WatchRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let r = request.into_inner();
        for (i, org) in r.orgs.iter().enumerate() {
            Slug::parse(&format!("orgs[{i}]"), org).map_err(to_status)?;
        }
        for (i, server) in r.servers.iter().enumerate() {
            Slug::parse(&format!("servers[{i}]"), server).map_err(to_status)?;
        }
        self.watcher
            .watch(r.since_revision, r.orgs, r.servers)
            .await
            .map(Response::new)
            .map_err(to_status)
    }
}
