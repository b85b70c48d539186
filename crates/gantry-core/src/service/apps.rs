//! Apps and what deploy tokens may touch: releases, env vars, config.

use super::{AuditExt, Caller, Gantry};
use crate::artifacts::{ArtifactStore, StoredArtifact};
use crate::error::{CoreError, CoreResult};
use crate::ids::*;
use crate::model::*;
use crate::policy::{Capability, Principal};
use crate::sealing::Sealer;
use crate::store::NewRelease;
use crate::uploads::Full;
use crate::validate;
use gantry_api::CreateAppRequest;
use std::sync::Arc;

/// Most releases one listing returns.
pub const MAX_RELEASE_PAGE: i64 = 1000;

/// The metadata of a deploy, before validation.
#[derive(Debug, Clone, Default)]
pub struct DeployMeta {
    pub label: Option<String>,
    pub message: Option<String>,
    pub overwrite: bool,
}

impl DeployMeta {
    /// The metadata with its label and message validated (lengths, characters). The deploy
    /// handler calls it as each form field arrives, so fields sent before the artifact are
    /// refused before any byte of it is stored; recording the release calls it again.
    pub fn checked(&self) -> CoreResult<DeployMeta> {
        Ok(DeployMeta {
            label: validate::optional_text("label", self.label.as_deref(), validate::MAX_LABEL)?,
            message: validate::optional_text(
                "message",
                self.message.as_deref(),
                validate::MAX_MESSAGE,
            )?,
            overwrite: self.overwrite,
        })
    }
}

impl Gantry {
    /// `GET /v1/orgs/{org}/apps`. A deploy token sees just its own app.
    pub async fn list_apps(&self, caller: &Caller, org_slug: &str) -> CoreResult<Vec<AppRecord>> {
        let (org, _) = self.org_for(caller, org_slug, Capability::ReadOrg).await?;
        let apps = self.store.list_apps(&org.id).await?;
        Ok(match &caller.principal {
            Principal::Deploy { app_id, .. } => {
                apps.into_iter().filter(|a| *app_id == a.id).collect()
            }
            _ => apps,
        })
    }

    /// `POST /v1/orgs/{org}/apps`.
    pub async fn create_app(
        &self,
        caller: &Caller,
        org_slug: &str,
        req: &CreateAppRequest,
    ) -> CoreResult<AppRecord> {
        let (org, _) = self
            .org_for(caller, org_slug, Capability::CreateApp)
            .await?;
        let slug = validate::slug("slug", &req.slug)?;
        let name = match &req.name {
            Some(n) => validate::name("name", n)?,
            None => slug.to_string(),
        };
        let app = AppRecord {
            id: AppId::generate(),
            org_id: org.id.clone(),
            org_slug: org.slug.clone(),
            slug,
            name,
            created_at: self.now(),
        };
        let audit = self
            .audit(caller, "app.create")
            .target("app", &app.id)
            .app(&app);
        self.store
            .insert_app(&app, self.settings.slug_reservation, &audit)
            .await?;
        Ok(app)
    }

    /// `GET /v1/apps/{app}`.
    pub async fn get_app(&self, caller: &Caller, slug: &str) -> CoreResult<Arc<AppRecord>> {
        self.app_for(caller, slug, Capability::ReadApp).await
    }

    /// `DELETE /v1/apps/{app}`: its deploy tokens are revoked with it.
    pub async fn delete_app(&self, caller: &Caller, slug: &str) -> CoreResult<()> {
        let app = self.app_for(caller, slug, Capability::DeleteApp).await?;
        let audit = self
            .audit(caller, "app.delete")
            .target("app", &app.id)
            .app(&app);
        self.store.delete_app(&app.id, self.now(), &audit).await?;
        Ok(())
    }

