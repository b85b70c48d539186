//! Multipart decoding of deploys: arbitrary bytes as a `multipart/form-data` body go through
//! axum's parser and the server's own `read_deploy_form`, which streams the artifact into the
//! real disk artifact store (with a small size limit) and validates label, message and
//! overwrite. No input panics; whatever is accepted is within the limits.
#![no_main]

use axum::body::Body;
use axum::extract::{FromRequest, Multipart};
use axum::http::{header, Request};
use gantry_core::artifacts::ArtifactStore;
use gantry_server::routes::apps::read_deploy_form;
use gantry_store::DiskArtifacts;
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const LIMIT: u64 = 64 * 1024;

struct World {
    rt: tokio::runtime::Runtime,
    artifacts: DiskArtifacts,
    _dir: tempfile::TempDir,
}

static WORLD: LazyLock<World> = LazyLock::new(|| {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let artifacts = rt
        .block_on(DiskArtifacts::open(dir.path()))
        .expect("the artifact store");
    World {
        rt,
        artifacts,
        _dir: dir,
    }
});

fuzz_target!(|data: &[u8]| {
    let world = &*WORLD;
    // The first byte picks the boundary spelling, so both short and quoted forms are reached.
    let (content_type, body) = match data.split_first() {
        Some((b, rest)) if b % 2 == 0 => ("multipart/form-data; boundary=X", rest),
        Some((_, rest)) => ("multipart/form-data; boundary=\"gantry-fuzz\"", rest),
        None => ("multipart/form-data; boundary=X", data),
    };
    world.rt.block_on(async {
        let req = Request::builder()
            .method("POST")
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body.to_vec()))
            .expect("a request");
        let Ok(mut multipart) = Multipart::from_request(req, &()).await else {
            return;
        };
        let store: &dyn ArtifactStore = &world.artifacts;
        if let Ok((meta, stored)) = read_deploy_form(&mut multipart, store, LIMIT).await {
            if let Some(a) = stored {
                assert!(a.size > 0 && a.size <= LIMIT, "stored {} bytes", a.size);
                assert_eq!(a.sha256.len(), 64);
            }
            assert!(meta.checked().is_ok(), "accepted metadata must validate");
        }
    });
});
