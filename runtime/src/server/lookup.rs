//! Web look-ups (`lookup crm { ... }` in a flow): one HTTP GET with a timeout; a 2xx with a
//! JSON object gives its fields as text, a 404 "not found", anything else a failure with the
//! reason. Blocking: the transport driver runs it on tokio's blocking pool.

use super::uas::LookupResult;
use std::time::Duration;

/// Answers bigger than this are refused (a CRM record is a few hundred bytes).
const MAX_BODY: u64 = 256 * 1024;

/// [`get`], asked again after a failure (not after a 404) up to `retries` times, `retry_ms`
/// after the failed try; the last outcome counts. Blocking, like `get`.
pub fn get_with_retries(url: &str, timeout_ms: u64, retries: u32, retry_ms: u64) -> LookupResult {
    let mut result = get(url, timeout_ms);
    for _ in 0..retries {
        if !matches!(result, LookupResult::Failed(_)) {
            break;
        }
        std::thread::sleep(Duration::from_millis(retry_ms));
        result = get(url, timeout_ms);
    }
    result
}

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

    /// A web service on a free local port that answers the given responses in turn.
    fn service(answers: Vec<&'static str>) -> (String, std::thread::JoinHandle<usize>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/callers?n=1", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut served = 0;
            for answer in answers {
                let Ok((mut s, _)) = listener.accept() else {
                    break;
                };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
                served += 1;
            }
            served
        });
        (url, handle)
    }

    const FAILURE: &str = "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    const GOLD: &str = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\nConnection: close\r\n\r\n{\"tier\":\"gold\"}";
    const NOT_FOUND: &str =
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    #[test]
    fn a_failed_lookup_is_asked_again_but_not_found_is_an_answer() {
        let (url, served) = service(vec![FAILURE, FAILURE, GOLD]);
        assert_eq!(
            get_with_retries(&url, 2_000, 2, 10),
            LookupResult::Fields(vec![("tier".into(), "gold".into())])
        );
        assert_eq!(served.join().unwrap(), 3);
        // Without retries left, the failure stands.
        let (url, served) = service(vec![FAILURE, GOLD]);
        assert!(matches!(
            get_with_retries(&url, 2_000, 0, 10),
            LookupResult::Failed(_)
        ));
        drop(served);
        // 404 is the service's answer: not asked again.
        let (url, served) = service(vec![NOT_FOUND]);
        assert_eq!(get_with_retries(&url, 2_000, 3, 10), LookupResult::NotFound);
        assert_eq!(served.join().unwrap(), 1);
    }

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
