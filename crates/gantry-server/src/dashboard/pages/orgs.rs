//! The overview, org and app pages, and creating orgs and apps (the org page's Alerts section
//! is `alerts.rs`).

use super::*;

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
                                li { a href=(format!("/apps/{}", app.slug)) { (app.slug) } @if app.name != app.slug.as_str() { " — " (app.name) } }
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
    let alerts = g.list_alerts(&me.caller, &slug).await?;
    let alerts = alerts_section(&me, &org, &alerts, &apps, may_write_alerts(&me, &org, role));
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
        (policy_section(&me, &org, role, &g.settings().token_policy))
        (alerts)
    };
    Ok(page(&me, Nav::Overview, &org.name, body))
}

/// The org page's "Token policy" panel: what the org adds to the instance's rules, and — for
/// owners and instance administrators — the form that replaces it.
fn policy_section(
    me: &Signed,
    org: &gantry_core::model::OrgRecord,
    role: Option<Role>,
    instance: &gantry_core::expiry::TokenPolicy,
) -> Markup {
    let view = crate::views::org_policy(&org.policy, instance);
    let target = gantry_core::policy::Target {
        org_id: &org.id,
        app_id: None,
    };
    let may_set = gantry_core::policy::check(
        &me.caller.principal,
        role,
        target,
        gantry_core::policy::Capability::SetOrgPolicy,
    ) == gantry_core::policy::Access::Allow;
    let nets = view.allowed_ips.as_ref().map(|n| n.join(", "));
    html! {
        section.panel #org-policy {
            h2 { "Token policy" }
            p.hint { "Applies to the org's tokens when they are created or rotated; it only ever tightens this instance's rules." }
            dl.facts {
                dt { "Max lifetime" }
                dd { (view.max_lifetime.clone().unwrap_or_else(|| "the instance's".into()))
                     " " span.sub { "in force: " (view.effective.max_lifetime.clone().unwrap_or_else(|| "none".into())) } }
                dt { "Expiry" }
                dd { (if view.effective.require_expiry { "required" } else { "optional" }) }
                dt { "Allowed networks" }
                dd { @match &nets { Some(n) => code { (n) }, None => "any address" } }
            }
            @if may_set {
                details.create {
                    summary.button { "Change policy" }
                    form.stack method="post" action=(format!("/orgs/{}/policy", org.slug)) {
                        (csrf(me))
                        div.field {
                            label for="policy-max" { "Max lifetime " span.hint { "(e.g. 30d; empty: the instance's)" } }
                            input #policy-max type="text" name="max_lifetime" value=[view.max_lifetime.as_deref()] autocomplete="off";
                        }
                        label.check { input type="checkbox" name="require_expiry" checked[org.policy.require_expiry]; " Require every token to expire" }
                        div.field {
                            label for="policy-ips" { "Allowed networks " span.hint { "(default and ceiling for new tokens; empty: any)" } }
                            input #policy-ips type="text" name="allowed_ips" value=[nets.as_deref()] autocomplete="off";
                        }
                        div { button type="submit" { "Save policy" } }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct PolicyForm {
    max_lifetime: Option<String>,
    require_expiry: Option<String>,
    allowed_ips: Option<String>,
}

/// `POST /orgs/{org}/policy`.
pub async fn set_org_policy(
    State(state): State<AppState>,
    me: Signed,
    Path(org): Path<String>,
    Form(f): Form<PolicyForm>,
) -> Response {
    let req = gantry_api::PutOrgPolicyRequest {
        max_lifetime: text(&f.max_lifetime),
        require_expiry: f.require_expiry.is_some().then_some(true),
        allowed_ips: super::tokens::list_field(&f.allowed_ips),
    };
    let back = format!("/orgs/{org}");
    match state.gantry.put_org_policy(&me.caller, &org, &req).await {
        Ok(_) => Redirect::to(&format!("{back}#org-policy")).into_response(),
        Err(e) => failed(e, &back),
    }
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
        @if can_manage {
            (super::trust::trust_section(&me, &slug, &g.list_trust_policies(&me.caller, &slug).await?))
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
