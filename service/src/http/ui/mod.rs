//! `/ui`: the admin web UI, server-rendered HTML whose forms work without JavaScript (htmx,
//! vendored, only makes some of them partial).
//!
//! Every page reads through the [`crate::catalog::Catalog`] and every action writes through the
//! [`crate::edits::Editor`], as the admin API does, with the signed-in subject as the actor: a
//! change made here is published like any other. The handlers parse, check rights with
//! [`crate::auth`] and render; nothing else.
//!
//! Entry pages live twice, under `/ui/defaults/{server}` and `/ui/orgs/{org}/{server}`, served by
//! the same handlers (as the admin API's routes are).

mod assets;
mod bundle;
mod change_requests;
mod changes;
mod diff;
mod draft;
mod edit;
mod entry;
mod fields;
mod guard;
mod history;
mod listeners;
mod orgs;
mod overrides;
mod overview;
mod page;
mod place;
mod playground;
mod releases;
mod scope;
mod session;
mod upstreams;
mod webhooks;

use axum::{
    Router, middleware,
    response::Redirect,
    routing::{get, post},
};

use super::HttpState;

/// The UI's routes; `/` redirects to them.
pub fn routes(state: HttpState) -> Router<HttpState> {
    let mut signed_in = Router::new()
        .route("/ui/", get(overview::page))
        .route("/ui/orgs", get(orgs::page).post(orgs::create))
        .route("/ui/changes", get(changes::page))
        .route("/ui/bundle", get(bundle::page))
        .route("/ui/bundle/preview", post(bundle::preview))
        .route("/ui/bundle/apply", post(bundle::apply))
        .route("/ui/bundle/export", get(bundle::export))
        .route("/ui/upstreams", get(upstreams::list).post(upstreams::set))
        .route("/ui/upstreams/{server}", get(upstreams::page))
        .route("/ui/upstreams/{server}/rollback", post(upstreams::rollback))
        .route("/ui/upstreams/{server}/delete", post(upstreams::delete))
        .route("/ui/webhooks", get(webhooks::list).post(webhooks::create))
        .route("/ui/webhooks/{id}", get(webhooks::page))
        .route("/ui/webhooks/{id}/{action}", post(webhooks::act))
        .route(
            "/ui/webhooks/{id}/deliveries/{delivery}/redeliver",
            post(webhooks::redeliver),
        )
        .route("/ui/change-requests", get(change_requests::list))
        .route("/ui/change-requests/{id}", get(change_requests::page))
        .route(
            "/ui/change-requests/{id}/{action}",
            post(change_requests::act),
        )
        .route("/ui/orgs/{org}/{server}/overrides", get(overrides::page))
        .route("/ui/listeners", get(listeners::page))
        .route("/ui/logout", post(session::sign_out));
    for scope in ["/ui/defaults/{server}", "/ui/orgs/{org}/{server}"] {
        let at = |path: &str| format!("{scope}{path}");
        signed_in = signed_in
            .route(scope, get(scope::page))
            .route(&at("/new/{kind}"), get(edit::new_entry))
            .route(&at("/edit/{kind}"), post(edit::edit))
            .route(&at("/check/{kind}"), post(edit::check))
            .route(&at("/save/{kind}"), post(edit::save))
            .route(&at("/draft"), post(playground::draft))
            .route(&at("/{kind}/{key}"), get(entry::page))
            .route(&at("/{kind}/{key}/edit"), get(edit::existing_entry))
            .route(&at("/{kind}/{key}/compare"), get(history::compare))
            .route(&at("/{kind}/{key}/history"), get(history::page))
            .route(&at("/{kind}/{key}/labels"), get(releases::page))
            .route(
                &at("/{kind}/{key}/promote"),
                get(releases::confirm_promote).post(releases::promote),
            )
            .route(&at("/{kind}/{key}/policy"), post(releases::policy))
            .route(&at("/{kind}/{key}/rollout"), post(releases::rollout))
            .route(
                &at("/{kind}/{key}/rollback"),
                get(history::confirm_rollback).post(history::rollback),
            )
            .route(
                &at("/{kind}/{key}/playground"),
                get(playground::page).post(playground::render),
            )
            .route(
                &at("/{kind}/{key}/delete"),
                get(entry::confirm_delete).post(entry::delete),
            )
            .route(&at("/{kind}/{key}/switch/{action}"), post(entry::switch));
    }
    let signed_in = signed_in.layer(middleware::from_fn_with_state(
        state,
        session::require_sign_in,
    ));
    guard::guarded(
        Router::new()
            .route("/", get(|| async { Redirect::to("/ui/") }))
            .route("/ui", get(|| async { Redirect::to("/ui/") }))
            .route("/ui/login", get(session::page).post(session::sign_in))
            .route("/ui/login/oidc", get(session::start_sso))
            .route("/ui/login/oidc/callback", get(session::finish_sso))
            .route("/ui/assets/{file}", get(assets::serve))
            .merge(signed_in),
    )
}
