//! The dashboard's pages and form handlers. Each parses its form, calls one domain method
//! with the session's caller, and renders or redirects; permissions, validation and audit
//! are the domain's.

use super::layout::{self, csrf, page, time, token_table, when, ExpiryChoices, Nav};
use super::{
    clear_cookie, cookie_value, local_path, public_base, secure_request, set_cookie, DashError,
    Signed, LOGIN_COOKIE, SESSION_COOKIE,
};
use crate::extract::ClientIp;
use crate::state::AppState;
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gantry_api::{
    CreateAppRequest, CreateOrgRequest, CreateTokenRequest, CreateUserRequest, Role,
    RotateTokenRequest, TokenKind, UpdateTokenRequest, UpdateUserRequest,
};
use gantry_core::model::{TokenRecord, TokenScope};
use gantry_core::service::{AuditQuery, TokenQuery};
use gantry_core::{validate, CoreError};
use maud::{html, Markup};
use serde::Deserialize;

type Page = Result<Response, DashError>;

/// A domain error as a page whose way back is `back`.
pub(super) fn failed(e: CoreError, back: &str) -> Response {
    if let CoreError::Unauthenticated(_) = e {
        return Redirect::to("/login").into_response();
    }
    let api = crate::error::ApiError::from(e);
    layout::error_page(api.status, &api.message, back)
}

/// A form field as the domain wants it: trimmed, CRLF as LF, empty as none.
fn text(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(|v| v.replace("\r\n", "\n"))
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn choices(state: &AppState) -> ExpiryChoices {
    let policy = &state.gantry.settings().token_policy;
    let now = state.gantry.now();
    ExpiryChoices {
        allow_never: policy.allows_never(),
        default_days: policy.default_lifetime().as_secs() / 86_400,
        max_days: policy.max_lifetime.map(|d| d.as_secs() / 86_400),
        // The last day whose end (23:59:59 UTC) is still within the cap.
        last_date: policy.max_lifetime.and_then(|d| {
            chrono::DateTime::from_timestamp_millis(now.plus(d).0).map(|t| {
                (t - chrono::Duration::days(1))
                    .format("%Y-%m-%d")
                    .to_string()
            })
        }),
    }
}

#[derive(Deserialize, Default)]
pub struct StatusQuery {
    status: Option<String>,
}

impl StatusQuery {
    fn showing_revoked(&self) -> bool {
        self.status.as_deref() == Some("all")
    }
    fn token_query(&self) -> TokenQuery {
        TokenQuery {
            status: self.status.clone().filter(|s| !s.is_empty()),
            ..Default::default()
        }
    }
}

// --- sign in and out

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(
    status: StatusCode,
    token: &str,
    next: Option<&str>,
    error: Option<&str>,
) -> Response {
    layout::bare(
        status,
        "Sign in",
        html! {
            div.login {
                h1 { "Sign in to gantry" }
                @if let Some(e) = error { div.notice.error role="alert" { (e) } }
                form.stack.panel method="post" action="/login" {
                    input type="hidden" name="_csrf" value=(token);
                    @if let Some(n) = next { input type="hidden" name="next" value=(n); }
                    div.field {
                        label for="email" { "Email" }
                        input #email type="email" name="email" required autocomplete="username" autofocus;
                    }
                    div.field {
                        label for="password" { "Password" }
                        input #password type="password" name="password" required autocomplete="current-password";
                    }
                    div { button type="submit" { "Sign in" } }
                }
            }
        },
    )
}

/// `GET /login`: the form, with a fresh CSRF cookie of its own.
pub async fn login_form(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<NextQuery>,
) -> Response {
    // One sign-in cookie per browser: a second tab (or the Back button) keeps a form that works.
    let token = cookie_value(&parts.headers, LOGIN_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
    let next = local_path(q.next.as_deref());
    let mut resp = login_page(StatusCode::OK, &token, next.as_deref(), None);
    resp.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(
            LOGIN_COOKIE,
            &token,
            "/login",
            86_400,
            secure_request(&parts, &state),
        ),
    );
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    next: Option<String>,
}

/// `POST /login`: a session on success; the form again with the reason otherwise.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    parts: Parts,
    Form(f): Form<LoginForm>,
) -> Response {
    let secure = secure_request(&parts, &state);
    let next = local_path(f.next.as_deref());
    let token = cookie_value(&parts.headers, LOGIN_COOKIE).unwrap_or_default();
    match state
        .gantry
        .start_session(&f.email, &f.password, ip.as_deref())
        .await
    {
        Ok((secret, _)) => {
            let ttl = i64::try_from(state.gantry.settings().session_ttl.as_secs()).unwrap_or(0);
            let mut resp = Redirect::to(next.as_deref().unwrap_or("/")).into_response();
            let h = resp.headers_mut();
            h.append(
                header::SET_COOKIE,
                set_cookie(SESSION_COOKIE, secret.expose_secret(), "/", ttl, secure),
            );
            h.append(
                header::SET_COOKIE,
                clear_cookie(LOGIN_COOKIE, "/login", secure),
            );
            resp
        }
        // 422, not 401: a 401 must carry a WWW-Authenticate challenge, and a form is not one.
        Err(CoreError::Unauthenticated(_)) => login_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            &token,
            next.as_deref(),
            Some("Wrong email or password, or the account is disabled."),
        ),
        Err(CoreError::RateLimited { retry_after }) => {
            let secs = retry_after.as_secs().max(1);
            let mut resp = login_page(
                StatusCode::TOO_MANY_REQUESTS,
                &token,
                next.as_deref(),
                Some(&format!(
                    "Too many failed sign-ins from here or for this account. Try again in {secs} s."
                )),
            );
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut().insert(header::RETRY_AFTER, v);
            }
            resp
        }
        Err(e) => DashError(e).into_response(),
    }
}

