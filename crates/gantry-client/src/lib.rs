//! A typed HTTP client for the gantry API over the `gantry-api` wire types. The CLI and the
//! tests drive the server through it; every error answer becomes [`ClientError::Api`] with the
//! server's status, code and message.

use gantry_api::*;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What can go wrong talking to gantry.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{status}: {} ({})", .body.error.message, .body.error.code)]
    Api { status: StatusCode, body: ErrorBody },
    /// The server could not be reached, or answered something that is not gantry's JSON.
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    /// An answer that could not be decoded.
    #[error("unexpected answer ({status}): {text}")]
    Unexpected { status: StatusCode, text: String },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::Transport(e) => e.status(),
        }
    }

    /// The error code of an API error.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.code),
            _ => None,
        }
    }
}

/// Result of a client call.
pub type Result<T> = std::result::Result<T, ClientError>;

/// Where a token is created or listed.
#[derive(Debug, Clone)]
pub enum TokenScope<'a> {
    /// Deploy tokens of an app.
    App(&'a str),
    /// Org tokens (create) or org + deploy tokens (list) of an org.
    Org(&'a str),
    /// The caller's personal tokens.
    User,
    /// `GET /v1/tokens` (list only); `true` for every user's (instance administrators).
    All { all_users: bool },
}

/// Token list filters.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TokenFilters {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiring_within: Option<String>,
}

/// The optional parts of a deploy.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions<'a> {
    /// Label, e.g. a git sha; unique per app.
    pub label: Option<&'a str>,
    /// Message.
    pub message: Option<&'a str>,
    /// Replace the release that already carries `label`.
    pub overwrite: bool,
}

