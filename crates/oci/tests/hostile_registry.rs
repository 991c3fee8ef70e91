//! Registry faults a real registry will not produce on demand (hostile-inputs T19, T21, T22),
//! served by a tiny HTTP/1.1 server in the test: an ambiguous manifest, redirect loops,
//! credentials that must not follow a redirect to another host, bearer tokens (`access_token`
//! form, expiry mid-pull), a connection dropped at 90 % (resumed with a 206, or restarted after a
//! 200), and a `Docker-Content-Digest` that lies.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use evebuild_oci::{
    ClientOptions, Digest, Error, Keychain, Platform, PullOptions, Reference, RegistryClient,
    Store, canonical_json, pull,
};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    headers: HashMap<String, String>,
}

/// A response; `cut` closes the connection after that many body bytes.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    cut: Option<usize>,
}

fn resp(status: u16, body: impl Into<Vec<u8>>) -> Response {
    Response {
        status,
        headers: Vec::new(),
        body: body.into(),
        cut: None,
    }
}

impl Response {
    fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_string(), v.to_string()));
        self
    }
}

type Handler = dyn Fn(&Request, &str) -> Response + Send + Sync;

/// Serves `handler` on 127.0.0.1; returns the port and the log of requests.
fn serve(handler: Arc<Handler>) -> (u16, Arc<Mutex<Vec<Request>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let log = Arc::new(Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let handler = handler.clone();
            let log = log2.clone();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    reader.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                    }
                }
                if let Some(n) = headers
                    .get("content-length")
                    .and_then(|n| n.parse::<usize>().ok())
                {
                    let mut sink = vec![0; n];
                    let _ = reader.read_exact(&mut sink);
                }
                let req = Request { path, headers };
                log.lock().unwrap().push(req.clone());
                let host = req.headers.get("host").cloned().unwrap_or_default();
                let r = handler(&req, &host);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let _ = stream.write_all(head.as_bytes());
                let body = &r.body[..r.cut.unwrap_or(r.body.len()).min(r.body.len())];
                let _ = stream.write_all(body);
                let _ = stream.flush();
            });
        }
    });
    (port, log)
}

/// A small valid image: (manifest bytes, config bytes, layer bytes).
fn image() -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let desc = write_image(
        &store,
        &Platform::linux("amd64"),
        &[vec![("big", noise(400_000, 7))]],
    );
    let blob = |d: &str| std::fs::read(store.blob_path(&Digest::parse(d).unwrap())).unwrap();
    let manifest = blob(desc.digest().as_ref());
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let config = blob(m["config"]["digest"].as_str().unwrap());
    let layer = blob(m["layers"][0]["digest"].as_str().unwrap());
    (manifest, config, layer)
}

fn serve_image(manifest: &[u8], config: &[u8], layer: &[u8], req: &Request) -> Option<Response> {
    let blobs: Vec<(Digest, &[u8])> = [config, layer]
        .iter()
        .map(|b| (Digest::of(b), *b))
        .collect();
    if req.path.ends_with("/manifests/1") {
        return Some(
            resp(200, manifest)
                .header("Content-Type", "application/vnd.oci.image.manifest.v1+json"),
        );
    }
    for (d, bytes) in blobs {
        if req.path.ends_with(&format!("/blobs/{d}")) {
            return Some(resp(200, bytes));
        }
    }
    None
}

fn fresh() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    (dir, store)
}

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions::default()).unwrap()
}

fn opts() -> PullOptions {
    PullOptions::new(Platform::linux("amd64"))
}

