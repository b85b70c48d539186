//! Administration: every token of the instance, and users.

use super::*;

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
