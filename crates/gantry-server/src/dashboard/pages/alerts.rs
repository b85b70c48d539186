//! The org page's Alerts section: the rules, creating one (a webhook's signing secret shown
//! once), turning one off and on, a test ping, a new secret, and each rule's delivery log with
//! a retry per delivery.

use super::*;
use gantry_api::CreateAlertRequest;
use gantry_core::events::{DeliveryRecord, DeliveryState, EVENT_TYPES};
use gantry_core::model::{AlertRecord, OrgRecord};
use gantry_core::policy::{self, Access, Capability, Target};
use gantry_core::webhooks::WebhookSecret;

/// Whether the signed-in user may change the org's alert rules (policy decides).
pub(super) fn may_write_alerts(me: &Signed, org: &OrgRecord, role: Option<Role>) -> bool {
    let target = Target {
        org_id: &org.id,
        app_id: None,
    };
    policy::check(&me.caller.principal, role, target, Capability::WriteAlerts) == Access::Allow
}

fn rule_path(org: &str, id: &str) -> String {
    format!("/orgs/{org}/alerts/{id}")
}

fn enabled_badge(on: bool) -> Markup {
    if on {
        html! { span.badge.active { "Enabled" } }
    } else {
        html! { span.badge.muted { "Disabled" } }
    }
}

pub(super) fn delivery_badge(state: DeliveryState) -> Markup {
    html! { span class=(format!("badge delivery-{}", state.as_str())) { (state.as_str()) } }
}

/// A small form that posts to `action` with one button.
fn button_form(me: &Signed, action: &str, label: &str, class: &str) -> Markup {
    html! {
        form.inline method="post" action=(action) {
            (csrf(me))
            button type="submit" class=(class) { (label) }
        }
    }
}

/// The section of `GET /orgs/{org}`.
pub(super) fn alerts_section(
    me: &Signed,
    org: &OrgRecord,
    alerts: &[AlertRecord],
    apps: &[gantry_core::model::AppRecord],
    can_write: bool,
) -> Markup {
    let slug = org.slug.as_str();
    html! {
        section.panel #alerts {
            h2 { "Alerts" }
            p.hint {
                "Rules send events to a webhook (signed as Standard Webhooks) or by mail. "
                "Expiring and expired tokens also mail their owners when the server has a mail server."
            }
            @if alerts.is_empty() { p.empty { "No alert rules." } } @else {
                div.table-wrap { table.cards {
                    thead { tr {
                        th scope="col" { "Rule" } th scope="col" { "Events" } th scope="col" { "Target" }
                        th scope="col" { "State" } th scope="col" { span.sr-only { "Actions" } }
                    } }
                    tbody { @for a in alerts { tr data-alert-name=(a.name) {
                        td data-label="Rule" {
                            a href=(rule_path(slug, a.id.as_str())) { (a.name) }
                            @if let Some(app) = &a.app_slug { span.sub { "app " (app) } }
                        }
                        td data-label="Events" { @for e in &a.events { code { (e) } " " } }
                        td data-label="Target" { code.target { (a.target) } }
                        td data-label="State" { (enabled_badge(a.enabled)) }
                        td.actions {
                            a.button.secondary href=(rule_path(slug, a.id.as_str())) { "Deliveries" }
                            @if can_write {
                                (button_form(me, &format!("{}/test", rule_path(slug, a.id.as_str())), "Send test", "secondary"))
                            }
                        }
                    } } }
                } }
            }
            @if can_write {
                details.create {
                    summary.button { "Create alert rule" }
                    h2 { "New alert rule" }
                    form.stack.create-alert method="post" action=(format!("/orgs/{slug}/alerts")) {
                        (csrf(me))
                        div.field { label for="alert-name" { "Name" } input #alert-name type="text" name="name" required maxlength=(validate::MAX_NAME); }
                        fieldset.field {
                            legend { "Events" }
                            @for e in EVENT_TYPES {
                                label.check { input type="checkbox" name="events" value=(e); " " code { (e) } }
                            }
                        }
                        div.field {
                            label for="alert-app" { "App" }
                            select #alert-app name="app" {
                                option value="" selected { "Every app of the org" }
                                @for app in apps { option value=(app.slug) { (app.slug) } }
                            }
                        }
                        div.field {
                            label for="alert-target" { "Target" }
                            input #alert-target type="text" name="target" required placeholder="https://hooks.example.com/gantry or mailto:ops@example.com" aria-describedby="alert-target-help";
                            span #alert-target-help .hint { "An https:// URL, or mailto: and up to 20 addresses separated by commas." }
                        }
                        div { button type="submit" { "Create rule" } }
                    }
                }
            }
        }
    }
}

