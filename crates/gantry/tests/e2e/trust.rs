//! Keyless CI across nodes: two nodes on one PostgreSQL database take the same ID token at
//! the same moment, and exactly one of them exchanges it (the `jti` is spent once, by the
//! database, not by either node's memory).

use crate::harness::*;
use crate::issuer::Issuer;
use gantry_store::testing::TestDatabase;
use serde_json::json;

const ADMIN: &str = "admin@example.com";

async fn exchange(base: &str, jwt: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(format!("{base}/v1/oauth/token"))
        .form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", jwt),
            (
                "subject_token_type",
                "urn:ietf:params:oauth:token-type:id_token",
            ),
            ("resource", "web"),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_id_token_presented_to_two_postgres_nodes_at_once_is_exchanged_once() {
    let Some(db) = TestDatabase::create().await.unwrap() else {
        return;
    };
    let issuer = Issuer::start().await;
    let dirs: Vec<tempfile::TempDir> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let key = "7a".repeat(32);
    let envs = [
        ("GANTRY_DATABASE_URL", db.url.as_str()),
        ("GANTRY_ADMIN_EMAIL", ADMIN),
        ("GANTRY_ADMIN_PASSWORD", PASSWORD),
        ("GANTRY_SECRET_KEY", key.as_str()),
        // One public URL for the instance: the audience its trust policies expect.
        ("GANTRY_PUBLIC_URL", "https://gantry.example.com"),
        ("GANTRY_OIDC_ALLOW_INSECURE_ISSUERS", issuer.url.as_str()),
    ];
    let nodes: Vec<Server> = dirs
        .iter()
        .map(|d| Server::spawn(&d.path().join("data"), &envs))
        .collect();
    for n in &nodes {
        n.wait_ready();
    }
    let admin = admin_with_app(&nodes[0].base, ADMIN).await;
    let (status, body) = call(
        "POST",
        &format!("{}/v1/apps/web/trust-policies", nodes[0].base),
        Some(&admin),
        Some(json!({"name": "main", "preset": "github", "issuer": issuer.url,
            "conditions": {"repository_id": "1001", "repository_owner_id": "2002", "ref": "refs/heads/main"}})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["audience"], "https://gantry.example.com");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    for round in 0..10 {
        let jwt = issuer.sign(
            if round % 2 == 0 { "rsa-1" } else { "ec-1" },
            &issuer.github_claims(now, "https://gantry.example.com"),
        );
        let (a, b) = tokio::join!(
            exchange(&nodes[0].base, &jwt),
            exchange(&nodes[1].base, &jwt)
        );
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [200, 400], "round {round}: {a:?} {b:?}");
        let refused = if a.0 == 400 { &a.1 } else { &b.1 };
        assert!(refused.contains("invalid_grant"), "{refused}");
        // And later, on either node, it stays spent.
        assert_eq!(exchange(&nodes[round % 2].base, &jwt).await.0, 400);
    }
}
