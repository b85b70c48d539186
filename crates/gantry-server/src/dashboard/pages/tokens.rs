//! Tokens: creating each kind (the value shown once), the personal token list, and one token's edit, regenerate and delete forms.

use super::*;

#[derive(Deserialize)]
pub struct CreateForm {
    name: String,
    description: Option<String>,
    expiration: Option<String>,
    expires_on: Option<String>,
    role: Option<String>,
    /// Set by forms that offer the capability boxes (org and deploy tokens).
    caps_shown: Option<String>,
    cap_read: Option<String>,
    cap_deploy: Option<String>,
    cap_env: Option<String>,
    cap_config: Option<String>,
    /// Networks, separated by commas, spaces or lines (empty: the default).
    allowed_ips: Option<String>,
}

/// A list typed into one text box: entries split at commas and whitespace; None when empty.
pub(crate) fn list_field(v: &Option<String>) -> Option<Vec<String>> {
    let items: Vec<String> = v
        .as_deref()
        .unwrap_or_default()
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    (!items.is_empty()).then_some(items)
}

impl CreateForm {
    /// The API's request for this form. Only the expiration choice needs translating: days
    /// become `expires_in`, a date the end of that day (UTC), never `never_expires`.
    fn request(&self) -> Result<CreateTokenRequest, CoreError> {
        let mut req = CreateTokenRequest {
            name: self.name.trim().to_owned(),
            description: text(&self.description),
            allowed_ips: list_field(&self.allowed_ips),
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
        if self.caps_shown.is_some() {
            let boxes = [
                ("read", &self.cap_read),
                ("deploy", &self.cap_deploy),
                ("env", &self.cap_env),
                ("config", &self.cap_config),
            ];
            let checked: Vec<String> = boxes
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(n, _)| (*n).to_owned())
                .collect();
            // All four ticked is the default: whatever the creator may give.
            if checked.len() < boxes.len() {
                req.capabilities = Some(checked);
            }
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

// One token: edit, regenerate, delete.

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
                label.check { input type="checkbox" name="until_first_use"; " …or only until the new value is first used, whichever comes first" }
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
    until_first_use: Option<String>,
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
        // Only meaningful with a grace period; the box alone is no request for one.
        until_first_use: (f.until_first_use.is_some() && text(&f.grace_period).is_some())
            .then_some(true),
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
