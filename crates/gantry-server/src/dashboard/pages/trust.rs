//! An app's trust policies (keyless CI, DESIGN §8): listed on the app page for whoever may
//! manage its deploy tokens, created from a preset, deleted, and a "test a JWT" form that
//! shows claim by claim why a CI job's ID token would or would not be exchanged.

use super::*;
use gantry_api::CreateTrustPolicyRequest;
use gantry_core::model::TrustPolicyRecord;
use std::collections::BTreeMap;

/// The app page's trust-policy panel.
pub fn trust_section(me: &Signed, app: &str, policies: &[TrustPolicyRecord]) -> Markup {
    html! {
        section.panel #trust-policies {
            h2 { "Keyless CI" }
            p.hint {
                "CI jobs matching a trust policy exchange their OIDC ID token for a deploy token that lives minutes — no secret is stored in the CI system. "
                "In the job: " code { "gantry deploy -a " (app) } " with " code { "permissions: id-token: write" } " (GitHub Actions) or " code { "GANTRY_ID_TOKEN" } " (GitLab " code { "id_tokens:" } ")."
            }
            @if policies.is_empty() { p.empty { "No trust policies." } } @else {
                div.table-wrap { table.cards.trust {
                    thead { tr { th scope="col" { "Name" } th scope="col" { "Issuer" } th scope="col" { "Conditions" } th scope="col" { "Tokens live" } th scope="col" { span.sr-only { "Actions" } } } }
                    tbody { @for p in policies { tr data-policy-id=(p.id) {
                        td data-label="Name" { strong { (p.name) } @if let Some(pr) = p.rules.preset { " " span.badge.muted { (pr.as_str()) } } @if p.waived_immutable_ids.is_some() { " " span.badge.expired title="Trusts names, not ids" { "names only" } } }
                        td data-label="Issuer" { code { (p.rules.issuer) } span.sub { "aud " (p.rules.audience) } }
                        td data-label="Conditions" { @for (k, v) in &p.rules.conditions { code { (k) "=" (v) } " " } }
                        td data-label="Tokens live" { (gantry_core::expiry::format_duration(p.token_lifetime)) }
                        td.actions data-label="Actions" {
                            details.test-jwt {
                                summary.button { "Test a JWT" }
                                form method="post" action=(format!("/apps/{app}/trust/{}/test", p.id)) {
                                    (csrf(me))
                                    label { "ID token " textarea name="token" rows="4" required {} }
                                    button type="submit" { "Test" }
                                }
                            }
                            form.inline method="post" action=(format!("/apps/{app}/trust/{}/delete", p.id)) {
                                (csrf(me))
                                button.danger type="submit" title="Delete the policy and revoke the tokens it issued" { "Delete" }
                            }
                        }
                    } } }
                } }
            }
            details.create open[false] {
                summary.button { "Create trust policy" }
                h2 { "New trust policy" }
                form.stack method="post" action=(format!("/apps/{app}/trust")) {
                    (csrf(me))
                    label { "Name " input name="name" required maxlength="100"; }
                    label { "CI system "
                        select name="preset" {
                            option value="github" selected { "GitHub Actions" }
                            option value="gitlab" { "GitLab CI" }
                            option value="" { "Other issuer (explicit conditions)" }
                        }
                    }
                    label { "Issuer " input name="issuer" placeholder="default: the preset's (token.actions.githubusercontent.com, gitlab.com)"; }
                    label { "Conditions, one CLAIM=VALUE per line (* matches any run)"
                        textarea name="conditions" rows="5" required placeholder="repository_id=123456\nrepository_owner_id=7890\nref=refs/heads/main" {}
                    }
                    p.hint { "GitHub needs " code { "repository_id" } ", " code { "repository_owner_id" } " and " code { "ref" } " or " code { "environment" } "; GitLab " code { "project_id" } ", " code { "namespace_id" } ", " code { "ref" } " and " code { "ref_protected" } ". Ids, not names: a deleted and re-created repository of the same name gets a new id." }
                    label { "Tokens live " input name="token_lifetime" value="15m" maxlength="10"; }
                    label.check { input type="checkbox" name="allow_pull_request_target" value="true"; " Accept pull_request_target jobs (GitHub; they run with the base repository's secrets)" }
                    button type="submit" { "Create" }
                }
            }
        }
    }
}

