//! The audit log, with the API's filters.

use super::*;

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