#[test]
fn ambiguous_manifest_and_lying_digest_header_are_refused() {
    let both = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"layers":[]}"#.to_vec();
    let (port, _) = serve(Arc::new(move |req: &Request, _: &str| {
        if req.path.ends_with("/manifests/both") {
            resp(200, both.clone())
                .header("Content-Type", "application/vnd.oci.image.index.v1+json")
        } else if req.path.ends_with("/manifests/lie") {
            resp(200, br#"{"schemaVersion":2,"manifests":[]}"#.to_vec()).header(
                "Docker-Content-Digest",
                &Digest::of(b"something else").to_string(),
            )
        } else {
            resp(404, "")
        }
    }));
    let (_d, store) = fresh();
    let name = Reference::parse(&format!("127.0.0.1:{port}/x:both")).unwrap();
    let err = pull(&store, &client(), &name, &opts()).unwrap_err();
    assert!(
        matches!(err, Error::Media { .. }) && err.to_string().contains("both"),
        "{err}"
    );
    let name = Reference::parse(&format!("127.0.0.1:{port}/x:lie")).unwrap();
    let err = pull(&store, &client(), &name, &opts()).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn redirect_loops_end_and_credentials_stay_on_their_host() {
    let (manifest, config, layer) = image();
    let layer_digest = Digest::of(&layer);
    let config_digest = Digest::of(&config);
    let port_cell = Arc::new(AtomicUsize::new(0));
    let p2 = port_cell.clone();
    let (port, log) = serve(Arc::new(move |req: &Request, host: &str| {
        let port = p2.load(Ordering::SeqCst);
        if !host.starts_with("localhost")
            && req.headers.get("authorization").map(String::as_str) != Some("Basic dTpw")
        {
            return resp(401, "").header("WWW-Authenticate", "Basic realm=\"fake\"");
        }
        if req.path.ends_with(&format!("/blobs/{config_digest}")) {
            // Storage lives on "another host": the same server under another name.
            return resp(307, "").header(
                "Location",
                &format!("http://localhost:{port}/storage/config"),
            );
        }
        if req.path == "/storage/config" {
            return resp(200, config.clone());
        }
        if req.path.ends_with(&format!("/blobs/{layer_digest}")) || req.path.starts_with("/loop") {
            return resp(302, "").header("Location", "/loop");
        }
        serve_image(&manifest, &config, &layer, req).unwrap_or_else(|| resp(404, ""))
    }));
    port_cell.store(port as usize, Ordering::SeqCst);
    let cfg = tempfile::tempdir().unwrap();
    let cfg_path = cfg.path().join("config.json");
    std::fs::write(
        &cfg_path,
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"dTpw"}}}}}}"#),
    )
    .unwrap();
    let client = RegistryClient::new(ClientOptions {
        keychain: Keychain::from_file(&cfg_path).unwrap(),
        insecure: false,
    })
    .unwrap();
    let (_d, store) = fresh();
    let name = Reference::parse(&format!("127.0.0.1:{port}/x:1")).unwrap();
    let err = pull(&store, &client, &name, &opts()).unwrap_err();
    assert!(err.to_string().contains("too many redirects"), "{err}");
    let log = log.lock().unwrap();
    let loops = log.iter().filter(|r| r.path == "/loop").count();
    assert!((1..=11).contains(&loops), "{loops} hops followed");
    let storage: Vec<_> = log.iter().filter(|r| r.path == "/storage/config").collect();
    assert!(!storage.is_empty(), "config redirect not followed");
    assert!(
        storage
            .iter()
            .all(|r| !r.headers.contains_key("authorization")),
        "credentials sent to another host"
    );
    assert!(store.lookup(&name).unwrap().is_none());
}

