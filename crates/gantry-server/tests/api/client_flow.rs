//! The typed client drives a whole CI-style flow: what `gantry-client` promises, it does.

use crate::helpers::{spawn_app, PASSWORD};
use gantry_api::{CreateTokenRequest, CreateUserRequest, Role, RotateTokenRequest, TokenStatus};
use gantry_client::{Client, TokenFilters, TokenScope};

#[tokio::test]
async fn client_drives_login_token_deploy_env_config_rotate_revoke() {
    let app = spawn_app().await;
    let anon = Client::new(&app.base);
    let admin = anon.with_token(&app.admin_token);
    let user = admin
        .create_user(&CreateUserRequest {
            email: "dev@example.com".into(),
            password: PASSWORD.into(),
            name: None,
            is_admin: None,
        })
        .await
        .unwrap();
    let dev = anon.with_token(
        &anon
            .login("dev@example.com", PASSWORD, Some("laptop"))
            .await
            .unwrap()
            .token,
    );
    assert_eq!(dev.whoami().await.unwrap().user.unwrap().id, user.id);

    dev.create_org("acme", Some("Acme")).await.unwrap();
    dev.create_app("acme", "web", None).await.unwrap();
    let created = dev
        .create_token(
            TokenScope::App("web"),
            &CreateTokenRequest {
                name: "ci".into(),
                expires_in: Some("720h".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let ci = anon.with_token(&created.token);
    let me = ci.whoami().await.unwrap();
    assert_eq!(
        (me.kind.as_str(), me.app.as_deref()),
        ("deploy", Some("web"))
    );

    let bytes = b"release one".to_vec();
    let release = ci
        .deploy("web", bytes.clone(), Some("abc123"), Some("first"), false)
        .await
        .unwrap();
    assert_eq!(release.version, 1);
    assert_eq!(ci.download_artifact("web", 1).await.unwrap(), bytes);
    let dup = ci
        .deploy("web", b"other".to_vec(), Some("abc123"), None, false)
        .await
        .unwrap_err();
    assert_eq!(dup.code(), Some("duplicate_label"));

    ci.set_env("web", "API_KEY", "s3cret-value", true)
        .await
        .unwrap();
    ci.set_env("web", "LOG_LEVEL", "debug", false)
        .await
        .unwrap();
    let env = ci.list_env("web").await.unwrap();
    assert_eq!(env.iter().find(|v| v.key == "API_KEY").unwrap().value, None);
    assert_eq!(
        env.iter()
            .find(|v| v.key == "LOG_LEVEL")
            .unwrap()
            .value
            .as_deref(),
        Some("debug")
    );
    ci.set_config("web", &serde_json::json!({"replicas": 3}))
        .await
        .unwrap();
    assert_eq!(ci.get_config("web").await.unwrap()["replicas"], 3);

    // The deploy token cannot manage tokens; the org owner can.
    assert_eq!(
        ci.list_tokens(TokenScope::App("web"), &TokenFilters::default())
            .await
            .unwrap_err()
            .status()
            .unwrap(),
        403
    );
    let listed = dev
        .list_tokens(TokenScope::App("web"), &TokenFilters::default())
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].last_used_at.is_some());

    let rotated = dev
        .rotate_token(&created.view.id, &RotateTokenRequest::default())
        .await
        .unwrap();
    assert_eq!(ci.whoami().await.unwrap_err().code(), Some("invalid_token"));
    let ci2 = anon.with_token(&rotated.token);
    assert!(ci2.whoami().await.is_ok());
    let revoked = dev.revoke_token(&created.view.id).await.unwrap();
    assert_eq!(revoked.token.status, TokenStatus::Revoked);
    assert_eq!(
        ci2.whoami().await.unwrap_err().code(),
        Some("token_revoked")
    );

    // Membership changes through the client apply at once.
    dev.put_member(
        "acme",
        &admin.whoami().await.unwrap().user.unwrap().id,
        Role::Viewer,
    )
    .await
    .unwrap();
    let audit = dev.list_audit(&[("org", "acme")]).await.unwrap();
    for action in [
        "token.create",
        "deploy.create",
        "env.set",
        "config.set",
        "token.rotate",
        "token.revoke",
        "member.put",
    ] {
        assert!(
            audit.iter().any(|e| e.action == action),
            "audit lacks {action}"
        );
    }
}
