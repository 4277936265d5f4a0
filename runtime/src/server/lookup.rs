//! Web look-ups (`lookup crm { ... }` in a flow): one HTTP GET with a timeout; a 2xx with a
//! JSON object gives its fields as text, a 404 "not found", anything else a failure with the
//! reason. Blocking: the transport driver runs it on tokio's blocking pool.

use super::uas::LookupResult;
use std::time::Duration;

/// Answers bigger than this are refused (a CRM record is a few hundred bytes).
const MAX_BODY: u64 = 256 * 1024;

pub fn get(url: &str, timeout_ms: u64) -> LookupResult {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(timeout_ms.max(1))))
        .http_status_as_error(false)
        .max_redirects(3)
        .build()
        .into();
    let mut resp = match agent.get(url).header("Accept", "application/json").call() {
        Ok(r) => r,
        Err(e) => return LookupResult::Failed(e.to_string()),
    };
    let status = resp.status().as_u16();
    if status == 404 {
        return LookupResult::NotFound;
    }
    if !(200..300).contains(&status) {
        return LookupResult::Failed(format!("HTTP status {status}"));
    }
    let body = match resp
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_string()
    {
        Ok(b) => b,
        Err(e) => return LookupResult::Failed(format!("reading the answer: {e}")),
    };
    fields(&body)
}

/// The fields of a JSON object answer, as text (numbers and yes/no written out, other values
/// as JSON).
pub fn fields(body: &str) -> LookupResult {
    match serde_json::from_str::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(map)) => LookupResult::Fields(
            map.into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    (k, text)
                })
                .collect(),
        ),
        Ok(_) => LookupResult::Failed("the answer is not a JSON object".into()),
        Err(e) => LookupResult::Failed(format!("the answer is not JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_become_text_fields() {
        assert_eq!(
            fields(r#"{"tier":"gold","visits":7,"vip":true,"note":null}"#),
            LookupResult::Fields(vec![
                ("note".into(), "".into()),
                ("tier".into(), "gold".into()),
                ("vip".into(), "true".into()),
                ("visits".into(), "7".into()),
            ])
        );
        assert!(matches!(fields("[1]"), LookupResult::Failed(_)));
        assert!(matches!(fields("{oops"), LookupResult::Failed(_)));
    }
}