    /// `POST /v1/apps/{app}/deploys`, the whole flow: whether the caller may deploy to `slug`
    /// (before a byte is read: nobody uploads 512 MiB to learn they may not), an upload slot
    /// of this node and of the caller's share held to the end, the form read by `read` (the
    /// transport's decoder, given the artifact store to stream the artifact into), and the
    /// release recorded after the credential and its rights are checked again. Returns the app,
    /// the release, and whether it replaced an earlier one with the same label.
    ///
    /// A refused deploy may leave a stored blob no release points at. It is not deleted here:
    /// a concurrent deploy of the same bytes may be about to use it. The periodic sweep
    /// ([`ArtifactStore::sweep`]) removes unreferenced blobs once they are old enough.
    pub async fn deploy<E, F, Fut>(
        &self,
        caller: &Caller,
        slug: &str,
        read: F,
    ) -> Result<(Arc<AppRecord>, ReleaseRecord, bool), E>
    where
        E: From<CoreError>,
        F: FnOnce(Arc<dyn ArtifactStore>) -> Fut,
        Fut: std::future::Future<Output = Result<(DeployMeta, Option<StoredArtifact>), E>>,
    {
        let app = self.app_for(caller, slug, Capability::Deploy).await?;
        let artifacts = self
            .artifacts
            .clone()
            .ok_or_else(|| CoreError::internal("this process has no artifact store"))?;
        let credential = match caller.principal.token() {
            Some(t) => t.id.as_str(),
            None => caller.principal.user().map(|u| u.id.as_str()).unwrap_or(""),
        };
        let _slot = self.uploads.try_acquire(credential).map_err(|full| {
            let message = match full {
                Full::Credential => format!(
                    "this credential already has {} uploads in progress (limits.max_uploads_per_credential); retry when one has finished",
                    self.uploads.per_credential()
                ),
                Full::Node => {
                    "too many uploads in progress on this server; retry shortly".to_owned()
                }
            };
            CoreError::UploadsFull { full, message }
        })?;
        let (meta, artifact) = read(artifacts).await?;
        let artifact = artifact.ok_or_else(|| {
            CoreError::invalid(
                "artifact",
                "is required: send the release as a file field named 'artifact'",
            )
        })?;
        let (release, replaced) = self.record_release(caller, &app, &meta, &artifact).await?;
        Ok((app, release, replaced))
    }

    /// Records a release for an artifact already stored, once the credential is still valid
    /// and may still deploy. Returns the release and whether it replaced an earlier one with
    /// the same label.
    async fn record_release(
        &self,
        caller: &Caller,
        app: &AppRecord,
        meta: &DeployMeta,
        artifact: &StoredArtifact,
    ) -> CoreResult<(ReleaseRecord, bool)> {
        let meta = meta.checked()?;
        // The upload may have taken minutes: a credential revoked, or a role removed, in the
        // meantime must not still land a release.
        self.still_valid(caller).await?;
        self.app_for(caller, &app.slug, Capability::Deploy).await?;
        let release = NewRelease {
            app_id: app.id.clone(),
            label: meta.label.clone(),
            message: meta.message.clone(),
            artifact_sha256: artifact.sha256.clone(),
            artifact_size: i64::try_from(artifact.size).unwrap_or(i64::MAX),
            created_by: caller.actor(),
            created_at: self.now(),
            overwrite: meta.overwrite,
        };
        let audit = self
            .audit(
                caller,
                if meta.overwrite {
                    "deploy.overwrite"
                } else {
                    "deploy.create"
                },
            )
            .target("app", &app.id)
            .app(app)
            .detail("label", meta.label.clone())
            .detail("artifact_sha256", artifact.sha256.clone())
            .detail("artifact_size", artifact.size)
            .event(
                "release.created",
                serde_json::json!({"release": {
                    "label": meta.label,
                    "message": meta.message,
                    "artifact_sha256": artifact.sha256,
                    "artifact_size": artifact.size,
                    "overwrite": meta.overwrite,
                }}),
            );
        self.store.insert_release(&release, &audit).await
    }

    /// `GET /v1/apps/{app}/deploys`, newest first.
    pub async fn list_releases(
        &self,
        caller: &Caller,
        slug: &str,
        limit: i64,
    ) -> CoreResult<Vec<ReleaseRecord>> {
        let app = self.app_for(caller, slug, Capability::ReadApp).await?;
        self.store
            .list_releases(&app.id, limit.clamp(1, MAX_RELEASE_PAGE))
            .await
    }