/// The rule form's fields: read as pairs, since every checked event box repeats `events`.
fn alert_request(fields: Vec<(String, String)>) -> CreateAlertRequest {
    let one = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
    };
    CreateAlertRequest {
        name: one("name").unwrap_or_default(),
        event: None,
        events: Some(
            fields
                .iter()
                .filter(|(k, _)| k == "events")
                .map(|(_, v)| v.clone())
                .collect(),
        ),
        app: text(&one("app")),
        target: one("target").unwrap_or_default(),
    }
}

/// The page that shows a webhook rule's new signing secret, once.
fn secret_shown(
    me: &Signed,
    heading: &str,
    alert: &AlertRecord,
    secret: &WebhookSecret,
    back: &str,
) -> Response {
    let body = html! {
        h1 { (heading) }
        div.notice.warn role="alert" {
            strong { "Copy this signing secret now. " }
            "You won't be able to see it again. Your receiver needs it to check that deliveries come from gantry."
        }
        section.panel {
            div.field {
                label for="secret-value" { "Signing secret of “" (alert.name) "”" }
                div.secret-box {
                    input #secret-value type="text" readonly value=(secret.expose()) spellcheck="false" autocomplete="off";
                    button type="button" data-copy="secret-value" hidden { "Copy" }
                }
                span.hint { "Deliveries to " code { (alert.target) } " carry " code { "webhook-id" } ", " code { "webhook-timestamp" } " and " code { "webhook-signature" } " (Standard Webhooks v1): verify them with any Standard Webhooks library and this secret." }
            }
        }
        p { a.button href=(back) { "Done" } }
    };
    page(me, Nav::None, heading, body)
}

/// `POST /orgs/{org}/alerts`.
pub async fn create_alert(
    State(state): State<AppState>,
    me: Signed,
    Path(org): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let back = format!("/orgs/{org}#alerts");
    let req = alert_request(fields);
    match state.gantry.create_alert(&me.caller, &org, &req).await {
        Ok((alert, Some(secret))) => secret_shown(
            &me,
            "New alert rule",
            &alert,
            &secret,
            &rule_path(&org, alert.id.as_str()),
        ),
        Ok((alert, None)) => Redirect::to(&rule_path(&org, alert.id.as_str())).into_response(),
        Err(e) => failed(e, &back),
    }
}

/// `GET /orgs/{org}/alerts/{id}`: the rule and its delivery log, newest first.
pub async fn alert_page(
    State(state): State<AppState>,
    me: Signed,
    Path((org_slug, id)): Path<(String, String)>,
) -> Page {
    let g = &state.gantry;
    let (org, role) = g.get_org(&me.caller, &org_slug).await?;
    let alert = g
        .list_alerts(&me.caller, &org_slug)
        .await?
        .into_iter()
        .find(|a| a.id.as_str() == id)
        .ok_or_else(|| DashError(CoreError::NotFound(format!("alert rule '{id}'"))))?;
    let deliveries = g
        .list_deliveries(&me.caller, &org_slug, &id, Some(50))
        .await?;
    let can_write = may_write_alerts(&me, &org, role);
    let here = rule_path(&org_slug, &id);
    let body = html! {
        p.crumbs { a href="/" { "Orgs" } " / " a href=(format!("/orgs/{org_slug}#alerts")) { (org_slug) } " / alerts / " (alert.name) }
        h1 { (alert.name) " " (enabled_badge(alert.enabled)) }
        section.panel #alert-rule {
            p { "Events " @for e in &alert.events { code { (e) } " " } }
            p { "Target " code.target { (alert.target) } @if let Some(app) = &alert.app_slug { " · app " (app) } }
            p.sub { "Created " (time(alert.created_at)) " by " (alert.created_by.name().unwrap_or(alert.created_by.kind())) }
            @if can_write {
                div.buttons {
                    (button_form(&me, &format!("{here}/test"), "Send test", ""))
                    @if alert.enabled {
                        (button_form(&me, &format!("{here}/disable"), "Disable", "secondary"))
                    } @else {
                        (button_form(&me, &format!("{here}/enable"), "Enable", "secondary"))
                    }
                    @if !alert.is_mail() {
                        (button_form(&me, &format!("{here}/rotate-secret"), "New signing secret", "secondary"))
                    }
                    (button_form(&me, &format!("{here}/delete"), "Delete rule", "danger"))
                }
            }
        }
        section.panel #deliveries {
            h2 { "Deliveries" }
            (delivery_table(&me, &here, &deliveries, can_write))
        }
    };
    Ok(page(&me, Nav::Overview, &alert.name, body))
}

