//! An OIDC issuer for the tests: a real HTTP server on 127.0.0.1 serving discovery and a JWKS,
//! with RSA and P-256 keys generated at test time by the `openssl` tool (not by gantry's
//! code), signing ID tokens as a CI system would. Keys can be added and retired (rotation),
//! and it counts how often its keys are fetched.

#![allow(dead_code)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

struct Key {
    kid: String,
    alg: Algorithm,
    pem: Vec<u8>,
    jwk: Value,
    published: bool,
}

pub struct Issuer {
    /// The issuer URL (`iss`), `http://127.0.0.1:PORT`.
    pub url: String,
    keys: Arc<Mutex<Vec<Key>>>,
    fetches: Arc<AtomicUsize>,
    dir: tempfile::TempDir,
}

/// Runs the `openssl` tool; its standard output.
pub fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl runs (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

impl Issuer {
    /// Starts an issuer with one RSA key (`rsa-1`) and one P-256 key (`ec-1`).
    pub async fn start() -> Issuer {
        let keys: Arc<Mutex<Vec<Key>>> = Arc::default();
        let fetches = Arc::new(AtomicUsize::new(0));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let discovery = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/.well-known/jwks"),
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        });
        let served = keys.clone();
        let counted = fetches.clone();
        let signer = Signer {
            url: url.clone(),
            keys: keys.clone(),
        };
        let app = axum::Router::new()
            .route(
                "/actions-token",
                axum::routing::get(
                    move |headers: axum::http::HeaderMap,
                          axum::extract::Query(q): axum::extract::Query<
                        std::collections::HashMap<String, String>,
                    >| {
                        let signer = signer.clone();
                        async move {
                            let auth = headers
                                .get("authorization")
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("");
                            if auth != format!("Bearer {ACTIONS_REQUEST_TOKEN}") {
                                return Err(axum::http::StatusCode::UNAUTHORIZED);
                            }
                            let aud = q.get("audience").cloned().unwrap_or_default();
                            let now = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .unwrap()
                                .as_secs() as i64;
                            let claims = github_claims(&signer.url, now, &aud);
                            Ok(axum::Json(json!({"value": signer.sign("rsa-1", &claims)})))
                        }
                    },
                ),
            )
            .route(
                "/.well-known/openid-configuration",
                axum::routing::get(move || {
                    let d = discovery.clone();
                    async move { axum::Json(d) }
                }),
            )
            .route(
                "/.well-known/jwks",
                axum::routing::get(move || {
                    counted.fetch_add(1, Ordering::SeqCst);
                    let list: Vec<Value> = served
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|k| k.published)
                        .map(|k| k.jwk.clone())
                        .collect();
                    async move { axum::Json(json!({ "keys": list })) }
                }),
            );
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        let issuer = Issuer {
            url,
            keys,
            fetches,
            dir: tempfile::tempdir().unwrap(),
        };
        issuer.add_key("rsa-1", Algorithm::RS256);
        issuer.add_key("ec-1", Algorithm::ES256);
        issuer
    }

    /// Generates and publishes a key.
    pub fn add_key(&self, kid: &str, alg: Algorithm) {
        let path = self.dir.path().join(format!("{kid}.pem"));
        let p = path.to_str().unwrap();
        let jwk = match alg {
            Algorithm::RS256 => {
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "RSA",
                    "-pkeyopt",
                    "rsa_keygen_bits:2048",
                    "-out",
                    p,
                ]);
                let modulus =
                    String::from_utf8(openssl(&["rsa", "-in", p, "-noout", "-modulus"])).unwrap();
                let hex = modulus.trim().trim_start_matches("Modulus=");
                let n = hex::decode(hex).unwrap();
                json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                       "n": URL_SAFE_NO_PAD.encode(n), "e": "AQAB"})
            }
            Algorithm::ES256 => {
                openssl(&[
                    "genpkey",
                    "-algorithm",
                    "EC",
                    "-pkeyopt",
                    "ec_paramgen_curve:P-256",
                    "-out",
                    p,
                ]);
                let der = openssl(&["pkey", "-in", p, "-pubout", "-outform", "DER"]);
                // SubjectPublicKeyInfo ends with the uncompressed point 04 || x || y.
                let point = &der[der.len() - 65..];
                assert_eq!(point[0], 4);
                json!({"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                       "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..])})
            }
            other => panic!("no test keys for {other:?}"),
        };
        let pem = std::fs::read(&path).unwrap();
        self.keys.lock().unwrap().push(Key {
            kid: kid.to_owned(),
            alg,
            pem,
            jwk,
            published: true,
        });
    }

    /// Stops publishing a key (it can still sign: a token signed by a retired key).
    pub fn retire(&self, kid: &str) {
        for k in self.keys.lock().unwrap().iter_mut() {
            if k.kid == kid {
                k.published = false;
            }
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// The PEM of a key's public half (what the HMAC-with-public-key attack keys its MAC with).
    pub fn public_pem(&self, kid: &str) -> Vec<u8> {
        let path = self.dir.path().join(format!("{kid}.pem"));
        openssl(&["pkey", "-in", path.to_str().unwrap(), "-pubout"])
    }

    /// An ID token signed by `kid`.
    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        Signer {
            url: self.url.clone(),
            keys: self.keys.clone(),
        }
        .sign(kid, claims)
    }

    /// GitHub Actions' token service of this issuer: the `ACTIONS_ID_TOKEN_REQUEST_URL` a job
    /// sees (its bearer is [`ACTIONS_REQUEST_TOKEN`]); it signs [`Issuer::github_claims`] for
    /// the audience asked for, at the real time.
    pub fn actions_request_url(&self) -> String {
        format!("{}/actions-token?api-version=2.0", self.url)
    }

    /// The claims of a GitHub Actions job of `octo/web` (ids 1001 and 2002) on `main`, issued
    /// `now_s` (Unix seconds) for `aud`, living 5 minutes, with a fresh `jti`.
    pub fn github_claims(&self, now_s: i64, aud: &str) -> Value {
        github_claims(&self.url, now_s, aud)
    }
}