/// `POST /logout`: ends the session on every node.
pub async fn logout(State(state): State<AppState>, ClientIp(ip): ClientIp, parts: Parts) -> Page {
    if let Some(secret) = cookie_value(&parts.headers, SESSION_COOKIE) {
        state.gantry.end_session(&secret, ip.as_deref()).await?;
    }
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut().append(
        header::SET_COOKIE,
        clear_cookie(SESSION_COOKIE, "/", secure_request(&parts, &state)),
    );
    Ok(resp)
}

// --- orgs and apps

/// `GET /`: every org the user can see, with its apps.
pub async fn overview(State(state): State<AppState>, me: Signed) -> Page {
    let g = &state.gantry;
    let orgs = g.list_orgs(&me.caller).await?;
    let mut sections = Vec::with_capacity(orgs.len());
    for (org, role) in &orgs {
        let apps = match g.list_apps(&me.caller, &org.slug).await {
            Ok(apps) => apps,
            Err(CoreError::Forbidden(_) | CoreError::NotFound(_)) => Vec::new(),
            Err(e) => return Err(DashError(e)),
        };
        sections.push((org, role, apps));
    }
    let body = html! {
        h1 { "Orgs & apps" }
        @if sections.is_empty() {
            p.empty { "You are not a member of any org yet. Create one below." }
        }
        div.grid2 {
            @for (org, role, apps) in &sections {
                section.panel.org aria-labelledby=(format!("orgh-{}", org.slug)) {
                    h2 #(format!("orgh-{}", org.slug)) {
                        a href=(format!("/orgs/{}", org.slug)) { (org.name) }
                        " " span.badge.muted { (role.map(Role::as_str).unwrap_or("instance admin")) }
                    }
                    @if apps.is_empty() {
                        p.empty { "No apps." }
                    } @else {
                        ul {
                            @for app in apps {
                                li { a href=(format!("/apps/{}", app.slug)) { (app.slug) } @if app.name != app.slug { " — " (app.name) } }
                            }
                        }
                    }
                    p { a href=(format!("/orgs/{}", org.slug)) { "Org page, apps and org tokens →" } }
                }
            }
        }
        section.panel {
            h2 { "Create an org" }
            form.row method="post" action="/orgs" {
                (csrf(&me))
                div.field { label for="org-slug" { "Slug" } input #org-slug type="text" name="slug" required maxlength=(validate::MAX_SLUG); }
                div.field { label for="org-name" { "Name " span.hint { "(optional)" } } input #org-name type="text" name="name" maxlength=(validate::MAX_NAME); }
                button type="submit" { "Create org" }
            }
        }
    };
    Ok(page(&me, Nav::Overview, "Orgs & apps", body))
}

#[derive(Deserialize)]
pub struct SlugForm {
    slug: String,
    name: Option<String>,
}

/// `POST /orgs`.
pub async fn create_org(
    State(state): State<AppState>,
    me: Signed,
    Form(f): Form<SlugForm>,
) -> Response {
    let req = CreateOrgRequest {
        slug: f.slug.trim().to_owned(),
        name: text(&f.name),
    };
    match state.gantry.create_org(&me.caller, &req).await {
        Ok(org) => Redirect::to(&format!("/orgs/{}", org.slug)).into_response(),
        Err(e) => failed(e, "/"),
    }
}

/// `POST /orgs/{org}/apps`.
pub async fn create_app(
    State(state): State<AppState>,
    me: Signed,
    Path(org): Path<String>,
    Form(f): Form<SlugForm>,
) -> Response {
    let req = CreateAppRequest {
        slug: f.slug.trim().to_owned(),
        name: text(&f.name),
    };
    match state.gantry.create_app(&me.caller, &org, &req).await {
        Ok(app) => Redirect::to(&format!("/apps/{}", app.slug)).into_response(),
        Err(e) => failed(e, &format!("/orgs/{org}")),
    }
}

/// Tokens a page may list, or why not (e.g. the caller's role does not manage tokens).
fn token_section(
    listed: Result<Vec<TokenRecord>, CoreError>,
    render: impl FnOnce(Vec<TokenRecord>) -> Markup,
) -> Result<Markup, DashError> {
    match listed {
        Ok(tokens) => Ok(render(tokens)),
        Err(CoreError::Forbidden(why)) => Ok(html! { p.empty { (why) } }),
        Err(e) => Err(DashError(e)),
    }
}

/// `GET /orgs/{org}`: the org's apps and its tokens.
pub async fn org_page(
    State(state): State<AppState>,
    me: Signed,
    Path(slug): Path<String>,
    Query(q): Query<StatusQuery>,
) -> Page {
    let g = &state.gantry;
    let (org, role) = g.get_org(&me.caller, &slug).await?;
    let apps = g.list_apps(&me.caller, &slug).await?;
    let now = g.now();
    let here = format!("/orgs/{slug}");
    let listed = g.list_org_tokens(&me.caller, &slug, &q.token_query()).await;
    let can_manage = listed.is_ok();
    let tokens = token_section(listed, |t| token_table(&t, now, true, &here))?;
    let body = html! {
        p.crumbs { a href="/" { "Orgs" } " / " (org.slug) }
        h1 { (org.name) " " span.badge.muted { (role.map(Role::as_str).unwrap_or("instance admin")) } }
        section.panel {
            h2 { "Apps" }
            @if apps.is_empty() { p.empty { "No apps yet." } } @else {
                div.table-wrap { table {
                    thead { tr { th scope="col" { "App" } th scope="col" { "Name" } th scope="col" { "Created" } } }
                    tbody { @for a in &apps { tr {
                        td { a href=(format!("/apps/{}", a.slug)) { (a.slug) } }
                        td { (a.name) }
                        td { (time(a.created_at)) }
                    } } }
                } }
            }
            h2 { "Create an app" }
            form.row method="post" action=(format!("/orgs/{slug}/apps")) {
                (csrf(&me))
                div.field { label for="app-slug" { "Slug" } input #app-slug type="text" name="slug" required maxlength=(validate::MAX_SLUG); }
                div.field { label for="app-name" { "Name " span.hint { "(optional)" } } input #app-name type="text" name="name" maxlength=(validate::MAX_NAME); }
                button type="submit" { "Create app" }
            }
        }
        section.panel #org-tokens {
            div.toolbar {
                h2 { "Org tokens and deploy tokens" }
                (layout::revoked_toggle(&here, q.showing_revoked()))
            }
            p.hint { "Org tokens act in every app of the org with their role; deploy tokens are listed here too." }
            (tokens)
            @if can_manage {
                h2 { "Create an org token" }
                (layout::create_token_form(&me, &format!("/orgs/{slug}/tokens"), TokenKind::Org, &choices(&state)))
            }
        }
    };
    Ok(page(&me, Nav::Overview, &org.name, body))
}

/// `GET /apps/{app}`: releases, env vars (secrets masked), config and deploy tokens.
pub async fn app_page(
    State(state): State<AppState>,
    me: Signed,
    Path(slug): Path<String>,
    Query(q): Query<StatusQuery>,
) -> Page {
    let g = &state.gantry;
    let app = g.get_app(&me.caller, &slug).await?;
    let releases = g.list_releases(&me.caller, &slug, 20).await?;
    let env = g.list_env(&me.caller, &slug).await?;
    let config = g.get_config(&me.caller, &slug, None).await?;
    let now = g.now();
    let here = format!("/apps/{slug}");
    let listed = g.list_app_tokens(&me.caller, &slug, &q.token_query()).await;
    let can_manage = listed.is_ok();
    let tokens = token_section(listed, |t| token_table(&t, now, false, &here))?;
    let config_text = serde_json::from_str::<serde_json::Value>(&config.document)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| config.document.clone());
    let body = html! {
        p.crumbs { a href="/" { "Orgs" } " / " a href=(format!("/orgs/{}", app.org_slug)) { (app.org_slug) } " / " (app.slug) }
        h1 { (app.name) }
        section.panel #deploy-tokens {
            div.toolbar {
                h2 { "Deploy tokens" }
                (layout::revoked_toggle(&here, q.showing_revoked()))
            }
            p.hint { "A deploy token can push releases and change env vars and config of " strong { (app.slug) } " only." }
            (tokens)
            @if can_manage {
                details.create open[false] {
                    summary.button { "Create token" }
                    h2 { "New deploy token" }
                    (layout::create_token_form(&me, &format!("/apps/{slug}/tokens"), TokenKind::Deploy, &choices(&state)))
                }
            }
        }
        section.panel #releases {
            h2 { "Releases" }
            @if releases.is_empty() { p.empty { "No releases yet." } } @else {
                div.table-wrap { table.cards {
                    thead { tr { th scope="col" { "Version" } th scope="col" { "Label" } th scope="col" { "Message" } th scope="col" { "Artifact" } th scope="col" { "Pushed" } } }
                    tbody { @for r in &releases { tr {
                        td data-label="Version" { "v" (r.version) }
                        td data-label="Label" { @if let Some(l) = &r.label { code { (l) } } }
                        td data-label="Message" { (r.message.as_deref().unwrap_or("")) }
                        td data-label="Artifact" { code { (r.artifact_sha256.get(..12).unwrap_or(&r.artifact_sha256)) } span.sub { (bytesize::ByteSize::b(u64::try_from(r.artifact_size).unwrap_or(0)).to_string()) } }
                        td data-label="Pushed" { (time(r.created_at)) span.sub { "by " (r.created_by.name().unwrap_or(r.created_by.kind())) } }
                    } } }
                } }
            }
        }
        div.grid2 {
            section.panel #env {
                h2 { "Environment variables" }
                @if env.is_empty() { p.empty { "None set." } } @else {
                    div.table-wrap { table {
                        thead { tr { th scope="col" { "Key" } th scope="col" { "Value" } th scope="col" { "Updated" } } }
                        tbody { @for v in &env { tr {
                            td { code { (v.key) } }
                            td { @if v.secret { span.badge.muted title="Secret: write-only, sealed at rest" { "secret ••••••" } } @else { code { (v.value) } } }
                            td { (time(v.updated_at)) }
                        } } }
                    } }
                }
            }
            section.panel #config {
                h2 { "Config " span.hint { "version " (config.version) } }
                pre { (config_text) }
            }
        }
    };
    Ok(page(&me, Nav::Overview, &app.slug, body))
}

