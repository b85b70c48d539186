//! Signing in and out: the login form (limited like the API's logins), the session cookie, logging out.

use super::*;

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
