//! The OpenAPI document is generated from the same handler list that builds the router, so it
//! cannot drift; these tests check that it is complete and says what errors look like.

use crate::helpers::spawn_app;
use reqwest::Method;

/// Every route the server answers (method, path), from DESIGN §3 plus our additions.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/v1/openapi.json"),
    ("post", "/v1/auth/login"),
    ("get", "/v1/user"),
    ("put", "/v1/user/password"),
    ("get", "/v1/users"),
    ("post", "/v1/users"),
    ("patch", "/v1/users/{id}"),
    ("get", "/v1/orgs"),
    ("post", "/v1/orgs"),
    ("get", "/v1/orgs/{org}"),
    ("get", "/v1/orgs/{org}/members"),
    ("get", "/v1/orgs/{org}/policy"),
    ("post", "/v1/credentials/revoke"),
    ("post", "/v1/secret-scanning/github"),
    ("put", "/v1/orgs/{org}/policy"),
    ("put", "/v1/orgs/{org}/members/{user_id}"),
    ("delete", "/v1/orgs/{org}/members/{user_id}"),
    ("get", "/v1/orgs/{org}/apps"),
    ("post", "/v1/orgs/{org}/apps"),
    ("get", "/v1/apps/{app}"),
    ("delete", "/v1/apps/{app}"),
    ("get", "/v1/orgs/{org}/alerts"),
    ("post", "/v1/orgs/{org}/alerts"),
    ("delete", "/v1/orgs/{org}/alerts/{id}"),
    ("patch", "/v1/orgs/{org}/alerts/{id}"),
    ("post", "/v1/orgs/{org}/alerts/{id}/rotate-secret"),
    ("post", "/v1/orgs/{org}/alerts/{id}/test"),
    ("get", "/v1/orgs/{org}/alerts/{id}/deliveries"),
    (
        "post",
        "/v1/orgs/{org}/alerts/{id}/deliveries/{delivery_id}/retry",
    ),
    ("post", "/v1/apps/{app}/deploys"),
    ("get", "/v1/apps/{app}/deploys"),
    ("get", "/v1/apps/{app}/deploys/{version}"),
    ("get", "/v1/apps/{app}/deploys/{version}/artifact"),
    ("get", "/v1/apps/{app}/env"),
    ("put", "/v1/apps/{app}/env/{key}"),
    ("delete", "/v1/apps/{app}/env/{key}"),
    ("get", "/v1/apps/{app}/config"),
    ("put", "/v1/apps/{app}/config"),
    ("post", "/v1/apps/{app}/tokens"),
    ("get", "/v1/apps/{app}/tokens"),
    ("post", "/v1/orgs/{org}/tokens"),
    ("get", "/v1/orgs/{org}/tokens"),
    ("post", "/v1/user/tokens"),
    ("get", "/v1/user/tokens"),
    ("get", "/v1/tokens"),
    ("get", "/v1/tokens/{id}"),
    ("patch", "/v1/tokens/{id}"),
    ("delete", "/v1/tokens/{id}"),
    ("post", "/v1/tokens/{id}/rotate"),
    ("get", "/v1/audit"),
    ("get", "/v1/auth/check"),
    ("post", "/v1/oauth/introspect"),
    ("post", "/v1/oauth/revoke"),
    ("post", "/v1/oauth/token"),
    ("post", "/v1/tokens/self/rotate"),
    ("post", "/v1/apps/{app}/trust-policies"),
    ("get", "/v1/apps/{app}/trust-policies"),
    ("get", "/v1/apps/{app}/trust-policies/{id}"),
    ("delete", "/v1/apps/{app}/trust-policies/{id}"),
    ("post", "/v1/apps/{app}/trust-policies/{id}/test"),
];

#[tokio::test]
async fn openapi_describes_every_route_with_its_errors() {
    let app = spawn_app().await;
    let r = app.req(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(r.status, 200);
    let doc = &r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let mut described = 0;
    for (method, path) in ROUTES {
        let op = &paths[*path][*method];
        assert!(op.is_object(), "{method} {path} is not described");
        assert!(
            op["responses"].as_object().is_some_and(|r| !r.is_empty()),
            "{method} {path} has no responses"
        );
        let public = !path.starts_with("/v1")
            || *path == "/v1/auth/login"
            || *path == "/v1/openapi.json"
            || *path == "/v1/oauth/revoke"
            || *path == "/v1/oauth/token"
            || *path == "/v1/secret-scanning/github";
        if !public {
            for code in ["401", "403", "404"] {
                assert!(
                    op["responses"][code].is_object(),
                    "{method} {path} lacks {code}"
                );
            }
        }
        described += 1;
    }
    let total: usize = paths
        .values()
        .map(|p| {
            p.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .count()
        })
        .sum();
    assert_eq!(
        total, described,
        "the document has operations this test does not know"
    );
    // Every parameter a path does not name is a query parameter (but for the headers GitHub
    // signs its reports with), and only path parameters are required (forward auth's `app`
    // and `capability` were once described as path ones).
    for (path, item) in paths {
        for op in item.as_object().unwrap().values() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let name = p["name"].as_str().unwrap();
                let in_path = path.contains(&format!("{{{name}}}"));
                if name.starts_with("Github-Public-Key-") {
                    assert_eq!(p["in"], "header", "{path}: parameter {name}");
                    continue;
                }
                let expected = if in_path { "path" } else { "query" };
                assert_eq!(p["in"], expected, "{path}: parameter {name}");
                if !in_path {
                    assert_ne!(p["required"], true, "{path}: query parameter {name}");
                }
            }
        }
    }
    for schema in [
        "ErrorBody",
        "TokenView",
        "TokenWithSecret",
        "CreateTokenRequest",
        "ReleaseView",
        "WhoAmI",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // Token creation documents the raw value as part of the 201 answer only.
    let create = &paths["/v1/apps/{app}/tokens"]["post"]["responses"]["201"];
    assert!(create.to_string().contains("TokenWithSecret"));
    let list = &paths["/v1/apps/{app}/tokens"]["get"]["responses"]["200"];
    assert!(!list.to_string().contains("TokenWithSecret"));
}

#[tokio::test]
async fn every_described_route_is_served() {
    let app = spawn_app().await;
    let doc = app
        .req(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let concrete = path
                .replace("{app}", "nope")
                .replace("{org}", "nope")
                .replace("{version}", "1")
                .replace("{key}", "K")
                .replace("{id}", "x")
                .replace("{user_id}", "x");
            let r = app.req(m.clone(), &concrete, None, None).await;
            assert_ne!(r.status, 405, "{method} {path} is described but not routed");
            assert!(
                r.code() != "not_found" || r.text.contains("not found"),
                "{method} {path} fell through to the fallback: {}",
                r.text
            );
            assert_ne!(
                r.text, r#"{"error":{"code":"not_found","message":"no such route"}}"#,
                "{method} {path} not routed"
            );
        }
    }
}