// --- token creation

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    description: Option<String>,
    expiration: Option<String>,
    expires_on: Option<String>,
    role: Option<String>,
}

impl CreateForm {
    /// The API's request for this form. Only the expiration choice needs translating: days
    /// become `expires_in`, a date the end of that day (UTC), never `never_expires`.
    fn request(&self) -> Result<CreateTokenRequest, CoreError> {
        let mut req = CreateTokenRequest {
            name: self.name.trim().to_owned(),
            description: text(&self.description),
            ..Default::default()
        };
        match self.expiration.as_deref().map(str::trim) {
            None | Some("") => {}
            Some("never") => req.never_expires = Some(true),
            Some("date") => {
                let day = self
                    .expires_on
                    .as_deref()
                    .map(str::trim)
                    .and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
                    .ok_or_else(|| CoreError::invalid("expires_on", "pick a date"))?;
                req.expires_at = Some(format!("{day}T23:59:59Z"));
            }
            Some(d) => req.expires_in = Some(d.to_owned()),
        }
        if let Some(r) = self.role.as_deref().filter(|r| !r.is_empty()) {
            req.role = Some(Role::parse(r).ok_or_else(|| {
                CoreError::invalid("role", "must be viewer, operator, admin or owner")
            })?);
        }
        Ok(req)
    }
}

