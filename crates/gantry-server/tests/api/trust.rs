//! Keyless CI (DESIGN §8): trust policies and RFC 8693 token exchange against a real OIDC
//! issuer on loopback (keys generated at test time, discovery and JWKS served over HTTP,
//! allowed through `oidc.allow_insecure_issuers`).

use crate::helpers::*;
use crate::issuer::{forged, Issuer};
use gantry_core::time::Clock;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";

async fn setup() -> (TestApp, Issuer) {
    let issuer = Issuer::start().await;
    let url = issuer.url.clone();
    let app = spawn_app_with(move |c| c.settings.insecure_issuers = vec![url]).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    (app, issuer)
}

fn now_s(app: &TestApp) -> i64 {
    app.clock.now().0 / 1000
}

/// A github-preset policy for `octo/web` (ids 1001/2002) on `main`, trusting the test issuer.
async fn github_policy(app: &TestApp, issuer: &Issuer, extra: Value) -> Value {
    let mut body = json!({
        "name": "deploy from main",
        "preset": "github",
        "issuer": issuer.url,
        "conditions": {"repository_id": "1001", "repository_owner_id": "2002", "ref": "refs/heads/main"},
    });
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = app
        .post("/v1/apps/web/trust-policies", &app.admin_token, body)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

async fn exchange(app: &TestApp, jwt: &str, resource: &str) -> Resp {
    let rb = app
        .http
        .post(format!("{}/v1/oauth/token", app.base))
        .form(&[
            ("grant_type", EXCHANGE),
            ("subject_token", jwt),
            ("subject_token_type", ID_TOKEN),
            ("resource", resource),
        ]);
    TestApp::finish(rb).await
}

async fn exchange_audits(app: &TestApp) -> Vec<Value> {
    let r = app
        .get(
            "/v1/audit?action=token.exchange&limit=1000",
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    items(&r)
}

#[tokio::test]
async fn a_github_job_exchanges_its_id_token_for_a_short_lived_deploy_token_and_deploys() {
    let (app, issuer) = setup().await;
    let policy = github_policy(&app, &issuer, json!({})).await;
    assert_eq!(policy["token_lifetime"], "15m");
    assert_eq!(policy["audience"], app.base.as_str());
    for kid in ["rsa-1", "ec-1"] {
        let jwt = issuer.sign(kid, &issuer.github_claims(now_s(&app), &app.base));
        let r = exchange(&app, &jwt, "web").await;
        assert_eq!(r.status, 200, "{kid}: {}", r.text);
        assert_eq!(r.header("cache-control"), "no-store");
        assert_eq!(r.body["token_type"], "Bearer");
        assert_eq!(
            r.body["issued_token_type"],
            "urn:ietf:params:oauth:token-type:access_token"
        );
        assert_eq!(r.body["expires_in"], 900);
        let token = r.body["access_token"].as_str().unwrap().to_owned();
        assert!(token.starts_with("gtd_"), "{token}");
        let d = app
            .deploy(&token, "web", b"build".to_vec(), None, false)
            .await;
        assert_eq!(d.status, 201, "{}", d.text);
        // The token says where it came from, and is listed like any other.
        let who = app.get("/v1/user", &token).await;
        assert_eq!(who.status, 200, "{}", who.text);
    }
    let listed = app.get("/v1/apps/web/tokens", &app.admin_token).await;
    let tokens = items(&listed);
    let federated: Vec<&Value> = tokens
        .iter()
        .filter(|t| t["federated"].is_object())
        .collect();
    assert_eq!(federated.len(), 2, "{}", listed.text);
    let t = federated[0];
    assert_eq!(t["federated"]["policy"], policy["id"]);
    assert_eq!(t["federated"]["issuer"], issuer.url.as_str());
    assert_eq!(
        t["federated"]["subject"],
        "repo:octo/web:ref:refs/heads/main"
    );
    assert_eq!(t["federated"]["claims"]["run_id"], "777");
    assert_eq!(t["created_by"]["type"], "trust_policy");
    // Audited with iss, sub, jti and the run's claims.
    let audits = exchange_audits(&app).await;
    let ok: Vec<&Value> = audits
        .iter()
        .filter(|a| a["outcome"] == "success")
        .collect();
    assert_eq!(ok.len(), 2);
    assert_eq!(ok[0]["detail"]["sub"], "repo:octo/web:ref:refs/heads/main");
    assert!(ok[0]["detail"]["jti"].as_str().unwrap().starts_with("jti_"));
    assert_eq!(ok[0]["detail"]["claims"]["repository"], "octo/web");
    // It expires with its lifetime.
    app.advance(16 * MINUTE);
    let r = app
        .deploy(
            &token_of(&app, &issuer).await,
            "web",
            b"x".to_vec(),
            None,
            false,
        )
        .await;
    assert_eq!(r.status, 201, "a fresh exchange still works: {}", r.text);
}

async fn token_of(app: &TestApp, issuer: &Issuer) -> String {
    let jwt = issuer.sign("rsa-1", &issuer.github_claims(now_s(app), &app.base));
    let r = exchange(app, &jwt, "web").await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn issued_tokens_expire_never_manage_tokens_and_die_with_their_policy() {
    let (app, issuer) = setup().await;
    let policy = github_policy(&app, &issuer, json!({"token_lifetime": "5m"})).await;
    let token = token_of(&app, &issuer).await;
    // Nothing of token management.
    let r = app
        .post("/v1/apps/web/tokens", &token, json!({"name": "longer"}))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app.get("/v1/apps/web/trust-policies", &token).await;
    assert_eq!(r.status, 403, "{}", r.text);
    let r = app
        .post(
            "/v1/apps/web/trust-policies",
            &token,
            json!({"name": "x", "issuer": issuer.url, "conditions": {"sub": "x"}}),
        )
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Deleting the policy revokes what it issued, at once.
    let id = policy["id"].as_str().unwrap();
    let r = app
        .delete(
            &format!("/v1/apps/web/trust-policies/{id}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let r = app.get("/v1/user", &token).await;
    assert_eq!(r.status, 401, "{}", r.text);
    let r = app
        .get(
            &format!("/v1/apps/web/trust-policies/{id}"),
            &app.admin_token,
        )
        .await;
    assert_eq!(r.status, 404);
    // And a 5-minute token is gone after 5 minutes.
    github_policy(&app, &issuer, json!({"token_lifetime": "5m"})).await;
    let token = token_of(&app, &issuer).await;
    app.advance(5 * MINUTE + std::time::Duration::from_secs(1));
    assert_eq!(app.get("/v1/user", &token).await.status, 401);
}

#[tokio::test]
async fn every_refused_id_token_gets_the_same_invalid_grant_and_the_audit_log_says_why() {
    let (app, issuer) = setup().await;
    github_policy(&app, &issuer, json!({})).await;
    let now = now_s(&app);
    let good = issuer.github_claims(now, &app.base);
    let with = |patch: Value| {
        let mut c = issuer.github_claims(now, &app.base);
        for (k, v) in patch.as_object().unwrap() {
            if v.is_null() {
                c.as_object_mut().unwrap().remove(k);
            } else {
                c[k] = v.clone();
            }
        }
        c
    };
    // HS256 with the issuer's public key as the HMAC secret: the classic confusion attack.
    let public = issuer.public_pem("rsa-1");
    let hs_claims = with(json!({}));
    let hs_header = json!({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"});
    let signing_input = {
        use base64::Engine;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}",
            e.encode(hs_header.to_string()),
            e.encode(hs_claims.to_string())
        )
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(&public).unwrap();
    mac.update(signing_input.as_bytes());
    let hs = format!("{signing_input}.{}", {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    });
    let mut other_sig = issuer.sign("rsa-1", &good);
    other_sig.truncate(other_sig.rfind('.').unwrap());
    let tampered = format!("{other_sig}.{}", "A".repeat(342));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong aud",
            issuer.sign("rsa-1", &with(json!({"aud": "https://elsewhere.example"}))),
            "claims",
        ),
        (
            "aud list without ours",
            issuer.sign("rsa-1", &with(json!({"aud": ["a", "b"]}))),
            "claims",
        ),
        (
            "wrong iss",
            issuer.sign(
                "rsa-1",
                &with(json!({"iss": "https://token.actions.githubusercontent.com"})),
            ),
            "no_policy",
        ),
        (
            "expired",
            issuer.sign(
                "rsa-1",
                &with(json!({"iat": now - 600, "nbf": now - 600, "exp": now - 61})),
            ),
            "claims",
        ),
        (
            "future nbf",
            issuer.sign("rsa-1", &with(json!({"nbf": now + 120}))),
            "claims",
        ),
        (
            "over-long lifetime",
            issuer.sign("rsa-1", &with(json!({"exp": now + 3601}))),
            "claims",
        ),
        (
            "no jti",
            issuer.sign("rsa-1", &with(json!({"jti": null}))),
            "claims",
        ),
        (
            "no exp",
            issuer.sign("rsa-1", &with(json!({"exp": null}))),
            "claims",
        ),
        (
            "unknown key",
            {
                let j = issuer.sign("rsa-1", &good);
                let (_, rest) = j.split_once('.').unwrap();
                let header = {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(json!({"alg": "RS256", "kid": "nobody"}).to_string())
                };
                format!("{header}.{rest}")
            },
            "unknown_key",
        ),
        (
            "alg none",
            forged(&json!({"alg": "none"}), &good, b""),
            "algorithm",
        ),
        ("HMAC with the public key", hs, "algorithm"),
        ("bad signature", tampered, "signature"),
        (
            "unmatched condition",
            issuer.sign("rsa-1", &with(json!({"ref": "refs/heads/evil"}))),
            "conditions",
        ),
        (
            "another repository of the same name",
            issuer.sign("rsa-1", &with(json!({"repository_id": "9999"}))),
            "conditions",
        ),
        (
            "pull_request_target",
            issuer.sign("rsa-1", &with(json!({"event_name": "pull_request_target"}))),
            "conditions",
        ),
        ("garbage", "not.a.jwt".to_owned(), "malformed"),
    ];
    let mut answers = Vec::new();
    for (what, jwt, _) in &cases {
        let r = exchange(&app, jwt, "web").await;
        assert_eq!(r.status, 400, "{what}: {}", r.text);
        assert_eq!(r.body["error"], "invalid_grant", "{what}: {}", r.text);
        answers.push(r.text.clone());
    }
    answers.dedup();
    assert_eq!(
        answers.len(),
        1,
        "every refusal reads the same: {answers:?}"
    );
    // An unknown app answers the same.
    let r = exchange(&app, &issuer.sign("rsa-1", &good), "nope").await;
    assert_eq!(r.text, answers[0]);
    // The audit log tells the operator which rule failed, in order.
    let audits = exchange_audits(&app).await;
    let mut reasons: Vec<String> = audits
        .iter()
        .filter(|a| a["outcome"] == "failure")
        .map(|a| a["detail"]["reason"].as_str().unwrap_or("").to_owned())
        .collect();
    reasons.reverse();
    let mut expected: Vec<String> = cases.iter().map(|c| c.2.to_owned()).collect();
    expected.push("no_app".into());
    assert_eq!(reasons, expected);
    // The refused tokens' values never reach the audit log.
    let all = app.get("/v1/audit?limit=1000", &app.admin_token).await;
    assert!(!all.text.contains(&cases[0].1));
    // The good token still works.
    let r = exchange(&app, &issuer.sign("rsa-1", &good), "web").await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn an_id_token_is_exchanged_once() {
    let (app, issuer) = setup().await;
    github_policy(&app, &issuer, json!({})).await;
    let jwt = issuer.sign("ec-1", &issuer.github_claims(now_s(&app), &app.base));
    assert_eq!(exchange(&app, &jwt, "web").await.status, 200);
    let again = exchange(&app, &jwt, "web").await;
    assert_eq!(again.status, 400, "{}", again.text);
    assert_eq!(again.body["error"], "invalid_grant");
    let audits = exchange_audits(&app).await;
    assert_eq!(audits[0]["detail"]["reason"], "replay", "{:?}", audits[0]);
}

#[tokio::test]
async fn a_rotated_issuer_key_is_fetched_and_unknown_keys_refetch_at_most_once_a_minute() {
    let (app, issuer) = setup().await;
    github_policy(&app, &issuer, json!({})).await;
    assert_eq!(
        exchange(&app, &token_jwt(&app, &issuer, "rsa-1"), "web")
            .await
            .status,
        200
    );
    let fetched = issuer.fetches();
    assert_eq!(fetched, 1, "one fetch, then the cache");
    // The issuer rotates: a new key, the old one retired.
    issuer.add_key("rsa-2", jsonwebtoken::Algorithm::RS256);
    issuer.retire("rsa-1");
    // Within a minute of the last fetch, an unknown key is refused without asking again.
    let r = exchange(&app, &token_jwt(&app, &issuer, "rsa-2"), "web").await;
    assert_eq!(r.status, 400, "{}", r.text);
    for _ in 0..5 {
        exchange(&app, &token_jwt(&app, &issuer, "made-up"), "web").await;
    }
    assert_eq!(
        issuer.fetches(),
        1,
        "a flood of unknown kids costs no fetch"
    );
    // After a minute, the unknown key makes one refetch, and the new key is accepted.
    app.advance(61 * std::time::Duration::from_secs(1));
    let r = exchange(&app, &token_jwt(&app, &issuer, "rsa-2"), "web").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(issuer.fetches(), 2);
    // The cached set no longer has the retired key... but it stays cached until the next
    // refetch: a token of the retired key is refused once the set is refetched.
    app.advance(61 * std::time::Duration::from_secs(1));
    let r = exchange(&app, &token_jwt(&app, &issuer, "rsa-1"), "web").await;
    assert_eq!(r.status, 400, "{}", r.text);
}

fn token_jwt(app: &TestApp, issuer: &Issuer, kid: &str) -> String {
    if kid == "made-up" {
        let j = issuer.sign("rsa-1", &issuer.github_claims(now_s(app), &app.base));
        let (_, rest) = j.split_once('.').unwrap();
        use base64::Engine;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(json!({"alg": "RS256", "kid": gantry_core::ids::new_id("kid")}).to_string());
        return format!("{h}.{rest}");
    }
    issuer.sign(kid, &issuer.github_claims(now_s(app), &app.base))
}

#[tokio::test]
async fn policies_need_conditions_and_the_presets_immutable_ids() {
    let (app, issuer) = setup().await;
    let create = |body: Value| {
        let app = &app;
        async move {
            app.post("/v1/apps/web/trust-policies", &app.admin_token, body)
                .await
        }
    };
    let url = issuer.url.as_str();
    // No condition at all: trusts every job of the issuer.
    let r = create(json!({"name": "p", "issuer": url})).await;
    assert_invalid_field(&r, "conditions");
    // The github preset without the repository's id: a re-created repository of the same
    // name would inherit the trust.
    let r = create(json!({"name": "p", "preset": "github", "issuer": url,
        "conditions": {"repository": "octo/web", "repository_owner_id": "2002", "ref": "refs/heads/main"}}))
    .await;
    assert_invalid_field(&r, "conditions");
    assert!(r.text.contains("repository_id"), "{}", r.text);
    let r = create(json!({"name": "p", "preset": "github", "issuer": url,
        "conditions": {"repository_id": "1001", "repository_owner_id": "2002"}}))
    .await;
    assert!(r.text.contains("ref or environment"), "{}", r.text);
    let r = create(json!({"name": "p", "preset": "github", "issuer": url,
        "conditions": {"repository_id": "10*", "repository_owner_id": "2002", "ref": "refs/heads/main"}}))
    .await;
    assert_invalid_field(&r, "conditions.repository_id");
    let r = create(json!({"name": "p", "preset": "gitlab", "issuer": url,
        "conditions": {"project_id": "5", "namespace_id": "6", "ref": "main"}}))
    .await;
    assert!(r.text.contains("ref_protected"), "{}", r.text);
    // Waiving the ids needs a reason.
    let r = create(
        json!({"name": "p", "preset": "github", "issuer": url, "require_immutable_ids": false,
        "conditions": {"repository": "octo/web"}}),
    )
    .await;
    assert_invalid_field(&r, "reason");
    let r = create(json!({"name": "waived", "preset": "github", "issuer": url, "require_immutable_ids": false,
        "reason": "GitHub Enterprise Server 3.9 sends no ids", "conditions": {"repository": "octo/web"}}))
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["require_immutable_ids"], false);
    // Reserved claims, match-anything globs, plain-http issuers nobody listed, lifetimes.
    let r = create(json!({"name": "p", "issuer": url, "conditions": {"aud": "x"}})).await;
    assert_invalid_field(&r, "conditions.aud");
    let r = create(json!({"name": "p", "issuer": url, "conditions": {"sub": "*"}})).await;
    assert_invalid_field(&r, "conditions.sub");
    let r =
        create(json!({"name": "p", "issuer": "http://127.0.0.1:9/", "conditions": {"sub": "x"}}))
            .await;
    assert_invalid_field(&r, "issuer");
    let r = create(
        json!({"name": "p", "issuer": "https://u:p@issuer.example", "conditions": {"sub": "x"}}),
    )
    .await;
    assert_invalid_field(&r, "issuer");
    let r = create(
        json!({"name": "p", "issuer": url, "conditions": {"sub": "x"}, "token_lifetime": "2h"}),
    )
    .await;
    assert_invalid_field(&r, "token_lifetime");
    let r = create(
        json!({"name": "p", "issuer": url, "conditions": {"sub": "x"}, "preset": "jenkins"}),
    )
    .await;
    assert_invalid_field(&r, "preset");
    // Any issuer with discovery, by explicit conditions (exact or glob).
    let r = create(json!({"name": "any", "issuer": url, "conditions": {"sub": "repo:octo/web:ref:refs/heads/*"}})).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = create(json!({"name": "any", "issuer": url, "conditions": {"sub": "x"}})).await;
    assert_eq!(r.status, 409, "{}", r.text);
    let jwt = issuer.sign("ec-1", &issuer.github_claims(now_s(&app), &app.base));
    assert_eq!(exchange(&app, &jwt, "web").await.status, 200);
}

#[tokio::test]
async fn the_test_route_explains_claim_by_claim_and_spends_nothing() {
    let (app, issuer) = setup().await;
    let policy = github_policy(&app, &issuer, json!({})).await;
    let id = policy["id"].as_str().unwrap();
    let mut claims = issuer.github_claims(now_s(&app), &app.base);
    claims["ref"] = json!("refs/heads/feature");
    let jwt = issuer.sign("rsa-1", &claims);
    let r = app
        .post(
            &format!("/v1/apps/web/trust-policies/{id}/test"),
            &app.admin_token,
            json!({"token": jwt}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["matches"], false);
    let checks = r.body["checks"].as_array().unwrap();
    let by = |claim: &str| checks.iter().find(|c| c["claim"] == claim).unwrap().clone();
    assert_eq!(by("signature")["ok"], true);
    assert_eq!(by("repository_id")["ok"], true);
    assert_eq!(by("ref")["ok"], false);
    assert_eq!(by("ref")["actual"], "refs/heads/feature");
    assert_eq!(by("ref")["expected"], "refs/heads/main");
    // A matching token: all green, and still exchangeable afterwards (its jti unspent).
    let jwt = issuer.sign("rsa-1", &issuer.github_claims(now_s(&app), &app.base));
    let r = app
        .post(
            &format!("/v1/apps/web/trust-policies/{id}/test"),
            &app.admin_token,
            json!({"token": jwt}),
        )
        .await;
    assert_eq!(r.body["matches"], true, "{}", r.text);
    assert_eq!(exchange(&app, &jwt, "web").await.status, 200);
    // Viewers may not manage trust.
    let (uid, viewer) = app.user("viewer@example.com").await;
    app.add_member(&app.admin_token, "acme", &uid, "viewer")
        .await;
    let r = app.get("/v1/apps/web/trust-policies", &viewer).await;
    assert_eq!(r.status, 403, "{}", r.text);
}

#[tokio::test]
async fn exchanges_are_rate_limited_per_address_and_malformed_requests_are_invalid_request() {
    let issuer = Issuer::start().await;
    let url = issuer.url.clone();
    let app = spawn_app_with(move |c| {
        c.settings.insecure_issuers = vec![url];
        c.settings.exchange_limit = limit(5, 60);
    })
    .await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    let form = |pairs: &[(&str, &str)]| {
        let rb = app
            .http
            .post(format!("{}/v1/oauth/token", app.base))
            .form(pairs);
        TestApp::finish(rb)
    };
    let r = form(&[("grant_type", "password")]).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );
    let r = form(&[("grant_type", EXCHANGE)]).await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = form(&[
        ("grant_type", EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", "urn:x"),
    ])
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request"))
    );
    let r = form(&[
        ("grant_type", EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", ID_TOKEN),
    ])
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_request")),
        "no resource"
    );
    let r = form(&[
        ("grant_type", EXCHANGE),
        ("subject_token", "x"),
        ("subject_token_type", ID_TOKEN),
        ("resource", "web"),
    ])
    .await;
    assert_eq!(
        (r.status, r.body["error"].as_str()),
        (400, Some("invalid_grant"))
    );
    let r = form(&[("grant_type", EXCHANGE)]).await;
    assert_eq!(r.status, 429, "{}", r.text);
    assert_eq!(r.body["error"], "slow_down");
    assert!(!r.header("retry-after").is_empty());
}

#[tokio::test]
async fn issuers_that_reach_inside_are_refused_at_creation_and_at_every_fetch() {
    let (app, issuer) = setup().await;
    let conditions = json!({"sub": "repo:octo/web:ref:refs/heads/main"});
    for literal in [
        "https://127.0.0.1:9",
        "https://10.0.0.1",
        "https://[::1]:9",
        "https://169.254.169.254",
    ] {
        let r = app
            .post(
                "/v1/apps/web/trust-policies",
                &app.admin_token,
                json!({"name": literal, "issuer": literal, "conditions": conditions}),
            )
            .await;
        assert_invalid_field(&r, "issuer");
        assert!(r.text.contains("refused"), "{literal}: {}", r.text);
    }
    // A name is checked where it resolves: `localhost` is loopback, so its keys are never
    // fetched, and the exchange is refused like any other.
    let port = issuer.url.rsplit(':').next().unwrap();
    let named = format!("https://localhost:{port}");
    let r = app
        .post(
            "/v1/apps/web/trust-policies",
            &app.admin_token,
            json!({"name": "named", "issuer": named, "conditions": conditions}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut claims = issuer.github_claims(now_s(&app), &app.base);
    claims["iss"] = json!(named);
    let r = exchange(&app, &issuer.sign("rsa-1", &claims), "web").await;
    assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
    assert_eq!(issuer.fetches(), 0, "nothing was fetched from inside");
    let audits = exchange_audits(&app).await;
    assert_eq!(
        audits[0]["detail"]["reason"], "issuer_keys",
        "{:?}",
        audits[0]
    );
    let why = audits[0]["detail"]["why"].as_str().unwrap();
    assert!(
        why.contains("refused") && why.contains("localhost"),
        "{why}"
    );
}

#[tokio::test]
async fn an_issuer_answering_more_than_256_kib_or_redirecting_is_not_trusted() {
    // Two issuers of our own: one whose key set is 300 KiB, one whose discovery redirects.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let big = format!("{url}/big");
    let moved = format!("{url}/moved");
    let b = big.clone();
    let router = axum::Router::new()
        .route(
            "/big/.well-known/openid-configuration",
            axum::routing::get(move || {
                let b = b.clone();
                async move { axum::Json(json!({"issuer": b, "jwks_uri": format!("{b}/jwks")})) }
            }),
        )
        .route(
            "/big/jwks",
            axum::routing::get(|| async {
                let pad = "x".repeat(300 * 1024);
                axum::Json(json!({"keys": [], "pad": pad}))
            }),
        )
        .route(
            "/moved/.well-known/openid-configuration",
            axum::routing::get(|| async {
                axum::response::Redirect::temporary("/big/.well-known/openid-configuration")
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let issuer = Issuer::start().await;
    let allowed = vec![big.clone(), moved.clone()];
    let app = spawn_app_with(move |c| c.settings.insecure_issuers = allowed).await;
    app.org_with_app(&app.admin_token, "acme", "web").await;
    for (name, iss, why) in [("big", &big, "256 KiB"), ("moved", &moved, "HTTP 307")] {
        let r = app
            .post(
                "/v1/apps/web/trust-policies",
                &app.admin_token,
                json!({"name": name, "issuer": iss, "conditions": {"sub": "x"}}),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
        let mut claims = issuer.github_claims(now_s(&app), &app.base);
        claims["iss"] = json!(iss);
        claims["sub"] = json!("x");
        let r = exchange(&app, &issuer.sign("rsa-1", &claims), "web").await;
        assert_eq!(r.body["error"], "invalid_grant", "{}", r.text);
        let audits = exchange_audits(&app).await;
        assert_eq!(
            audits[0]["detail"]["reason"], "issuer_keys",
            "{:?}",
            audits[0]
        );
        let said = audits[0]["detail"]["why"].as_str().unwrap();
        assert!(said.contains(why), "{name}: {said}");
    }
}

#[tokio::test]
async fn a_policy_narrowed_to_deploy_issues_tokens_that_deploy_and_do_nothing_else() {
    let (app, issuer) = setup().await;
    let policy = github_policy(&app, &issuer, json!({"capabilities": ["deploy"]})).await;
    assert_eq!(policy["capabilities"], json!(["deploy"]));
    let token = token_of(&app, &issuer).await;
    let d = app.deploy(&token, "web", b"x".to_vec(), None, false).await;
    assert_eq!(d.status, 201, "{}", d.text);
    let e = app
        .put("/v1/apps/web/env/LOG", &token, json!({"value": "debug"}))
        .await;
    assert_eq!(e.status, 403, "{}", e.text);
    assert_eq!(
        app.put("/v1/apps/web/config", &token, json!({}))
            .await
            .status,
        403
    );
    let r = app
        .post("/v1/apps/web/trust-policies", &app.admin_token, json!({"name": "bad", "issuer": issuer.url, "conditions": {"sub": "x"}, "capabilities": ["admin"]}))
        .await;
    assert_invalid_field(&r, "capabilities");
}