/// A connection to one gantry server with one credential.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8080`), without a credential.
    pub fn new(base: &str) -> Client {
        Client {
            base: base.trim_end_matches('/').to_owned(),
            token: None,
            http: reqwest::Client::new(),
        }
    }

    /// The same server with `token` as the credential.
    pub fn with_token(&self, token: &str) -> Client {
        Client {
            token: Some(token.to_owned()),
            ..self.clone()
        }
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => rb.bearer_auth(t),
            None => rb,
        }
    }

    async fn send<T: DeserializeOwned>(rb: RequestBuilder) -> Result<T> {
        let resp = rb.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.is_success() {
            serde_json::from_str(&text).map_err(|_| ClientError::Unexpected { status, text })
        } else {
            match serde_json::from_str::<ErrorBody>(&text) {
                Ok(body) => Err(ClientError::Api { status, body }),
                Err(_) => Err(ClientError::Unexpected { status, text }),
            }
        }
    }

    async fn send_empty(rb: RequestBuilder) -> Result<()> {
        let resp = rb.send().await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(());
        }
        let text = resp.text().await?;
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        Self::send(self.request(Method::GET, path)).await
    }

    async fn json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &B,
    ) -> Result<T> {
        Self::send(self.request(method, path).json(body)).await
    }

    /// `POST /v1/auth/login`.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        token_name: Option<&str>,
    ) -> Result<TokenWithSecret> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            token_name: token_name.map(str::to_owned),
            expires_in: None,
            never_expires: None,
        };
        self.login_with(&body).await
    }

    /// `POST /v1/auth/login` with every field (a lifetime for the new token).
    pub async fn login_with(&self, body: &LoginRequest) -> Result<TokenWithSecret> {
        self.json(Method::POST, "/v1/auth/login", body).await
    }

    /// `GET /v1/user`.
    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.get("/v1/user").await
    }

    /// `POST /v1/users`.
    pub async fn create_user(&self, req: &CreateUserRequest) -> Result<UserView> {
        self.json(Method::POST, "/v1/users", req).await
    }

    /// `PATCH /v1/users/{id}`.
    pub async fn update_user(&self, id: &str, req: &UpdateUserRequest) -> Result<UserView> {
        self.json(Method::PATCH, &format!("/v1/users/{id}"), req)
            .await
    }

    /// `GET /v1/orgs`.
    pub async fn list_orgs(&self) -> Result<Vec<OrgView>> {
        Ok(self.get::<ListResponse<OrgView>>("/v1/orgs").await?.items)
    }

    /// `POST /v1/orgs`.
    pub async fn create_org(&self, slug: &str, name: Option<&str>) -> Result<OrgView> {
        let body = CreateOrgRequest {
            slug: slug.to_owned(),
            name: name.map(str::to_owned),
        };
        self.json(Method::POST, "/v1/orgs", &body).await
    }

    /// `PUT /v1/orgs/{org}/members/{user_id}`.
    pub async fn put_member(&self, org: &str, user_id: &str, role: Role) -> Result<MemberView> {
        self.json(
            Method::PUT,
            &format!("/v1/orgs/{org}/members/{user_id}"),
            &PutMemberRequest { role },
        )
        .await
    }

    /// `DELETE /v1/orgs/{org}/members/{user_id}`.
    pub async fn remove_member(&self, org: &str, user_id: &str) -> Result<()> {
        Self::send_empty(self.request(Method::DELETE, &format!("/v1/orgs/{org}/members/{user_id}")))
            .await
    }

    /// `GET /v1/orgs/{org}/apps`.
    pub async fn list_apps(&self, org: &str) -> Result<Vec<AppView>> {
        Ok(self
            .get::<ListResponse<AppView>>(&format!("/v1/orgs/{org}/apps"))
            .await?
            .items)
    }

    /// `POST /v1/orgs/{org}/apps`.
    pub async fn create_app(&self, org: &str, slug: &str, name: Option<&str>) -> Result<AppView> {
        let body = CreateAppRequest {
            slug: slug.to_owned(),
            name: name.map(str::to_owned),
        };
        self.json(Method::POST, &format!("/v1/orgs/{org}/apps"), &body)
            .await
    }

    /// `GET /v1/orgs/{org}/alerts`.
    pub async fn list_alerts(&self, org: &str) -> Result<Vec<AlertView>> {
        Ok(self
            .get::<ListResponse<AlertView>>(&format!("/v1/orgs/{org}/alerts"))
            .await?
            .items)
    }

    /// `GET /v1/apps/{app}/trust-policies`.
    pub async fn list_trust_policies(&self, app: &str) -> Result<Vec<TrustPolicyView>> {
        Ok(self
            .get::<ListResponse<TrustPolicyView>>(&format!("/v1/apps/{app}/trust-policies"))
            .await?
            .items)
    }

    /// `POST /v1/apps/{app}/trust-policies`.
    pub async fn create_trust_policy(
        &self,
        app: &str,
        req: &CreateTrustPolicyRequest,
    ) -> Result<TrustPolicyView> {
        self.json(Method::POST, &format!("/v1/apps/{app}/trust-policies"), req)
            .await
    }

    /// `DELETE /v1/apps/{app}/trust-policies/{id}` (revokes the tokens it issued).
    pub async fn delete_trust_policy(&self, app: &str, id: &str) -> Result<()> {
        Self::send_empty(self.request(
            Method::DELETE,
            &format!("/v1/apps/{app}/trust-policies/{id}"),
        ))
        .await
    }

    /// `POST /v1/apps/{app}/trust-policies/{id}/test`.
    pub async fn test_trust_policy(
        &self,
        app: &str,
        id: &str,
        jwt: &str,
    ) -> Result<TrustTestResult> {
        self.json(
            Method::POST,
            &format!("/v1/apps/{app}/trust-policies/{id}/test"),
            &TrustTestRequest {
                token: jwt.to_owned(),
            },
        )
        .await
    }

    /// `POST /v1/oauth/token` (RFC 8693): a CI job's ID token for a deploy token of `app`. An
    /// OAuth error (`invalid_grant`…) comes back as [`ClientError::Api`] with its `error` as
    /// the code.
    pub async fn exchange_id_token(&self, jwt: &str, app: &str) -> Result<TokenExchangeResponse> {
        let resp = self
            .http
            .post(format!("{}/v1/oauth/token", self.base))
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
                ("resource", app),
            ])
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if status.is_success() {
            return serde_json::from_str(&text).map_err(|_| ClientError::Unexpected {
                status,
                text: String::new(),
            });
        }
        match serde_json::from_str::<OAuthError>(&text) {
            Ok(e) => Err(ClientError::Api {
                status,
                body: ErrorBody {
                    error: ErrorDetail {
                        code: e.error,
                        message: e.error_description,
                        field: None,
                    },
                },
            }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    /// `POST /v1/orgs/{org}/alerts`: the rule and (webhooks) its once-shown secret.
    pub async fn create_alert(
        &self,
        org: &str,
        req: &CreateAlertRequest,
    ) -> Result<AlertSecretView> {
        self.json(Method::POST, &format!("/v1/orgs/{org}/alerts"), req)
            .await
    }

    /// `DELETE /v1/orgs/{org}/alerts/{id}`.
    pub async fn delete_alert(&self, org: &str, id: &str) -> Result<()> {
        Self::send_empty(self.request(Method::DELETE, &format!("/v1/orgs/{org}/alerts/{id}"))).await
    }

    /// `PATCH /v1/orgs/{org}/alerts/{id}`.
    pub async fn set_alert_enabled(&self, org: &str, id: &str, enabled: bool) -> Result<AlertView> {
        self.json(
            Method::PATCH,
            &format!("/v1/orgs/{org}/alerts/{id}"),
            &UpdateAlertRequest { enabled },
        )
        .await
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/rotate-secret`.
    pub async fn rotate_alert_secret(&self, org: &str, id: &str) -> Result<AlertSecretView> {
        Self::send(self.request(
            Method::POST,
            &format!("/v1/orgs/{org}/alerts/{id}/rotate-secret"),
        ))
        .await
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/test`.
    pub async fn test_alert(&self, org: &str, id: &str) -> Result<DeliveryView> {
        Self::send(self.request(Method::POST, &format!("/v1/orgs/{org}/alerts/{id}/test"))).await
    }

    /// `GET /v1/orgs/{org}/alerts/{id}/deliveries`.
    pub async fn list_deliveries(
        &self,
        org: &str,
        id: &str,
        limit: Option<i64>,
    ) -> Result<Vec<DeliveryView>> {
        let mut rb = self.request(
            Method::GET,
            &format!("/v1/orgs/{org}/alerts/{id}/deliveries"),
        );
        if let Some(limit) = limit {
            rb = rb.query(&[("limit", limit)]);
        }
        Ok(Self::send::<ListResponse<DeliveryView>>(rb).await?.items)
    }

    /// `POST /v1/orgs/{org}/alerts/{id}/deliveries/{delivery}/retry`.
    pub async fn retry_delivery(
        &self,
        org: &str,
        id: &str,
        delivery: &str,
    ) -> Result<DeliveryView> {
        Self::send(self.request(
            Method::POST,
            &format!("/v1/orgs/{org}/alerts/{id}/deliveries/{delivery}/retry"),
        ))
        .await
    }

    /// `GET /v1/apps/{app}`.
    pub async fn get_app(&self, app: &str) -> Result<AppView> {
        self.get(&format!("/v1/apps/{app}")).await
    }

    /// Creates a token: deploy (`App`), org (`Org`) or personal (`User`).
    pub async fn create_token(
        &self,
        scope: TokenScope<'_>,
        req: &CreateTokenRequest,
    ) -> Result<TokenWithSecret> {
        let path = match scope {
            TokenScope::App(a) => format!("/v1/apps/{a}/tokens"),
            TokenScope::Org(o) => format!("/v1/orgs/{o}/tokens"),
            TokenScope::User | TokenScope::All { .. } => "/v1/user/tokens".to_owned(),
        };
        self.json(Method::POST, &path, req).await
    }

    /// Lists tokens of a scope.
    pub async fn list_tokens(
        &self,
        scope: TokenScope<'_>,
        filters: &TokenFilters,
    ) -> Result<Vec<TokenView>> {
        let path = match scope {
            TokenScope::App(a) => format!("/v1/apps/{a}/tokens"),
            TokenScope::Org(o) => format!("/v1/orgs/{o}/tokens"),
            TokenScope::User => "/v1/user/tokens".to_owned(),
            TokenScope::All { all_users } => format!("/v1/tokens?all_users={all_users}"),
        };
        let rb = self.request(Method::GET, &path).query(filters);
        Ok(Self::send::<ListResponse<TokenView>>(rb).await?.items)
    }

    /// `GET /v1/tokens/{id}`.
    pub async fn get_token(&self, id: &str) -> Result<TokenView> {
        self.get(&format!("/v1/tokens/{id}")).await
    }

    /// `PATCH /v1/tokens/{id}`.
    pub async fn update_token(&self, id: &str, req: &UpdateTokenRequest) -> Result<TokenView> {
        self.json(Method::PATCH, &format!("/v1/tokens/{id}"), req)
            .await
    }

    /// `POST /v1/tokens/{id}/rotate`.
    pub async fn rotate_token(
        &self,
        id: &str,
        req: &RotateTokenRequest,
    ) -> Result<TokenWithSecret> {
        self.json(Method::POST, &format!("/v1/tokens/{id}/rotate"), req)
            .await
    }

    /// `POST /v1/tokens/self/rotate`: the presenting deploy token (created with `rotate_self`).
    pub async fn rotate_self(&self, req: &RotateTokenRequest) -> Result<TokenWithSecret> {
        self.json(Method::POST, "/v1/tokens/self/rotate", req).await
    }

    /// `DELETE /v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<RevokeResponse> {
        Self::send(self.request(Method::DELETE, &format!("/v1/tokens/{id}"))).await
    }

    /// The server this client talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET /v1/users`.
    pub async fn list_users(&self) -> Result<Vec<UserView>> {
        Ok(self.get::<ListResponse<UserView>>("/v1/users").await?.items)
    }

    /// `GET /v1/orgs/{org}`.
    pub async fn get_org(&self, org: &str) -> Result<OrgView> {
        self.get(&format!("/v1/orgs/{org}")).await
    }

    /// `POST /v1/credentials/revoke`: reports leaked values (no credential needed); the answer
    /// is the same whatever they were.
    pub async fn revoke_credentials(
        &self,
        credentials: &[String],
    ) -> Result<RevokeCredentialsResponse> {
        self.json(
            Method::POST,
            "/v1/credentials/revoke",
            &RevokeCredentialsRequest {
                credentials: credentials.to_vec(),
            },
        )
        .await
    }

    /// `GET /v1/orgs/{org}/policy`.
    pub async fn get_org_policy(&self, org: &str) -> Result<OrgPolicyView> {
        self.get(&format!("/v1/orgs/{org}/policy")).await
    }

    /// `PUT /v1/orgs/{org}/policy`: replaces the org's token policy.
    pub async fn put_org_policy(
        &self,
        org: &str,
        policy: &PutOrgPolicyRequest,
    ) -> Result<OrgPolicyView> {
        self.json(Method::PUT, &format!("/v1/orgs/{org}/policy"), policy)
            .await
    }

    /// `GET /v1/orgs/{org}/members`.
    pub async fn list_members(&self, org: &str) -> Result<Vec<MemberView>> {
        Ok(self
            .get::<ListResponse<MemberView>>(&format!("/v1/orgs/{org}/members"))
            .await?
            .items)
    }

    /// `DELETE /v1/apps/{app}`.
    pub async fn delete_app(&self, app: &str) -> Result<()> {
        Self::send_empty(self.request(Method::DELETE, &format!("/v1/apps/{app}"))).await
    }

    /// `POST /v1/apps/{app}/deploys`, streaming `body` (of `len` bytes) as the artifact.
    pub async fn deploy_stream(
        &self,
        app: &str,
        body: reqwest::Body,
        len: u64,
        file_name: &str,
        opts: &DeployOptions<'_>,
    ) -> Result<ReleaseView> {
        let part = reqwest::multipart::Part::stream_with_length(body, len)
            .file_name(file_name.to_owned())
            .mime_str("application/octet-stream")?;
        let mut form = reqwest::multipart::Form::new();
        if let Some(l) = opts.label {
            form = form.text("label", l.to_owned());
        }
        if let Some(m) = opts.message {
            form = form.text("message", m.to_owned());
        }
        if opts.overwrite {
            form = form.text("overwrite", "true");
        }
        // The artifact goes last so the server can refuse a bad label before reading it.
        form = form.part("artifact", part);
        Self::send(
            self.request(Method::POST, &format!("/v1/apps/{app}/deploys"))
                .multipart(form),
        )
        .await
    }

    /// `POST /v1/apps/{app}/deploys` with the artifact bytes.
    pub async fn deploy(
        &self,
        app: &str,
        artifact: Vec<u8>,
        label: Option<&str>,
        message: Option<&str>,
        overwrite: bool,
    ) -> Result<ReleaseView> {
        let mut form = reqwest::multipart::Form::new().part(
            "artifact",
            reqwest::multipart::Part::bytes(artifact).file_name("artifact"),
        );
        if let Some(l) = label {
            form = form.text("label", l.to_owned());
        }
        if let Some(m) = message {
            form = form.text("message", m.to_owned());
        }
        if overwrite {
            form = form.text("overwrite", "true");
        }
        Self::send(
            self.request(Method::POST, &format!("/v1/apps/{app}/deploys"))
                .multipart(form),
        )
        .await
    }

    /// `GET /v1/apps/{app}/deploys`.
    pub async fn list_releases(&self, app: &str) -> Result<Vec<ReleaseView>> {
        Ok(self
            .get::<ListResponse<ReleaseView>>(&format!("/v1/apps/{app}/deploys"))
            .await?
            .items)
    }

    /// `GET /v1/apps/{app}/deploys/{version}/artifact`.
    pub async fn download_artifact(&self, app: &str, version: i64) -> Result<Vec<u8>> {
        let resp = self
            .request(
                Method::GET,
                &format!("/v1/apps/{app}/deploys/{version}/artifact"),
            )
            .send()
            .await?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp.bytes().await?.to_vec());
        }
        let text = resp.text().await?;
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    /// `GET /v1/apps/{app}/env`.
    pub async fn list_env(&self, app: &str) -> Result<Vec<EnvVarView>> {
        Ok(self
            .get::<ListResponse<EnvVarView>>(&format!("/v1/apps/{app}/env"))
            .await?
            .items)
    }

    /// `PUT /v1/apps/{app}/env/{key}`.
    pub async fn set_env(
        &self,
        app: &str,
        key: &str,
        value: &str,
        secret: bool,
    ) -> Result<EnvVarView> {
        let body = PutEnvRequest {
            value: value.to_owned(),
            secret: Some(secret),
        };
        self.json(Method::PUT, &format!("/v1/apps/{app}/env/{key}"), &body)
            .await
    }

    /// `DELETE /v1/apps/{app}/env/{key}`.
    pub async fn unset_env(&self, app: &str, key: &str) -> Result<()> {
        Self::send_empty(self.request(Method::DELETE, &format!("/v1/apps/{app}/env/{key}"))).await
    }

    /// `GET /v1/apps/{app}/config`.
    pub async fn get_config(&self, app: &str) -> Result<serde_json::Value> {
        self.get(&format!("/v1/apps/{app}/config")).await
    }

    /// `GET /v1/apps/{app}/config?version=N`.
    pub async fn get_config_version(&self, app: &str, version: i64) -> Result<serde_json::Value> {
        self.get(&format!("/v1/apps/{app}/config?version={version}"))
            .await
    }

    /// `PUT /v1/apps/{app}/config`: the stored document and its new version.
    pub async fn set_config(
        &self,
        app: &str,
        document: &serde_json::Value,
    ) -> Result<(serde_json::Value, Option<i64>)> {
        let resp = self
            .request(Method::PUT, &format!("/v1/apps/{app}/config"))
            .json(document)
            .send()
            .await?;
        let status = resp.status();
        let version = resp
            .headers()
            .get("x-gantry-config-version")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let text = resp.text().await?;
        if status.is_success() {
            let doc = serde_json::from_str(&text)
                .map_err(|_| ClientError::Unexpected { status, text })?;
            return Ok((doc, version));
        }
        match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Err(ClientError::Api { status, body }),
            Err(_) => Err(ClientError::Unexpected { status, text }),
        }
    }

    /// `GET /v1/audit`.
    pub async fn list_audit(&self, query: &[(&str, &str)]) -> Result<Vec<AuditEventView>> {
        let rb = self.request(Method::GET, "/v1/audit").query(query);
        Ok(Self::send::<ListResponse<AuditEventView>>(rb).await?.items)
    }
}