fn shown(
    state: &AppState,
    me: &Signed,
    parts: &Parts,
    heading: &str,
    made: Result<(TokenRecord, gantry_core::token::PlainToken), CoreError>,
    back: &str,
) -> Response {
    match made {
        Ok((token, plain)) => layout::once_shown(
            me,
            heading,
            &token,
            plain.expose_secret(),
            back,
            &public_base(parts, state),
        ),
        Err(e) => failed(e, back),
    }
}

/// `POST /apps/{app}/tokens`.
pub async fn create_deploy_token(
    State(state): State<AppState>,
    me: Signed,
    Path(app): Path<String>,
    parts: Parts,
    Form(f): Form<CreateForm>,
) -> Response {
    let back = format!("/apps/{app}");
    let made = match f.request() {
        Ok(req) => {
            state
                .gantry
                .create_deploy_token(&me.caller, &app, &req)
                .await
        }
        Err(e) => Err(e),
    };
    shown(&state, &me, &parts, "New deploy token", made, &back)
}

/// `POST /orgs/{org}/tokens`.
pub async fn create_org_token(
    State(state): State<AppState>,
    me: Signed,
    Path(org): Path<String>,
    parts: Parts,
    Form(f): Form<CreateForm>,
) -> Response {
    let back = format!("/orgs/{org}");
    let made = match f.request() {
        Ok(req) => state.gantry.create_org_token(&me.caller, &org, &req).await,
        Err(e) => Err(e),
    };
    shown(&state, &me, &parts, "New org token", made, &back)
}