/// `POST /apps/{app}/trust`.
pub async fn create_trust_policy(
    State(state): State<AppState>,
    me: Signed,
    Path(app): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let back = format!("/apps/{app}#trust-policies");
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| text(&Some(v.clone())))
    };
    let mut conditions = BTreeMap::new();
    for line in field("conditions").unwrap_or_default().lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) => {
                conditions.insert(k.trim().to_owned(), v.trim().to_owned());
            }
            None => {
                return failed(
                    CoreError::invalid("conditions", format!("'{line}' is not CLAIM=VALUE")),
                    &back,
                )
            }
        }
    }
    let req = CreateTrustPolicyRequest {
        name: field("name").unwrap_or_default(),
        preset: field("preset"),
        issuer: field("issuer"),
        conditions,
        token_lifetime: field("token_lifetime"),
        allow_pull_request_target: field("allow_pull_request_target").map(|_| true),
        ..Default::default()
    };
    match state
        .gantry
        .create_trust_policy(&me.caller, &app, &req)
        .await
    {
        Ok(_) => Redirect::to(&back).into_response(),
        Err(e) => failed(e, &back),
    }
}

/// `POST /apps/{app}/trust/{id}/delete`.
pub async fn delete_trust_policy(
    State(state): State<AppState>,
    me: Signed,
    Path((app, id)): Path<(String, String)>,
) -> Response {
    let back = format!("/apps/{app}#trust-policies");
    match state
        .gantry
        .delete_trust_policy(&me.caller, &app, &id)
        .await
    {
        Ok(()) => Redirect::to(&back).into_response(),
        Err(e) => failed(e, &back),
    }
}

#[derive(Deserialize)]
pub struct TestForm {
    token: String,
}

/// `POST /apps/{app}/trust/{id}/test`: the verdict, claim by claim.
pub async fn test_trust_policy(
    State(state): State<AppState>,
    me: Signed,
    Path((app, id)): Path<(String, String)>,
    Form(f): Form<TestForm>,
) -> Response {
    let back = format!("/apps/{app}#trust-policies");
    let checks = match state
        .gantry
        .test_trust_policy(&me.caller, &app, &id, &f.token, state.issuer_keys.as_ref())
        .await
    {
        Ok(c) => c,
        Err(e) => return failed(e, &back),
    };
    let verdict = crate::views::trust_test(&checks);
    let body = html! {
        p.crumbs { a href=(back) { (app) } " / trust policy " (id) " / test" }
        h1 { @if verdict.matches { "This token would be exchanged" } @else { "This token would be refused" } }
        section.panel #trust-test {
            div.table-wrap { table.cards {
                thead { tr { th scope="col" { "" } th scope="col" { "Claim" } th scope="col" { "Policy asks" } th scope="col" { "Token says" } } }
                tbody { @for c in &verdict.checks { tr.(if c.ok { "ok" } else { "fail" }) {
                    td data-label="Result" { @if c.ok { span.badge.active { "ok" } } @else { span.badge.revoked { "no" } } }
                    td data-label="Claim" { code { (c.claim) } }
                    td data-label="Policy asks" { (c.expected) }
                    td data-label="Token says" { @match &c.actual { Some(a) => code { (a) }, None => span.empty { "missing" } } }
                } } }
            } }
            p.hint { "Testing spends nothing: the token can still be exchanged once." }
            p { a.button href=(back) { "Back" } }
        }
    };
    page(&me, Nav::Overview, "Test a JWT", body)
}
