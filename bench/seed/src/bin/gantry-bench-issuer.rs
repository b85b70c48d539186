//! An OIDC issuer for `bench/oidc.sh`, outside gantry: makes an RS256 and an ES256 key (the
//! `openssl` tool), serves discovery and the JWKS, writes N ID tokens of each algorithm (one
//! per line, each with its own `jti`) for wrk to exchange, and measures the floor: how many
//! signatures of each kind jsonwebtoken verifies per second on one core.
//!
//! Usage: `gantry-bench-issuer 127.0.0.1:PORT OUTDIR N AUDIENCE`
//! Prints `floor RS256 <checks/s>` and `floor ES256 <checks/s>`, then `ready`, and serves.

use anyhow::{bail, Context};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{json, Value};
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn openssl(args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .context("running openssl")?;
    if !out.status.success() {
        bail!("openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(out.stdout)
}

struct Key {
    kid: &'static str,
    alg: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Value,
}

fn make_key(dir: &Path, kid: &'static str, alg: Algorithm) -> anyhow::Result<Key> {
    let path = dir.join(format!("{kid}.pem"));
    let p = path.to_str().context("a UTF-8 path")?;
    let (jwk, decoding) = match alg {
        Algorithm::RS256 => {
            openssl(&[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                p,
            ])?;
            let modulus = String::from_utf8(openssl(&["rsa", "-in", p, "-noout", "-modulus"])?)?;
            let n =
                URL_SAFE_NO_PAD.encode(hex::decode(modulus.trim().trim_start_matches("Modulus="))?);
            let decoding = DecodingKey::from_rsa_components(&n, "AQAB")?;
            (
                json!({"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"}),
                decoding,
            )
        }
        _ => {
            openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                p,
            ])?;
            let der = openssl(&["pkey", "-in", p, "-pubout", "-outform", "DER"])?;
            let point = &der[der.len() - 64..];
            let (x, y) = (
                URL_SAFE_NO_PAD.encode(&point[..32]),
                URL_SAFE_NO_PAD.encode(&point[32..]),
            );
            let decoding = DecodingKey::from_ec_components(&x, &y)?;
            (
                json!({"kty": "EC", "kid": kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": x, "y": y}),
                decoding,
            )
        }
    };
    let pem = std::fs::read(&path)?;
    let encoding = match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem)?,
        _ => EncodingKey::from_ec_pem(&pem)?,
    };
    Ok(Key {
        kid,
        alg,
        encoding,
        decoding,
        jwk,
    })
}

fn claims(issuer: &str, audience: &str, now: u64, i: usize, kid: &str) -> Value {
    json!({
        "iss": issuer, "aud": audience, "iat": now, "nbf": now, "exp": now + 3000,
        "jti": format!("bench-{kid}-{i}"), "sub": "repo:octo/web:ref:refs/heads/main",
        "repository": "octo/web", "repository_id": "1001", "repository_owner_id": "2002",
        "ref": "refs/heads/main", "event_name": "push", "run_id": i.to_string(),
    })
}

/// Signatures verified per second on this thread, for two seconds.
fn floor(key: &Key, jwt: &str) -> anyhow::Result<f64> {
    let mut validation = Validation::new(key.alg);
    validation.validate_aud = false;
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < Duration::from_secs(2) {
        jsonwebtoken::decode::<Value>(jwt, &key.decoding, &validation)?;
        n += 1;
    }
    Ok(n as f64 / start.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, addr, out, n, audience] = args.as_slice() else {
        bail!("usage: gantry-bench-issuer 127.0.0.1:PORT OUTDIR N AUDIENCE");
    };
    let n: usize = n.parse()?;
    let out = Path::new(out);
    let issuer = format!("http://{addr}");
    let keys = [
        make_key(out, "rsa-1", Algorithm::RS256)?,
        make_key(out, "ec-1", Algorithm::ES256)?,
    ];
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    for key in &keys {
        let mut header = Header::new(key.alg);
        header.kid = Some(key.kid.to_owned());
        let name = if key.alg == Algorithm::RS256 {
            "rs256"
        } else {
            "es256"
        };
        let mut file =
            std::io::BufWriter::new(std::fs::File::create(out.join(format!("{name}.txt")))?);
        let mut first = String::new();
        for i in 0..n {
            let jwt = jsonwebtoken::encode(
                &header,
                &claims(&issuer, audience, now, i, key.kid),
                &key.encoding,
            )?;
            writeln!(file, "{jwt}")?;
            if i == 0 {
                first = jwt;
            }
        }
        file.flush()?;
        println!("floor {:?} {:.0}", key.alg, floor(key, &first)?);
    }
    let jwks = json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()});
    let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/jwks")});
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(move || {
                let d = discovery.clone();
                async move { Json(d) }
            }),
        )
        .route(
            "/jwks",
            get(move || {
                let j = jwks.clone();
                async move { Json(j) }
            }),
        );
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
    println!("ready");
    axum::serve(listener, app).await?;
    Ok(())
}