/// `GET /tokens`: the user's personal access tokens.
pub async fn personal_tokens(
    State(state): State<AppState>,
    me: Signed,
    Query(q): Query<StatusQuery>,
) -> Page {
    let g = &state.gantry;
    let tokens = g.list_my_tokens(&me.caller, &q.token_query()).await?;
    let now = g.now();
    let body = html! {
        h1 { "Access tokens" }
        p.hint { "Personal access tokens act as you, with your roles in every org. Use them for the CLI and scripts; use deploy tokens for CI." }
        section.panel #personal-tokens {
            div.toolbar { h2 { "Your tokens" } (layout::revoked_toggle("/tokens", q.showing_revoked())) }
            (token_table(&tokens, now, false, "/tokens"))
        }
        section.panel {
            h2 { "Create an access token" }
            (layout::create_token_form(&me, "/tokens", TokenKind::Personal, &choices(&state)))
        }
    };
    Ok(page(&me, Nav::Personal, "Access tokens", body))
}

/// `POST /tokens`.
pub async fn create_personal_token(
    State(state): State<AppState>,
    me: Signed,
    parts: Parts,
    Form(f): Form<CreateForm>,
) -> Response {
    let made = match f.request() {
        Ok(req) => state.gantry.create_personal_token(&me.caller, &req).await,
        Err(e) => Err(e),
    };
    shown(&state, &me, &parts, "New access token", made, "/tokens")
}

// --- one token: edit, regenerate, delete

#[derive(Deserialize)]
pub struct BackQuery {
    back: Option<String>,
}

fn back_or(back: Option<&str>, token: Option<&TokenRecord>) -> String {
    local_path(back).unwrap_or_else(|| match token {
        Some(t) => match &t.scope {
            TokenScope::Deploy { app_slug, .. } => format!("/apps/{app_slug}"),
            TokenScope::Org { org_slug, .. } => format!("/orgs/{org_slug}"),
            TokenScope::Personal { .. } => "/tokens".to_owned(),
        },
        None => "/".to_owned(),
    })
}

fn token_summary(t: &TokenRecord, now: gantry_core::time::Timestamp) -> Markup {
    html! {
        p {
            strong { (t.name) } " " code { (t.prefix) "…" } " " (layout::status_badge(t.status(now)))
            @if let Some(at) = t.expires_at { span.sub { "expires " (when(at)) } }
        }
    }
}

/// `GET /tokens/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> Page {
    let t = state.gantry.get_token(&me.caller, &id).await?;
    let back = back_or(q.back.as_deref(), Some(&t));
    let body = html! {
        h1 { "Edit token" }
        section.panel {
            (token_summary(&t, state.gantry.now()))
            form.stack method="post" action=(format!("/tokens/{id}/edit")) {
                (csrf(&me))
                input type="hidden" name="back" value=(back);
                div.field { label for="edit-name" { "Name" } input #edit-name type="text" name="name" required maxlength=(validate::MAX_NAME) value=(t.name); }
                div.field { label for="edit-description" { "Description" } textarea #edit-description name="description" maxlength=(validate::MAX_DESCRIPTION) { (t.description.as_deref().unwrap_or("")) } }
                div { button type="submit" { "Save" } " " a.button.secondary href=(back) { "Cancel" } }
            }
        }
    };
    Ok(page(&me, Nav::None, "Edit token", body))
}

#[derive(Deserialize)]
pub struct EditForm {
    name: String,
    description: Option<String>,
    back: Option<String>,
}

/// `POST /tokens/{id}/edit`.
pub async fn edit_token(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> Response {
    let back = back_or(f.back.as_deref(), None);
    let req = UpdateTokenRequest {
        name: Some(f.name.trim().to_owned()),
        // An emptied field clears the description.
        description: Some(text(&f.description).unwrap_or_default()),
    };
    match state.gantry.update_token(&me.caller, &id, &req).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => failed(e, &back),
    }
}

/// `GET /tokens/{id}/regenerate`: the confirmation.
pub async fn regenerate_form(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> Page {
    let t = state.gantry.get_token(&me.caller, &id).await?;
    let back = back_or(q.back.as_deref(), Some(&t));
    let body = html! {
        h1 { "Regenerate token?" }
        section.panel {
            (token_summary(&t, state.gantry.now()))
            div.notice.warn {
                "A new value replaces the current one, with the same name, scope and a fresh expiry of the same length. "
                "Anything still using the current value stops working — at once, or when the grace period below ends."
            }
            form.stack method="post" action=(format!("/tokens/{id}/regenerate")) {
                (csrf(&me))
                input type="hidden" name="back" value=(back);
                div.field {
                    label for="grace" { "Keep the current value working for" }
                    select #grace name="grace_period" {
                        option value="" selected { "No grace period: stop it now" }
                        option value="1h" { "1 hour" }
                        option value="24h" { "24 hours" }
                        option value="7d" { "7 days" }
                    }
                }
                div.field {
                    label for="regen-expires" { "New expiry" }
                    select #regen-expires name="expires_in" {
                        option value="" selected { "The same length as before, from now" }
                        @for d in layout::day_choices(&choices(&state)) { option value=(format!("{d}d")) { (d) " days from now" } }
                    }
                }
                div { button type="submit" { "Regenerate token" } " " a.button.secondary href=(back) { "Cancel" } }
            }
        }
    };
    Ok(page(&me, Nav::None, "Regenerate token", body))
}

