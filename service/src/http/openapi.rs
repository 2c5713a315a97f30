//! The OpenAPI document of the admin API, generated from the handlers' annotations (utoipa),
//! so it cannot drift from the code.
//!
//! Entry routes are annotated once, under `/admin/v1/defaults/…`; their `/admin/v1/orgs/{org}/…`
//! twins (served by the same handlers) are derived here with the extra path parameter.
//!
//! Each route lists its success body and the groups of error answers it can give (`answers`).

use utoipa::{
    OpenApi,
    openapi::{
        ObjectBuilder, Required, Type,
        path::{ParameterBuilder, ParameterIn},
    },
};

use super::{admin, error::ErrorBody};

#[derive(OpenApi)]
#[openapi(
    info(title = "mcp-config admin API", description = "Prompts and resources of the defaults and of each org: versions, rollback, bundles, the change log; the gateway's upstreams."),
    paths(
        admin::orgs::list_orgs,
        admin::orgs::create_org,
        admin::entries::list_entries,
        admin::entries::get_entry,
        admin::entries::put_entry,
        admin::entries::delete_entry,
        admin::entries::activate,
        admin::entries::deactivate,
        admin::versions::history,
        admin::versions::version,
        admin::versions::diff,
        admin::versions::rollback,
        admin::render::render_preview,
        admin::changes::changes,
        admin::bundle::import_bundle,
        admin::bundle::export_bundle,
        admin::upstreams::list_upstreams,
        admin::upstreams::get_upstream,
        admin::upstreams::put_upstream,
        admin::upstreams::delete_upstream,
        admin::upstreams::upstream_history,
        admin::upstreams::rollback_upstream,
        admin::releases::get_policy,
        admin::releases::put_policy,
        admin::releases::promote,
        admin::releases::entry_labels,
        admin::releases::list_labels,
        admin::releases::put_label,
        admin::releases::get_rollout,
        admin::releases::post_rollout,
        admin::webhooks::list_webhooks,
        admin::webhooks::create_webhook,
        admin::webhooks::all_webhooks,
        admin::webhooks::get_webhook,
        admin::webhooks::patch_webhook,
        admin::webhooks::delete_webhook,
        admin::webhooks::rotate_webhook,
        admin::webhooks::list_deliveries,
        admin::webhooks::redeliver,
        admin::webhooks::ping_webhook,
        admin::change_requests::list_policies,
        admin::change_requests::put_policy,
        admin::change_requests::delete_policy,
        admin::change_requests::list_requests,
        admin::change_requests::all_requests,
        admin::change_requests::open_request,
        admin::change_requests::get_request,
        admin::change_requests::edit_request,
        admin::change_requests::act,
    ),
    components(schemas(ErrorBody)),
    modifiers(&OrgRoutes),
)]
pub struct AdminApi;

struct OrgRoutes;

impl utoipa::Modify for OrgRoutes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let defaults_prefix = "/admin/v1/defaults/";
        let org = ParameterBuilder::new()
            .name("org")
            .parameter_in(ParameterIn::Path)
            .required(Required::True)
            .description(Some("org slug"))
            .example(Some("acme".into()))
            .schema(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some("^[a-z0-9][a-z0-9-]{0,62}$")),
            ))
            .build();
        let twins: Vec<_> = openapi
            .paths
            .paths
            .iter()
            .filter_map(|(path, item)| {
                let rest = path.strip_prefix(defaults_prefix)?;
                let mut item = item.clone();
                item.parameters
                    .get_or_insert_with(Vec::new)
                    .push(org.clone());
                Some((format!("/admin/v1/orgs/{{org}}/{rest}"), item))
            })
            .collect();
        openapi.paths.paths.extend(twins);
    }
}

/// The document as served at `/admin/v1/openapi.json`.
pub fn document() -> utoipa::openapi::OpenApi {
    AdminApi::openapi()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_entry_route_is_documented_for_defaults_and_orgs() {
        let document = super::document();
        let paths: Vec<&String> = document.paths.paths.keys().collect();
        for path in [
            "/admin/v1/orgs",
            "/admin/v1/changes",
            "/admin/v1/bundle",
            "/admin/v1/defaults/servers/{server}/{kind}/{key}",
            "/admin/v1/orgs/{org}/servers/{server}/{kind}/{key}",
            "/admin/v1/orgs/{org}/servers/{server}/{kind}/{key}/rollback",
        ] {
            assert!(
                paths.iter().any(|p| *p == path),
                "{path} missing from {paths:?}"
            );
        }
    }

    #[test]
    fn every_answer_of_every_route_has_a_described_body() {
        let document = super::document();
        for (path, item) in &document.paths.paths {
            let operations = [&item.get, &item.put, &item.post, &item.delete, &item.patch];
            for operation in operations.into_iter().flatten() {
                for (status, response) in &operation.responses.responses {
                    let utoipa::openapi::RefOr::T(response) = response else {
                        panic!("{path} {status}: a reference");
                    };
                    assert!(!response.content.is_empty(), "{path} {status}: no body");
                }
            }
        }
    }
}
