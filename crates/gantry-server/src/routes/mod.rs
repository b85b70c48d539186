//! The router: every route with its OpenAPI description, built from the same handler list so
//! the document cannot drift from what is served.

pub mod apps;
pub mod leaks;
pub mod oauth;
pub mod orgs;
pub mod system;
pub mod tokens;
pub mod trust;
pub mod users;

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::Router;
use std::time::Duration;
use tower_http::timeout::TimeoutLayer;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "gantry",
        description = "Scoped, expiring, revocable deploy credentials. Authenticate with \
            `Authorization: Bearer <token>`. Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}`; \
            401 and 403 carry an RFC 6750 `WWW-Authenticate: Bearer` challenge. 404 also means \
            \"you may not know this exists\". Alert rules send their events as Standard \
            Webhooks v1 (signed with the rule's `whsec_` secret) or as mail; every node's \
            dispatcher sends them, retrying on a fixed schedule. The web dashboard served at `/` is not part of this API: its \
            session cookie does not authenticate these routes.",
    ),
    security(("bearer" = [])),
    tags(
        (name = "system"), (name = "users"), (name = "orgs"), (name = "apps"), (name = "deploys"),
        (name = "env"), (name = "config"), (name = "alerts"), (name = "tokens"), (name = "audit"), (name = "oauth"), (name = "trust"),
    )
)]
struct ApiDoc;

/// Adds the bearer scheme and the error answers every authenticated operation can give.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
        for (path, item) in openapi.paths.paths.iter_mut() {
            let public = !path.starts_with("/v1")
                || path == "/v1/auth/login"
                || path == "/v1/openapi.json"
                || path == "/v1/oauth/revoke"
                || path == "/v1/oauth/token";
            let ops: [&mut Option<Operation>; 5] = [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ];
            for op in ops.into_iter().flatten() {
                let writes = op.request_body.is_some();
                let mut add = |code: &str, what: &str| {
                    let resp = ResponseBuilder::new()
                        .description(what)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    op.responses
                        .responses
                        .entry(code.to_owned())
                        .or_insert(resp.into());
                };
                if writes {
                    add("400", "Malformed request (e.g. invalid JSON)");
                    add("415", "Wrong content type");
                    add("422", "Invalid input; `error.field` names the field");
                    add("413", "Body too large");
                }
                if !public || path == "/v1/auth/login" {
                    add(
                        "429",
                        "Too many failed attempts from this client (or at this token prefix or email); see `Retry-After`",
                    );
                }
                if !public {
                    add("401", "No, malformed, unknown, expired or revoked token");
                    add("403", "Authenticated but not allowed");
                    add(
                        "404",
                        "Does not exist, or the caller may not know it exists",
                    );
                    add("422", "Invalid query or input");
                }
            }
        }
    }
}

/// Routes with a normal body limit and request timeout.
fn api_routes(timeout: Duration, max_json: usize) -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .routes(routes!(system::openapi))
        .routes(routes!(users::login))
        .routes(routes!(users::whoami))
        .routes(routes!(users::change_password))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user))
        .routes(routes!(orgs::list_orgs, orgs::create_org))
        .routes(routes!(orgs::get_org))
        .routes(routes!(orgs::list_members))
        .routes(routes!(orgs::get_org_policy, orgs::put_org_policy))
        .routes(routes!(orgs::put_member, orgs::delete_member))
        .routes(routes!(orgs::list_alerts, orgs::create_alert))
        .routes(routes!(orgs::update_alert, orgs::delete_alert))
        .routes(routes!(orgs::rotate_alert_secret))
        .routes(routes!(orgs::test_alert))
        .routes(routes!(orgs::list_deliveries))
        .routes(routes!(orgs::retry_delivery))
        .routes(routes!(apps::list_apps, apps::create_app))
        .routes(routes!(apps::get_app, apps::delete_app))
        .routes(routes!(apps::list_releases))
        .routes(routes!(apps::get_release))
        .routes(routes!(apps::get_artifact))
        .routes(routes!(apps::list_env))
        .routes(routes!(apps::put_env, apps::delete_env))
        .routes(routes!(apps::get_config, apps::put_config))
        .routes(routes!(
            tokens::create_deploy_token,
            tokens::list_app_tokens
        ))
        .routes(routes!(tokens::create_org_token, tokens::list_org_tokens))
        .routes(routes!(
            tokens::create_personal_token,
            tokens::list_my_tokens
        ))
        .routes(routes!(tokens::list_tokens))
        .routes(routes!(
            tokens::get_token,
            tokens::update_token,
            tokens::revoke_token
        ))
        .routes(routes!(tokens::rotate_token))
        .routes(routes!(tokens::rotate_self))
        .routes(routes!(tokens::list_audit))
        .routes(routes!(oauth::check))
        .routes(routes!(oauth::introspect))
        .routes(routes!(oauth::revoke))
        .routes(routes!(leaks::revoke_credentials))
        .routes(routes!(leaks::github_secret_scanning))
        .routes(routes!(oauth::token))
        .routes(routes!(
            trust::create_trust_policy,
            trust::list_trust_policies
        ))
        .routes(routes!(trust::get_trust_policy, trust::delete_trust_policy))
        .routes(routes!(trust::test_trust_policy))
        .layer(DefaultBodyLimit::max(max_json))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
}

/// The upload route: bounded by size (the artifact limit) instead of time.
fn upload_routes(max_artifact: u64) -> OpenApiRouter<AppState> {
    let slack = 1024 * 1024;
    let limit = usize::try_from(max_artifact.saturating_add(slack)).unwrap_or(usize::MAX);
    OpenApiRouter::new()
        .routes(routes!(apps::push_deploy))
        .layer(DefaultBodyLimit::max(limit))
}

/// The OpenAPI document of every route, with the shared conventions applied.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes(Duration::from_secs(1), 1)
        .merge(upload_routes(1))
        .split_for_parts();
    // After the routes are in: a `modifiers(...)` on the derive would run on an empty document.
    Conventions.modify(&mut doc);
    doc
}

/// The whole router over `state`.
pub fn router(state: AppState) -> Router {
    let config = state.config.clone();
    let (router, _) = api_routes(config.request_timeout, config.max_json_bytes)
        .merge(upload_routes(state.gantry.settings().max_artifact_bytes))
        .split_for_parts();
    router
        .merge(crate::dashboard::router(config.request_timeout))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not accept that method",
            )
        })
        // Inside `observe`, so a caught panic is logged and counted as the 500 it answers.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(
            crate::panics::caught,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::observe::observe,
        ))
        .with_state(state)
}

/// The metrics listener's router: `GET /metrics` only.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", axum::routing::get(system::metrics))
        .with_state(state)
}