#[derive(Deserialize)]
pub struct RegenerateForm {
    grace_period: Option<String>,
    expires_in: Option<String>,
    back: Option<String>,
}

/// `POST /tokens/{id}/regenerate`: the new value, shown once.
pub async fn regenerate_token(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    parts: Parts,
    Form(f): Form<RegenerateForm>,
) -> Response {
    let back = back_or(f.back.as_deref(), None);
    let req = RotateTokenRequest {
        expires_in: text(&f.expires_in),
        grace_period: text(&f.grace_period),
    };
    let made = state.gantry.rotate_token(&me.caller, &id, &req).await;
    shown(&state, &me, &parts, "Token regenerated", made, &back)
}

/// The word a user types to confirm a deletion, as the seed dashboards ask.
const CONFIRM_WORD: &str = "Delete";

/// `GET /tokens/{id}/delete`: type `Delete` to confirm.
pub async fn delete_form(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Query(q): Query<BackQuery>,
) -> Page {
    let t = state.gantry.get_token(&me.caller, &id).await?;
    let back = back_or(q.back.as_deref(), Some(&t));
    Ok(page(
        &me,
        Nav::None,
        "Delete token",
        delete_body(&me, &t, &back, None, state.gantry.now()),
    ))
}

fn delete_body(
    me: &Signed,
    t: &TokenRecord,
    back: &str,
    error: Option<&str>,
    now: gantry_core::time::Timestamp,
) -> Markup {
    html! {
        h1 { "Delete token?" }
        section.panel {
            (token_summary(t, now))
            @if let Some(e) = error { div.notice.error role="alert" { (e) } }
            div.notice.warn { "Deleting revokes the token for good: it stops working at once, everywhere. This cannot be undone." }
            form.stack method="post" action=(format!("/tokens/{}/delete", t.id)) {
                (csrf(me))
                input type="hidden" name="back" value=(back);
                div.field {
                    label for="confirm" { "Type " code { (CONFIRM_WORD) } " to confirm" }
                    input #confirm type="text" name="confirm" required autocomplete="off" data-confirm-word=(CONFIRM_WORD);
                }
                div { button.danger type="submit" { "Delete token" } " " a.button.secondary href=(back) { "Cancel" } }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct DeleteForm {
    confirm: Option<String>,
    back: Option<String>,
}

/// `POST /tokens/{id}/delete`: revokes, once `Delete` was typed.
pub async fn delete_token(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Form(f): Form<DeleteForm>,
) -> Response {
    let back = back_or(f.back.as_deref(), None);
    if f.confirm.as_deref() != Some(CONFIRM_WORD) {
        return match state.gantry.get_token(&me.caller, &id).await {
            Ok(t) => {
                let mut resp = page(
                    &me,
                    Nav::None,
                    "Delete token",
                    delete_body(
                        &me,
                        &t,
                        &back,
                        Some("Type Delete (capital D) to confirm."),
                        state.gantry.now(),
                    ),
                );
                *resp.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
                resp
            }
            Err(e) => failed(e, &back),
        };
    }
    match state.gantry.revoke_token(&me.caller, &id).await {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => failed(e, &back),
    }
}

// --- administration

#[derive(Deserialize, Default)]
pub struct AllTokensQuery {
    all_users: Option<String>,
    status: Option<String>,
}

/// `GET /admin/tokens`: every token the user manages; with "Show all users" (instance
/// administrators) every token of every user.
pub async fn all_tokens(
    State(state): State<AppState>,
    me: Signed,
    Query(q): Query<AllTokensQuery>,
) -> Page {
    let g = &state.gantry;
    let all_users = q
        .all_users
        .as_deref()
        .is_some_and(|v| !v.is_empty() && v != "0");
    let status = StatusQuery {
        status: q.status.clone(),
    };
    let tokens = g
        .list_all_tokens(&me.caller, all_users, &status.token_query())
        .await?;
    let now = g.now();
    let here = if all_users {
        "/admin/tokens?all_users=1".to_owned()
    } else {
        "/admin/tokens".to_owned()
    };
    let body = html! {
        h1 { "All tokens" }
        section.panel #all-tokens {
            div.toolbar {
                form.row method="get" action="/admin/tokens" {
                    @if me.user.is_admin {
                        label.toggle for="all-users" {
                            input #all-users type="checkbox" name="all_users" value="1" checked[all_users] data-autosubmit;
                            "Show all users"
                        }
                    }
                    label.toggle for="status" {
                        "Status"
                        select #status name="status" data-autosubmit {
                            option value="" selected[q.status.as_deref().unwrap_or("").is_empty()] { "Active and expired" }
                            @for s in ["active", "expired", "revoked", "all"] {
                                option value=(s) selected[q.status.as_deref() == Some(s)] { (s) }
                            }
                        }
                    }
                    button.secondary.js-hide type="submit" { "Apply" }
                }
                span.hint { (tokens.len()) " tokens" }
            }
            p.hint {
                @if all_users { "Every token of every user and org on this instance." }
                @else { "Your personal tokens and the tokens of orgs where you are admin or owner." }
            }
            (token_table(&tokens, now, true, &here))
        }
    };
    Ok(page(&me, Nav::AllTokens, "All tokens", body))
}

#[derive(Deserialize, Default)]
pub struct UsersQuery {
    offset: Option<i64>,
}

const USER_PAGE: i64 = 100;

/// `GET /admin/users`.
pub async fn users_page(
    State(state): State<AppState>,
    me: Signed,
    Query(q): Query<UsersQuery>,
) -> Page {
    let offset = q.offset.unwrap_or(0).max(0);
    let users = state
        .gantry
        .list_users(&me.caller, USER_PAGE, offset)
        .await?;
    let body = html! {
        h1 { "Users" }
        section.panel {
            div.table-wrap { table.cards.users {
                thead { tr { th scope="col" { "Email" } th scope="col" { "Name" } th scope="col" { "Role" } th scope="col" { "Status" } th scope="col" { "Created" } th scope="col" { span.sr-only { "Actions" } } } }
                tbody { @for u in &users { tr data-user=(u.email) {
                    td data-label="Email" { (u.email) }
                    td data-label="Name" { (u.name) }
                    td data-label="Role" { @if u.is_admin { span.badge.active { "Administrator" } } @else { "User" } }
                    td data-label="Status" { @if u.disabled { span.badge.revoked { "Disabled" } } @else { span.badge.active { "Enabled" } } }
                    td data-label="Created" { (time(u.created_at)) }
                    td.actions data-label="Actions" {
                        form.inline method="post" action=(format!("/admin/users/{}", u.id)) {
                            (csrf(&me))
                            @if u.disabled {
                                button.secondary type="submit" name="change" value="enable" aria-label=(format!("Enable {}", u.email)) { "Enable" }
                            } @else {
                                button.secondary type="submit" name="change" value="disable" aria-label=(format!("Disable {}", u.email)) { "Disable" }
                            }
                            " "
                            @if u.is_admin {
                                button.secondary type="submit" name="change" value="remove_admin" aria-label=(format!("Remove admin from {}", u.email)) { "Remove admin" }
                            } @else {
                                button.secondary type="submit" name="change" value="make_admin" aria-label=(format!("Make {} an admin", u.email)) { "Make admin" }
                            }
                        }
                    }
                } } }
            } }
            p {
                @if offset > 0 { a href=(format!("/admin/users?offset={}", (offset - USER_PAGE).max(0))) { "← Previous" } " " }
                @if i64::try_from(users.len()).unwrap_or(0) == USER_PAGE { a href=(format!("/admin/users?offset={}", offset + USER_PAGE)) { "Next →" } }
            }
        }
        section.panel {
            h2 { "Add a user" }
            form.stack method="post" action="/admin/users" {
                (csrf(&me))
                div.field { label for="new-email" { "Email" } input #new-email type="email" name="email" required maxlength=(validate::MAX_EMAIL) autocomplete="off"; }
                div.field { label for="new-name" { "Name " span.hint { "(optional)" } } input #new-name type="text" name="name" maxlength=(validate::MAX_NAME); }
                div.field { label for="new-password" { "Initial password " span.hint { "(at least " (validate::MIN_PASSWORD) " characters)" } } input #new-password type="password" name="password" required minlength=(validate::MIN_PASSWORD) autocomplete="new-password"; }
                label.toggle for="new-admin" { input #new-admin type="checkbox" name="is_admin" value="1"; "Instance administrator" }
                div { button type="submit" { "Add user" } }
            }
        }
    };
    Ok(page(&me, Nav::Users, "Users", body))
}

#[derive(Deserialize)]
pub struct NewUserForm {
    email: String,
    name: Option<String>,
    password: String,
    is_admin: Option<String>,
}

/// `POST /admin/users`.
pub async fn create_user(
    State(state): State<AppState>,
    me: Signed,
    Form(f): Form<NewUserForm>,
) -> Response {
    let req = CreateUserRequest {
        email: f.email.trim().to_owned(),
        password: f.password,
        name: text(&f.name),
        is_admin: Some(f.is_admin.is_some()),
    };
    match state.gantry.create_user(&me.caller, &req).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => failed(e, "/admin/users"),
    }
}

#[derive(Deserialize)]
pub struct UserChangeForm {
    change: String,
}

/// `POST /admin/users/{id}`: enable, disable, grant or take administration.
pub async fn update_user(
    State(state): State<AppState>,
    me: Signed,
    Path(id): Path<String>,
    Form(f): Form<UserChangeForm>,
) -> Response {
    let mut req = UpdateUserRequest::default();
    match f.change.as_str() {
        "enable" => req.disabled = Some(false),
        "disable" => req.disabled = Some(true),
        "make_admin" => req.is_admin = Some(true),
        "remove_admin" => req.is_admin = Some(false),
        _ => {
            return failed(
                CoreError::invalid(
                    "change",
                    "must be enable, disable, make_admin or remove_admin",
                ),
                "/admin/users",
            )
        }
    }
    match state.gantry.update_user(&me.caller, &id, &req).await {
        Ok(_) => Redirect::to("/admin/users").into_response(),
        Err(e) => failed(e, "/admin/users"),
    }
}

#[derive(Deserialize, Default)]
pub struct AuditForm {
    org: Option<String>,
    actor: Option<String>,
    action: Option<String>,
    since: Option<String>,
    limit: Option<i64>,
}

/// `GET /audit`: the events the user may see, newest first, with the API's filters.
pub async fn audit_page(
    State(state): State<AppState>,
    me: Signed,
    Query(f): Query<AuditForm>,
) -> Page {
    let since = match text(&f.since) {
        None => None,
        Some(d) => match chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d") {
            Ok(day) => Some(format!("{day}T00:00:00Z")),
            // Not a date from the picker: let the domain judge it as an instant.
            Err(_) => Some(d),
        },
    };
    let q = AuditQuery {
        org: text(&f.org),
        actor: text(&f.actor),
        action: text(&f.action),
        since,
        before: None,
        limit: Some(f.limit.unwrap_or(100)),
    };
    let events = state.gantry.list_audit(&me.caller, &q).await?;
    let v = |s: &Option<String>| s.clone().unwrap_or_default();
    let body = html! {
        h1 { "Audit log" }
        section.panel {
            form.row method="get" action="/audit" aria-label="Filter events" {
                div.field { label for="f-org" { "Org" } input #f-org type="text" name="org" value=(v(&f.org)); }
                div.field { label for="f-actor" { "Actor id" } input #f-actor type="text" name="actor" value=(v(&f.actor)) placeholder="usr_… or tok_…"; }
                div.field { label for="f-action" { "Action" } input #f-action type="text" name="action" value=(v(&f.action)) placeholder="token.create"; }
                div.field { label for="f-since" { "Since" } input #f-since type="date" name="since" value=(v(&f.since)); }
                div.field { label for="f-limit" { "Show" }
                    select #f-limit name="limit" {
                        @for n in [50i64, 100, 500, 1000] { option value=(n) selected[f.limit.unwrap_or(100) == n] { (n) } }
                    }
                }
                button type="submit" { "Filter" }
            }
        }
        section.panel {
            @if events.is_empty() { p.empty { "No events match." } } @else {
                div.table-wrap { table.cards.audit {
                    thead { tr { th scope="col" { "When" } th scope="col" { "Actor" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Where" } th scope="col" { "IP" } th scope="col" { "Outcome" } } }
                    tbody { @for e in &events { tr {
                        td data-label="When" { (time(e.at)) }
                        td data-label="Actor" { (e.actor.name().unwrap_or(e.actor.kind())) @if let Some(id) = e.actor.id() { span.sub { code { (id) } } } }
                        td data-label="Action" { code { (e.action) } }
                        td data-label="Target" { @if let (Some(k), Some(id)) = (&e.target_type, &e.target_id) { (k) " " code { (id) } } }
                        td data-label="Where" { (e.org_slug.as_deref().unwrap_or("")) @if let Some(a) = &e.app_slug { " / " (a) } }
                        td data-label="IP" { (e.ip.as_deref().unwrap_or("")) }
                        td data-label="Outcome" { @if e.outcome == "success" { span.badge.active { "success" } } @else { span.badge.revoked { (e.outcome) } } }
                    } } }
                } }
            }
        }
    };
    Ok(page(&me, Nav::Audit, "Audit log", body))
}
