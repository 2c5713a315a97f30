//! The gRPC door: `ConfigService`, plus health and reflection on the same port.
//!
//! Handlers are thin: parse the request into domain types, call one function of [`Views`] or
//! the event stream, map the error in [`status`].

mod status;
mod watch;

use axum::http;
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
pub use watch::{WatchLimits, Watcher};

use crate::{
    auth::{self, Authenticator, Principal},
    domain::{EntryKey, InvalidInput, Kind, Label, Scope, Slug, ViewKey},
    error::Error,
    render,
    views::{ListQuery, Views},
};

/// Largest page a caller may ask for; 0 asks for the whole view.
pub const MAX_PAGE_SIZE: u32 = 10_000;

pub struct ConfigApi {
    views: Views,
    watcher: Watcher,
}

impl ConfigApi {
    pub fn new(views: Views, watcher: Watcher) -> Self {
        Self { views, watcher }
    }
}

/// The caller (put there by the authentication interceptor) and the org of its `x-org-id`
/// metadata, if any.
fn caller<T>(request: &Request<T>) -> Result<(&Principal, Option<Scope>), Error> {
    let principal = request
        .extensions()
        .get::<Principal>()
        .ok_or_else(|| Error::Unauthenticated("no credentials".into()))?;
    let header_org = auth::header_org(request.metadata().as_ref())?;
    Ok((principal, header_org))
}

/// The view a read may see: the requested org as the caller's token allows, at the requested
/// label.
fn view_key<T>(
    request: &Request<T>,
    kind: Kind,
    org_id: &str,
    server: &str,
    label: &str,
) -> Result<ViewKey, Error> {
    let (principal, header_org) = caller(request)?;
    let requested = Scope::parse_optional("org_id", org_id)?;
    let server = Slug::parse("server", server)?;
    let label = Label::parse("label", label)?;
    let scope = auth::read_scope(principal, requested, header_org)?;
    Ok(ViewKey {
        kind,
        scope,
        server,
        label,
    })
}

fn list_query(
    key: ViewKey,
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
        key,
        known_revision: known,
        page_size: page_size as usize,
        cursor,
    })
}

#[tonic::async_trait]
impl ConfigService for ConfigApi {
    async fn get_prompts(
        &self,
        request: Request<GetPromptsRequest>,
    ) -> Result<Response<EncodedResponse>, Status> {
        let key = view_key(
            &request,
            Kind::Prompts,
            &request.get_ref().org_id,
            &request.get_ref().server,
            &request.get_ref().label,
        )
        .map_err(to_status)?;
        let r = request.into_inner();
        let query = list_query(key, r.known_revision, r.page_size, r.cursor).map_err(to_status)?;
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
        let key = view_key(
            &request,
            Kind::Resources,
            &request.get_ref().org_id,
            &request.get_ref().server,
            &request.get_ref().label,
        )
        .map_err(to_status)?;
        let r = request.into_inner();
        let query = list_query(key, r.known_revision, r.page_size, r.cursor).map_err(to_status)?;
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
        let key = view_key(
            &request,
            Kind::Prompts,
            &request.get_ref().org_id,
            &request.get_ref().server,
            &request.get_ref().label,
        )
        .map_err(to_status)?;
        let r = request.into_inner();
        let name = EntryKey::parse(Kind::Prompts, &r.name).map_err(to_status)?;
        render::check_arguments(&r.arguments).map_err(to_status)?;
        self.views
            .render_prompt(&key, &name, r.arguments)
            .await
            .map(Response::new)
            .map_err(to_status)
    }

    async fn read_resource(
        &self,
        request: Request<ReadResourceRequest>,
    ) -> Result<Response<ReadResourceResponse>, Status> {
        let key = view_key(
            &request,
            Kind::Resources,
            &request.get_ref().org_id,
            &request.get_ref().server,
            &request.get_ref().label,
        )
        .map_err(to_status)?;
        let uri = EntryKey::parse(Kind::Resources, &request.get_ref().uri).map_err(to_status)?;
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
        let principal = caller(&request).map_err(to_status)?.0.clone();
        let r = request.into_inner();
        let slugs = |field: &str, values: &[String]| {
            values
                .iter()
                .enumerate()
                .map(|(i, v)| Slug::parse(&format!("{field}[{i}]"), v))
                .collect::<Result<Vec<_>, _>>()
                .map_err(to_status)
        };
        let servers = slugs("servers", &r.servers)?;
        let orgs = auth::watch_filter(&principal, slugs("orgs", &r.orgs)?).map_err(to_status)?;
        let label = (!r.label.is_empty())
            .then(|| Label::parse("label", &r.label))
            .transpose()
            .map_err(to_status)?;
        self.watcher
            .watch(&principal, r.since_revision, orgs, servers, label)
            .await
            .map(Response::new)
            .map_err(to_status)
    }
}

/// The gRPC interceptor that authenticates every call and hands the principal to the handler.
pub fn authenticate(
    authenticator: Authenticator,
) -> impl Fn(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |mut request: Request<()>| {
        let header = request
            .metadata()
            .as_ref()
            .get(http::header::AUTHORIZATION)
            .map(|v| v.to_str().unwrap_or(""));
        let principal = authenticator.authenticate(header).map_err(to_status)?;
        request.extensions_mut().insert(principal);
        Ok(request)
    }
}