fn delivery_table(
    me: &Signed,
    here: &str,
    deliveries: &[DeliveryRecord],
    can_write: bool,
) -> Markup {
    html! {
        @if deliveries.is_empty() { p.empty { "Nothing delivered yet. Send a test to see one." } } @else {
            div.table-wrap { table.cards {
                thead { tr {
                    th scope="col" { "Event" } th scope="col" { "State" } th scope="col" { "Tries" }
                    th scope="col" { "Last answer" } th scope="col" { "Next try" } th scope="col" { "Queued" }
                    th scope="col" { span.sr-only { "Actions" } }
                } }
                tbody { @for d in deliveries { tr data-delivery=(d.id) data-event=(d.event_id) {
                    td data-label="Event" { code { (d.event_type) } span.sub { (d.event_id) } }
                    td data-label="State" { (delivery_badge(d.state)) }
                    td data-label="Tries" { (d.attempts) }
                    td data-label="Last answer" {
                        @if let Some(s) = d.last_status { code { (s) } " " }
                        @if let Some(e) = &d.last_error { span.sub { (e) } }
                    }
                    td data-label="Next try" { @if let Some(at) = d.next_attempt_at { @if d.state == DeliveryState::Pending { (time(at)) } } }
                    td data-label="Queued" { (time(d.created_at)) }
                    td.actions { @if can_write && d.state != DeliveryState::Delivered {
                        (button_form(me, &format!("{here}/deliveries/{}/retry", d.id), "Retry now", "secondary"))
                    } }
                } } }
            } }
        }
    }
}

/// `POST /orgs/{org}/alerts/{id}/test`: a ping, then the log.
pub async fn test_alert(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let here = rule_path(&org, &id);
    match state.gantry.test_alert(&me.caller, &org, &id).await {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(e) => failed(e, &here),
    }
}

/// `POST /orgs/{org}/alerts/{id}/enable` and `…/disable`.
pub async fn enable_alert(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    set_enabled(state, me, org, id, true).await
}

pub async fn disable_alert(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    set_enabled(state, me, org, id, false).await
}

async fn set_enabled(state: AppState, me: Signed, org: String, id: String, on: bool) -> Response {
    let here = rule_path(&org, &id);
    match state
        .gantry
        .set_alert_enabled(&me.caller, &org, &id, on)
        .await
    {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(e) => failed(e, &here),
    }
}

/// `POST /orgs/{org}/alerts/{id}/rotate-secret`: the new secret, once.
pub async fn rotate_alert_secret(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    let here = rule_path(&org, &id);
    match state
        .gantry
        .rotate_alert_secret(&me.caller, &org, &id)
        .await
    {
        Ok((alert, secret, _)) => secret_shown(&me, "New signing secret", &alert, &secret, &here),
        Err(e) => failed(e, &here),
    }
}

/// `POST /orgs/{org}/alerts/{id}/delete`.
pub async fn delete_alert(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id)): Path<(String, String)>,
) -> Response {
    match state.gantry.delete_alert(&me.caller, &org, &id).await {
        Ok(()) => Redirect::to(&format!("/orgs/{org}#alerts")).into_response(),
        Err(e) => failed(e, &rule_path(&org, &id)),
    }
}

/// `POST /orgs/{org}/alerts/{id}/deliveries/{delivery}/retry`.
pub async fn retry_delivery(
    State(state): State<AppState>,
    me: Signed,
    Path((org, id, delivery)): Path<(String, String, String)>,
) -> Response {
    let here = rule_path(&org, &id);
    match state
        .gantry
        .retry_delivery(&me.caller, &org, &id, &delivery)
        .await
    {
        Ok(_) => Redirect::to(&here).into_response(),
        Err(e) => failed(e, &here),
    }
}