    /// `GET /v1/apps/{app}/deploys/{version}`.
    pub async fn get_release(
        &self,
        caller: &Caller,
        slug: &str,
        version: i64,
    ) -> CoreResult<(Arc<AppRecord>, ReleaseRecord)> {
        let app = self.app_for(caller, slug, Capability::ReadApp).await?;
        let release = self
            .store
            .get_release(&app.id, version)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("release {version}")))?;
        Ok((app, release))
    }

    /// `GET /v1/apps/{app}/env`: secret values are not returned.
    pub async fn list_env(&self, caller: &Caller, slug: &str) -> CoreResult<Vec<EnvVarRecord>> {
        let app = self.app_for(caller, slug, Capability::ReadApp).await?;
        let mut vars = self.store.list_env(&app.id).await?;
        for v in vars.iter_mut().filter(|v| v.secret) {
            v.value.clear();
        }
        Ok(vars)
    }

    /// `PUT /v1/apps/{app}/env/{KEY}`.
    pub async fn put_env(
        &self,
        caller: &Caller,
        slug: &str,
        key: &str,
        value: &str,
        secret: bool,
    ) -> CoreResult<EnvVarRecord> {
        let app = self.app_for(caller, slug, Capability::WriteEnv).await?;
        let key = validate::env_key("key", key)?;
        let mut value = validate::env_value("value", value)?;
        if secret {
            let sealer = self
                .settings
                .sealer
                .as_ref()
                .ok_or_else(|| CoreError::internal("no secret key is configured"))?;
            value = sealer.seal(&app.id, &key, &value)?;
        }
        let var = EnvVarRecord {
            app_id: app.id.clone(),
            key: key.clone(),
            value,
            secret,
            updated_at: self.now(),
            updated_by: caller.actor(),
        };
        let audit = self
            .audit(caller, "env.set")
            .target("env", &key)
            .app(&app)
            .detail("secret", secret)
            .event(
                "env.changed",
                serde_json::json!({"keys": [key.as_str()], "secret": secret, "deleted": false}),
            );
        self.store
            .put_env(&var, validate::MAX_ENV_VARS, &audit)
            .await?;
        let mut shown = var;
        if shown.secret {
            shown.value.clear();
        }
        Ok(shown)
    }

    /// Checks that this node's instance key is the one the database's secrets are sealed with:
    /// the first node to start writes a known text sealed with its key; a node that can open
    /// it with a previous key (`secrets.previous_keys`, a rotation) seals it anew with the
    /// current one; a node that cannot open it is refused, before it seals a secret no other
    /// node could read (or fails to open theirs).
    pub async fn check_secret_key(&self) -> CoreResult<()> {
        let Some(sealer) = self.settings.sealer.as_ref() else {
            return Ok(());
        };
        let (scope, name, text) = KEY_CHECK;
        for _ in 0..3 {
            let held = self.store.key_check().await?;
            let current = sealer.seal(scope, name, text)?;
            match held {
                None => {
                    if self.store.put_key_check(None, &current).await? {
                        return Ok(());
                    }
                }
                Some(held) if sealer.sealed_with_current(&held) => {
                    return match sealer.open(scope, name, &held) {
                        Ok(t) if t == text => Ok(()),
                        _ => Err(key_mismatch(sealer)),
                    };
                }
                Some(held) => match sealer.open(scope, name, &held) {
                    Ok(t) if t == text => {
                        if self.store.put_key_check(Some(&held), &current).await? {
                            return Ok(());
                        }
                    }
                    _ => return Err(key_mismatch(sealer)),
                },
            }
        }
        Err(CoreError::internal(
            "the key check kept changing while this node read it",
        ))
    }

    /// Seals every secret env var and webhook signing secret with the current key: env values
    /// stored in plain text by an earlier version, and values sealed with a previous key (a
    /// rotation). Returns (sealed
    /// now, already current, sealed with a key this node does not have). Safe to run on
    /// several nodes at once: each replacement is conditional on the value it read.
    pub async fn reseal_secrets(&self) -> CoreResult<(usize, usize, usize)> {
        let Some(sealer) = self.settings.sealer.as_ref() else {
            return Ok((0, 0, 0));
        };
        let (mut sealed, mut current, mut unknown) = (0, 0, 0);
        for var in self.store.secret_env_vars().await? {
            if sealer.sealed_with_current(&var.value) {
                current += 1;
                continue;
            }
            let plain = if Sealer::is_sealed(&var.value) {
                match sealer.open(&var.app_id, &var.key, &var.value) {
                    Ok(p) => p,
                    Err(_) => {
                        unknown += 1;
                        continue;
                    }
                }
            } else {
                var.value.clone()
            };
            let new = sealer.seal(&var.app_id, &var.key, &plain)?;
            if self
                .store
                .reseal_env(&var.app_id, &var.key, &var.value, &new)
                .await?
            {
                sealed += 1;
            }
        }
        // Webhook signing secrets were sealed from the start: only a rotation moves them.
        for held in self.store.sealed_alert_secrets().await? {
            if sealer.sealed_with_current(&held.value) {
                current += 1;
                continue;
            }
            let name = super::alerts::SECRET_NAME;
            let Ok(plain) = sealer.open(held.alert_id.as_str(), name, &held.value) else {
                unknown += 1;
                continue;
            };
            let new = sealer.seal(held.alert_id.as_str(), name, &plain)?;
            if self.store.reseal_alert_secret(&held, &new).await? {
                sealed += 1;
            }
        }
        Ok((sealed, current, unknown))
    }

    /// `DELETE /v1/apps/{app}/env/{KEY}`.
    pub async fn delete_env(&self, caller: &Caller, slug: &str, key: &str) -> CoreResult<()> {
        let app = self.app_for(caller, slug, Capability::WriteEnv).await?;
        let audit = self
            .audit(caller, "env.unset")
            .target("env", key)
            .app(&app)
            .event(
                "env.changed",
                serde_json::json!({"keys": [key], "deleted": true}),
            );
        if self.store.delete_env(&app.id, key, &audit).await? {
            Ok(())
        } else {
            Err(CoreError::NotFound(format!(
                "env var '{}'",
                super::printable(key)
            )))
        }
    }

    /// `GET /v1/apps/{app}/config`: the latest document (version 0, `{}` when never set) or
    /// an earlier version.
    pub async fn get_config(
        &self,
        caller: &Caller,
        slug: &str,
        version: Option<i64>,
    ) -> CoreResult<ConfigRecord> {
        let app = self.app_for(caller, slug, Capability::ReadApp).await?;
        match self.store.get_config(&app.id, version).await? {
            Some(c) => Ok(c),
            None if version.is_none() || version == Some(0) => Ok(ConfigRecord {
                app_id: app.id.clone(),
                version: 0,
                document: "{}".into(),
                updated_at: app.created_at,
                updated_by: ActorRef::System,
            }),
            None => Err(CoreError::NotFound(format!(
                "config version {}",
                version.unwrap_or(0)
            ))),
        }
    }

    /// `PUT /v1/apps/{app}/config`: stores the document, exactly as sent, as a new version.
    /// It must be a JSON object without duplicate keys, at most 1 MiB.
    pub async fn put_config(
        &self,
        caller: &Caller,
        slug: &str,
        document: &str,
    ) -> CoreResult<ConfigRecord> {
        let app = self.app_for(caller, slug, Capability::WriteConfig).await?;
        validate::config_document("config", document)?;
        let audit = self
            .audit(caller, "config.set")
            .target("app", &app.id)
            .app(&app)
            .event("config.changed", serde_json::json!({}));
        self.store
            .put_config(&app.id, document, &caller.actor(), self.now(), &audit)
            .await
    }
}

/// The known text of the key check, and the names it is sealed under.
const KEY_CHECK: (&str, &str, &str) = ("gantry", "key-check", "gantry instance key check");

fn key_mismatch(sealer: &Sealer) -> CoreError {
    CoreError::internal(format!(
        "this node's instance key ({}) is not the one this database's secrets are sealed with: \
         give every node the same GANTRY_SECRET_KEY (or secrets.key file); after a key \
         rotation, keep the old key in secrets.previous_keys",
        sealer.current_id()
    ))
}