#[test]
fn bearer_tokens_and_a_token_expiring_mid_pull() {
    let (manifest, config, layer) = image();
    let tokens = Arc::new(AtomicUsize::new(0));
    let t2 = tokens.clone();
    let served = Arc::new(AtomicUsize::new(0));
    let (port, log) = serve(Arc::new(move |req: &Request, host: &str| {
        if req.path.starts_with("/token") {
            let n = t2.fetch_add(1, Ordering::SeqCst) + 1;
            return resp(200, format!(r#"{{"access_token":"tok{n}"}}"#));
        }
        let current = format!("Bearer tok{}", t2.load(Ordering::SeqCst));
        let ok = req.headers.get("authorization") == Some(&current);
        // The first token expires after two requests.
        let expired = current == "Bearer tok1" && served.load(Ordering::SeqCst) >= 2;
        if !ok || expired {
            return resp(
                401,
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"token"}]}"#,
            )
            .header(
                "WWW-Authenticate",
                &format!(
                    r#"Bearer realm="http://{host}/token",service="fake",scope="repository:x:pull""#
                ),
            );
        }
        served.fetch_add(1, Ordering::SeqCst);
        serve_image(&manifest, &config, &layer, req).unwrap_or_else(|| resp(404, ""))
    }));
    let (_d, store) = fresh();
    let name = Reference::parse(&format!("127.0.0.1:{port}/x:1")).unwrap();
    let mut o = opts();
    o.jobs = 1;
    pull(&store, &client(), &name, &o).unwrap();
    assert_eq!(
        tokens.load(Ordering::SeqCst),
        2,
        "one token, then one re-authentication"
    );
    let log = log.lock().unwrap();
    let token_req = log.iter().find(|r| r.path.starts_with("/token")).unwrap();
    assert!(
        token_req.path.contains("scope=repository%3Ax%3Apull"),
        "{}",
        token_req.path
    );
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn dropped_connections_resume_with_206_or_restart_after_200() {
    let (manifest, config, layer) = image();
    for honour_range in [true, false] {
        let layer_digest = Digest::of(&layer);
        let attempts = Arc::new(AtomicUsize::new(0));
        let a2 = attempts.clone();
        let (manifest, config, layer) = (manifest.clone(), config.clone(), layer.clone());
        let (port, log) = serve(Arc::new(move |req: &Request, _: &str| {
            if req.path.ends_with(&format!("/blobs/{layer_digest}")) {
                let n = a2.fetch_add(1, Ordering::SeqCst);
                if n == 0 {
                    let mut r = resp(200, layer.clone());
                    r.cut = Some(layer.len() * 9 / 10);
                    return r;
                }
                if let (Some(range), true) = (req.headers.get("range"), honour_range) {
                    let start: usize = range
                        .trim_start_matches("bytes=")
                        .trim_end_matches('-')
                        .parse()
                        .unwrap();
                    return resp(206, layer[start..].to_vec()).header(
                        "Content-Range",
                        &format!("bytes {start}-{}/{}", layer.len() - 1, layer.len()),
                    );
                }
                return resp(200, layer.clone());
            }
            serve_image(&manifest, &config, &layer, req).unwrap_or_else(|| resp(404, ""))
        }));
        let (_d, store) = fresh();
        let name = Reference::parse(&format!("127.0.0.1:{port}/x:1")).unwrap();
        pull(&store, &client(), &name, &opts()).unwrap();
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            2,
            "honour_range={honour_range}"
        );
        let log = log.lock().unwrap();
        assert!(
            log.iter().any(|r| r.headers.contains_key("range")),
            "no resumption asked"
        );
        assert!(store.verify().unwrap().is_ok());
    }
}

#[test]
fn hostile_descriptors_in_a_manifest_are_refused() {
    let (manifest, config, layer) = image();
    let mut m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    let cases = [
        ("digest", serde_json::json!("sha256:../x")),
        ("size", serde_json::json!(-1)),
        ("size", serde_json::json!(1u64 << 62)),
    ];
    for (field, value) in cases {
        m["layers"][0][field] = value.clone();
        let bad = canonical_json(&m).unwrap();
        let (config, layer) = (config.clone(), layer.clone());
        let (port, _) = serve(Arc::new(move |req: &Request, _: &str| {
            serve_image(&bad, &config, &layer, req).unwrap_or_else(|| resp(404, ""))
        }));
        let (_d, store) = fresh();
        let name = Reference::parse(&format!("127.0.0.1:{port}/x:1")).unwrap();
        let err = pull(&store, &client(), &name, &opts()).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Media { .. } | Error::Limit { .. } | Error::InvalidDigest(_)
            ),
            "{field}={value}: {err}"
        );
        assert!(
            blob_names(&store).is_empty(),
            "{field}={value}: something was stored"
        );
        m = serde_json::from_slice(&manifest).unwrap();
    }
}
