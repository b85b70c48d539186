//! Request decoding: every JSON request body of the API (the same serde types the server
//! decodes into, unknown fields refused) and the validation the services apply after it.
//! No input panics; what decodes either validates or names its field.
#![no_main]

use gantry_api::*;
use gantry_core::validate;
use libfuzzer_sys::fuzz_target;

fn decode<T: serde::de::DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

fuzz_target!(|data: &[u8]| {
    let _ = decode::<LoginRequest>(data);
    let _ = decode::<CreateUserRequest>(data);
    let _ = decode::<UpdateUserRequest>(data);
    let _ = decode::<ChangePasswordRequest>(data);
    let _ = decode::<PutMemberRequest>(data);
    let _ = decode::<CreateAlertRequest>(data);
    let _ = decode::<UpdateTokenRequest>(data);
    let _ = decode::<RotateTokenRequest>(data);
    if let Some(r) = decode::<CreateOrgRequest>(data) {
        let _ = validate::slug("slug", &r.slug);
    }
    if let Some(r) = decode::<CreateAppRequest>(data) {
        let _ = validate::slug("slug", &r.slug);
    }
    if let Some(r) = decode::<PutEnvRequest>(data) {
        let _ = validate::env_value("value", &r.value);
    }
    if let Some(r) = decode::<CreateTokenRequest>(data) {
        if let Err(gantry_core::CoreError::Invalid { field, .. }) = validate::name("name", &r.name)
        {
            assert_eq!(field, "name");
        }
        let _ = validate::description("description", r.description.as_deref());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = validate::config_document("document", text);
        let _ = validate::env_key("key", text);
        let _ = validate::email("email", text);
        let _ = validate::alert_target("target", text, &Default::default());
    }
});