/// What a job presents to its token service.
pub const ACTIONS_REQUEST_TOKEN: &str = "actions-request-token";

#[derive(Clone)]
struct Signer {
    url: String,
    keys: Arc<Mutex<Vec<Key>>>,
}

impl Signer {
    fn sign(&self, kid: &str, claims: &Value) -> String {
        let keys = self.keys.lock().unwrap();
        let key = keys
            .iter()
            .find(|k| k.kid == kid)
            .expect("a key of this issuer");
        let mut header = Header::new(key.alg);
        header.kid = Some(kid.to_owned());
        let encoding = match key.alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&key.pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&key.pem).unwrap(),
        };
        jsonwebtoken::encode(&header, claims, &encoding).unwrap()
    }
}

fn github_claims(url: &str, now_s: i64, aud: &str) -> Value {
    json!({
        "iss": url, "aud": aud,
        "iat": now_s, "nbf": now_s, "exp": now_s + 300,
        "jti": gantry_core::ids::new_id("jti"),
        "sub": "repo:octo/web:ref:refs/heads/main",
        "repository": "octo/web", "repository_id": "1001",
        "repository_owner": "octo", "repository_owner_id": "2002",
        "ref": "refs/heads/main", "ref_type": "branch",
        "event_name": "push", "workflow_ref": "octo/web/.github/workflows/deploy.yml@refs/heads/main",
        "job_workflow_ref": "octo/web/.github/workflows/deploy.yml@refs/heads/main",
        "run_id": "777", "run_attempt": "1", "actor": "mona",
    })
}

/// A JWT with an arbitrary header and an arbitrary signature part (attacks).
pub fn forged(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}
