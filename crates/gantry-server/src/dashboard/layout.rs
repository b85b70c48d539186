//! The page shell and the pieces pages share: navigation, token tables, status badges, the
//! token-creation form and the once-shown value. maud escapes every interpolated string.

use super::Signed;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use gantry_api::{TokenKind, TokenStatus};
use gantry_core::model::{TokenRecord, TokenScope};
use gantry_core::time::Timestamp;
use maud::{html, Markup, DOCTYPE};

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Personal,
    AllTokens,
    Users,
    Audit,
    None,
}

/// A whole page for a signed-in user.
pub fn page(me: &Signed, nav: Nav, title: &str, body: Markup) -> Response {
    let current = |n: Nav| if n == nav { Some("page") } else { None };
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body {
                header.top {
                    a.brand href="/" { "gantry" }
                    nav aria-label="Main" {
                        a href="/" aria-current=[current(Nav::Overview)] { "Orgs & apps" }
                        a href="/tokens" aria-current=[current(Nav::Personal)] { "Access tokens" }
                        @if me.user.is_admin {
                            a href="/admin/tokens" aria-current=[current(Nav::AllTokens)] { "All tokens" }
                            a href="/admin/users" aria-current=[current(Nav::Users)] { "Users" }
                        }
                        a href="/audit" aria-current=[current(Nav::Audit)] { "Audit log" }
                    }
                    div.me {
                        span { (me.user.email) }
                        form.inline method="post" action="/logout" {
                            (csrf(me))
                            button.secondary type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string()).into_response()
}

fn head(title: &str) -> Markup {
    html! {
        meta charset="utf-8";
        meta name="viewport" content="width=device-width, initial-scale=1";
        title { (title) " · gantry" }
        link rel="stylesheet" href="/static/dashboard.css";
        script src="/static/dashboard.js" defer {}
    }
}

/// A page with no navigation (sign-in, errors), with `status`.
pub fn bare(status: StatusCode, title: &str, body: Markup) -> Response {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head { (head(title)) }
            body { main { (body) } }
        }
    };
    (status, Html(markup.into_string())).into_response()
}

/// An error as a page: what went wrong, and a way back to `back`.
pub fn error_page(status: StatusCode, message: &str, back: &str) -> Response {
    bare(
        status,
        "Error",
        html! {
            div.login {
                h1 { (status.canonical_reason().unwrap_or("Error")) }
                div.notice.error role="alert" { (message) }
                p { a href=(back) { "Go back" } }
            }
        },
    )
}

/// The hidden CSRF field every form carries.
pub fn csrf(me: &Signed) -> Markup {
    html! { input type="hidden" name="_csrf" value=(me.csrf); }
}

/// `2026-12-01 05:42 UTC`.
pub fn when(t: Timestamp) -> String {
    match chrono::DateTime::from_timestamp_millis(t.0) {
        Some(d) => d.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "?".to_owned(),
    }
}

/// A `<time>` element.
pub fn time(t: Timestamp) -> Markup {
    html! { time datetime=(t.to_rfc3339()) { (when(t)) } }
}

/// Whole days from `now` until `t`, rounded up.
fn days_until(now: Timestamp, t: Timestamp) -> i64 {
    let ms = t.0 - now.0;
    (ms + 86_399_999).div_euclid(86_400_000)
}

pub fn status_badge(status: TokenStatus) -> Markup {
    let (class, text) = match status {
        TokenStatus::Active => ("active", "Active"),
        TokenStatus::Expired => ("expired", "Expired"),
        TokenStatus::Revoked => ("revoked", "Revoked"),
    };
    html! { span class=(format!("badge {class}")) { (text) } }
}

/// The expiry cell: the date, and for active tokens a warning when it is near.
fn expiry(t: &TokenRecord, now: Timestamp) -> Markup {
    html! {
        @match t.expires_at {
            None => span { "Never" },
            Some(at) => {
                (time(at))
                @if t.status(now) == TokenStatus::Active {
                    @let days = days_until(now, at);
                    @if days <= 7 {
                        span.sub.warn-text { "expires in " (days) (if days == 1 { " day" } else { " days" }) }
                    } @else if days <= 30 {
                        span.sub { "expires in " (days) " days" }
                    }
                }
            }
        }
    }
}

/// Where a token lives, for tables that mix kinds.
fn scope(t: &TokenRecord) -> Markup {
    html! {
        @match &t.scope {
            TokenScope::Deploy { app_slug, .. } => { "deploy · " a href=(format!("/apps/{app_slug}")) { (app_slug) } }
            TokenScope::Org { org_slug, role, .. } => { "org · " a href=(format!("/orgs/{org_slug}")) { (org_slug) } " · " (role.as_str()) }
            TokenScope::Personal { user_email, .. } => { "personal · " (user_email) }
        }
    }
}

/// A table of tokens with their actions. `back` is where the action pages return to.
pub fn token_table(tokens: &[TokenRecord], now: Timestamp, show_scope: bool, back: &str) -> Markup {
    html! {
        @if tokens.is_empty() {
            p.empty { "No tokens yet." }
        } @else {
            div.table-wrap {
                table.cards.tokens {
                    thead { tr {
                        th scope="col" { "Name" }
                        th scope="col" { "Token prefix" }
                        @if show_scope { th scope="col" { "Scope" } }
                        th scope="col" { "Status" }
                        th scope="col" { "Created" }
                        th scope="col" { "Expires" }
                        th scope="col" { "Last used" }
                        th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody {
                        @for t in tokens {
                            @let status = t.status(now);
                            tr data-token-id=(t.id) data-token-name=(t.name) {
                                td data-label="Name" {
                                    strong { (t.name) }
                                    @if let Some(d) = &t.description { span.sub { (d) } }
                                    @if let Some(f) = &t.federated {
                                        span.sub.origin title=(format!("Issued by token exchange under trust policy {} to {}", f.policy_id, f.issuer)) {
                                            span.badge.muted { "keyless CI" } " " (f.subject)
                                        }
                                    }
                                    @if let Some(l) = &t.leak { (leak_note(l)) }
                                }
                                td data-label="Token prefix" { code { (t.prefix) "…" } }
                                @if show_scope { td data-label="Scope" { (scope(t)) } }
                                td data-label="Status" { (status_badge(status)) }
                                td data-label="Created" {
                                    (time(t.created_at))
                                    span.sub { "by " (t.created_by.name().unwrap_or(t.created_by.kind())) }
                                }
                                td data-label="Expires" { (expiry(t, now)) }
                                td.last-used data-label="Last used" {
                                    @match t.last_used_at {
                                        None => span.empty { "Never" },
                                        Some(at) => {
                                            (time(at))
                                            @if let Some(ip) = &t.last_used_ip { span.sub.ip { "from " (ip) } }
                                        }
                                    }
                                }
                                td.actions data-label="Actions" {
                                    @if status != TokenStatus::Revoked {
                                        a.icon href=(action_href(&t.id, "edit", back)) title="Edit name and description" aria-label=(format!("Edit {}", t.name)) { "Edit" }
                                        " "
                                        a.icon.regenerate href=(action_href(&t.id, "regenerate", back)) title="Regenerate" aria-label=(format!("Regenerate {}", t.name)) { "↻" }
                                        " "
                                        a.icon.delete href=(action_href(&t.id, "delete", back)) title="Delete" aria-label=(format!("Delete {}", t.name)) { "Delete" }
                                    } @else if let Some(at) = t.revoked_at {
                                        span.sub {
                                            "revoked " (when(at))
                                            @if let Some(why) = t.revoked_reason { " · " (revoke_reason(why)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A leak report on a token: a badge, when and how it was reported, and where it was found
/// (an http(s) URL, kept only in that form, opened without a referrer).
fn leak_note(l: &gantry_core::model::LeakNote) -> Markup {
    let how = match l.via.as_str() {
        "github_secret_scanning" => "by GitHub secret scanning",
        _ => "to the public revoke endpoint",
    };
    html! {
        span.sub.leak {
            span.badge.leaked title="Someone found this token where it should not be" { "leaked" }
            " reported " (when(l.at)) " " (how)
            @if let Some(url) = &l.url {
                " · " a href=(url) rel="noopener noreferrer nofollow" target="_blank" { "where it was found" }
            }
        }
    }
}

fn revoke_reason(r: gantry_core::model::RevokeReason) -> &'static str {
    use gantry_core::model::RevokeReason::*;
    match r {
        Requested => "by request",
        OAuthRevoke => "by its holder (OAuth revoke)",
        LeakReport => "reported leaked",
        Reused => "an old value was reused",
        AppDeleted => "its app was deleted",
        TrustPolicyDeleted => "its trust policy was deleted",
    }
}

fn action_href(id: &str, action: &str, back: &str) -> String {
    format!(
        "/tokens/{id}/{action}?{}",
        serde_urlencoded::to_string([("back", back)]).unwrap_or_default()
    )
}

/// A link that shows or hides revoked tokens on the current page.
pub fn revoked_toggle(path: &str, showing: bool) -> Markup {
    html! {
        @if showing {
            a href=(path) { "Hide revoked tokens" }
        } @else {
            a href=(format!("{path}?status=all")) { "Show revoked tokens" }
        }
    }
}

/// What the expiration choice offers, from the instance's token policy.
pub struct ExpiryChoices {
    pub allow_never: bool,
    /// The lifetime a token gets when none is asked for, in days.
    pub default_days: u64,
    pub max_days: Option<u64>,
    /// The last date the date picker may offer (`YYYY-MM-DD`), under a cap.
    pub last_date: Option<String>,
}

/// The day counts offered: the usual ones within the cap, plus the default and the cap.
pub fn day_choices(choices: &ExpiryChoices) -> Vec<u64> {
    let mut days: Vec<u64> = [7u64, 30, 60, 90, 180, 365]
        .into_iter()
        .chain([choices.default_days])
        .chain(choices.max_days)
        .filter(|d| *d >= 1 && choices.max_days.is_none_or(|m| *d <= m))
        .collect();
    days.sort_unstable();
    days.dedup();
    days
}

/// The create-token form: name, description, expiration (days, a date or never), and for
/// org tokens a role.
pub fn create_token_form(
    me: &Signed,
    action: &str,
    kind: TokenKind,
    choices: &ExpiryChoices,
) -> Markup {
    let default = format!("{}d", choices.default_days);
    html! {
        form.stack.create-token method="post" action=(action) {
            (csrf(me))
            div.field {
                label for="token-name" { "Name" }
                input #token-name type="text" name="name" required maxlength=(gantry_core::validate::MAX_NAME) autocomplete="off"
                    placeholder=(match kind { TokenKind::Deploy => "e.g. GitHub Actions", TokenKind::Org => "e.g. platform CI", TokenKind::Personal => "e.g. laptop CLI" });
            }
            div.field {
                label for="token-description" { "Description " span.hint { "(optional)" } }
                textarea #token-description name="description" maxlength=(gantry_core::validate::MAX_DESCRIPTION) {}
            }
            @if kind == TokenKind::Org {
                div.field {
                    label for="token-role" { "Role" }
                    select #token-role name="role" {
                        option value="viewer" { "viewer: read apps" }
                        option value="operator" selected { "operator: deploy, env, config" }
                        option value="admin" { "admin: also manage tokens and members" }
                        option value="owner" { "owner" }
                    }
                }
            }
            @if kind != TokenKind::Personal {
                fieldset.field.capabilities {
                    legend { "May " span.hint { "(on " (if kind == TokenKind::Deploy { "its app" } else { "the org's apps" }) ")" } }
                    input type="hidden" name="caps_shown" value="1";
                    label.check { input type="checkbox" name="cap_read" checked; " read" }
                    label.check { input type="checkbox" name="cap_deploy" checked; " push releases" }
                    label.check { input type="checkbox" name="cap_env" checked; " change env vars" }
                    label.check { input type="checkbox" name="cap_config" checked; " change config" }
                }
            }
            div.field {
                label for="token-allowed-ips" { "Allowed networks " span.hint { "(optional: CIDRs such as 203.0.113.0/24 or 2001:db8::/32; empty: " (if kind == TokenKind::Personal { "anywhere" } else { "the org policy's, else anywhere" }) ")" } }
                input #token-allowed-ips type="text" name="allowed_ips" autocomplete="off" placeholder="e.g. 203.0.113.0/24, 2001:db8::/32";
            }
            div.field {
                label for="token-expiration" { "Expiration" }
                select #token-expiration name="expiration" data-expiration="token-expires-on" {
                    @for d in day_choices(choices) {
                        @let v = format!("{d}d");
                        option value=(v) selected[v == default] { (d) (if d == 1 { " day" } else { " days" }) }
                    }
                    option value="date" { "On a date…" }
                    @if choices.allow_never { option value="never" { "Never" } }
                }
                @if let Some(m) = choices.max_days { span.hint { "This instance allows at most " (m) " days." } }
            }
            div.field {
                label for="token-expires-on" { "Expires on " span.hint { "(UTC, end of day)" } }
                input #token-expires-on type="date" name="expires_on" max=[choices.last_date.as_deref()];
            }
            div { button type="submit" { "Create token" } }
        }
    }
}

/// The page that shows a token's value, once: after creating or regenerating it.
pub fn once_shown(
    me: &Signed,
    heading: &str,
    token: &TokenRecord,
    secret: &str,
    back: &str,
    api_base: &str,
) -> Response {
    let kind = match token.kind() {
        TokenKind::Deploy => "deploy token",
        TokenKind::Org => "org token",
        TokenKind::Personal => "personal access token",
    };
    let body = html! {
        h1 { (heading) }
        div.notice.warn role="alert" {
            strong { "Copy this " (kind) " now. " }
            "You won't be able to see it again: gantry keeps only its hash. If you lose it, regenerate it."
        }
        section.panel {
            div.field {
                label for="token-value" { "Your new " (kind) " “" (token.name) "”" }
                div.secret-box {
                    input #token-value type="text" readonly value=(secret) spellcheck="false" autocomplete="off"
                        aria-describedby="token-value-help";
                    button type="button" data-copy="token-value" hidden { "Copy" }
                }
                span #token-value-help .hint {
                    "Prefix " code { (token.prefix) } " · "
                    @match token.expires_at { Some(at) => { "expires " (when(at)) }, None => "never expires" }
                }
            }
        }
        section.panel {
            h2 { "Use it from CI" }
            p { "Store it as a secret variable named " code { "GANTRY_TOKEN" } " in your CI system, then:" }
            @match token.scope.app_slug() {
                Some(app) => {
                    pre { "curl -fsS -H \"Authorization: Bearer $GANTRY_TOKEN\" \\\n  -F artifact=@release.tar.gz -F label=\"$CI_COMMIT_SHA\" \\\n  " (api_base) "/v1/apps/" (app) "/deploys" }
                    p.hint { "or " code { "gantry deploy release.tar.gz --app " (app) } " with " code { "GANTRY_URL" } " and " code { "GANTRY_TOKEN" } " set." }
                }
                _ => { pre { "curl -fsS -H \"Authorization: Bearer $GANTRY_TOKEN\" " (api_base) "/v1/user" } }
            }
        }
        p { a.button href=(back) { "Done" } }
    };
    page(me, Nav::None, heading, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_until_rounds_up_partial_days() {
        let now = Timestamp(0);
        assert_eq!(days_until(now, Timestamp(1)), 1);
        assert_eq!(days_until(now, Timestamp(86_400_000)), 1);
        assert_eq!(days_until(now, Timestamp(86_400_001)), 2);
        assert_eq!(days_until(now, Timestamp(7 * 86_400_000)), 7);
    }

    #[test]
    fn action_links_carry_the_way_back_encoded() {
        assert_eq!(
            action_href("tok_1", "edit", "/apps/web?status=all"),
            "/tokens/tok_1/edit?back=%2Fapps%2Fweb%3Fstatus%3Dall"
        );
    }
}
