//! A small blocking client for the OCI distribution API (pull and push), on reqwest with rustls
//! and the ring crypto provider (no aws-lc, no OpenSSL).
//!
//! Why not oci-client (DESIGN's pick): it is async-only (a tokio runtime in a synchronous code
//! base), it writes blobs to an `AsyncWrite` without giving us the resume-on-206 rule, and it
//! hides the HTTP exchange the store's safety rules are about. Here every byte of a blob goes
//! through [`BlobWriter`], which hashes it and publishes nothing that does not match; blocking
//! reqwest keeps its runtime inside reqwest.
//!
//! Rules (hostile-inputs §2, T21/T22):
//! - Plain HTTP for `localhost`, `127.0.0.1` and `[::1]` registries, or any registry when
//!   `insecure` is set; HTTPS otherwise. `docker.io` is served by `registry-1.docker.io`.
//! - Auth: anonymous first; on 401, the `WWW-Authenticate` challenge decides: Bearer (token from
//!   the realm, with Basic credentials or a refresh token if the keychain has them; `token` or
//!   `access_token` accepted) or Basic. One re-authentication per request, then the error.
//! - Redirects are followed by hand, at most 10 hops, and `Authorization` is dropped when a hop
//!   leaves the registry's host (blob storage redirects). Descriptor `urls` are never fetched.
//! - A blob download that breaks is resumed with `Range` only when the answer is a 206 starting
//!   at the right byte; a 200 restarts from zero. At most [`RETRIES`] attempts; every read has an
//!   idle timeout.

use std::collections::HashMap;
use std::io::Read;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::blocking::{Body, Client, RequestBuilder, Response};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, HeaderMap, LOCATION, RANGE,
    WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode, Url};

use crate::credentials::{Credential, Keychain};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::format::{INDEX_TYPES, MANIFEST_TYPES, MAX_DOCUMENT};
use crate::reference::{DOCKER_HUB, Reference};
use crate::store::{BlobWriter, read_capped_or};

/// Attempts per blob download (the first plus resumptions).
pub const RETRIES: usize = 4;
const MAX_REDIRECTS: usize = 10;
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
const COPY_BUFFER: usize = 1 << 18;

/// How to reach registries.
#[derive(Debug, Default)]
pub struct ClientOptions {
    /// Credentials (anonymous when empty).
    pub keychain: Keychain,
    /// Talk plain HTTP to every registry (not only to localhost ones).
    pub insecure: bool,
}

/// A blocking registry client; cheap to share between threads.
pub struct RegistryClient {
    http: Client,
    options: ClientOptions,
    /// Authorization header values by `registry|scope`.
    auth: Mutex<HashMap<String, String>>,
}

/// A manifest or index fetched from a registry, with what the registry said about it.
#[derive(Debug, Clone)]
pub struct FetchedManifest {
    /// The exact bytes.
    pub bytes: Vec<u8>,
    /// Their digest.
    pub digest: Digest,
    /// The Content-Type header.
    pub content_type: Option<String>,
}

fn install_crypto_provider() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        // Fails only if a provider is already installed, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

impl RegistryClient {
    /// A client with `options`.
    pub fn new(options: ClientOptions) -> Result<RegistryClient> {
        install_crypto_provider();
        let http = Client::builder()
            .user_agent(concat!("evebuild/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(IDLE_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .build()
            .map_err(|e| Error::Http {
                url: String::new(),
                source: Box::new(e),
            })?;
        Ok(RegistryClient {
            http,
            options,
            auth: Mutex::new(HashMap::new()),
        })
    }

    /// `scheme://host` of the registry serving `name`.
    pub fn base_url(&self, name: &Reference) -> String {
        let reg = name.registry();
        let host = if reg == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            reg
        };
        let hostname = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        let local = matches!(hostname, "localhost" | "127.0.0.1" | "[::1]");
        let scheme = if local || self.options.insecure {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{host}")
    }

    fn repo_url(&self, name: &Reference, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base_url(name), name.repository())
    }

    /// Sends a request (rebuilt for each attempt by `build`), authenticating on demand and
    /// following redirects for GET and HEAD.
    fn send(
        &self,
        name: &Reference,
        push: bool,
        method: Method,
        url: &str,
        build: &dyn Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let scope = format!(
            "repository:{}:{}",
            name.repository(),
            if push { "pull,push" } else { "pull" }
        );
        let key = format!("{}|{scope}", name.registry());
        let mut reauthenticated = false;
        loop {
            let auth = self
                .auth
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(&key)
                .cloned();
            let resp = self.send_following(method.clone(), url, auth.as_deref(), build)?;
            if resp.status() != StatusCode::UNAUTHORIZED || reauthenticated {
                return Ok(resp);
            }
            let challenge = resp
                .headers()
                .get(WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            let value = self.authenticate(name, &challenge, &scope, url)?;
            self.auth
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(key.clone(), value);
            reauthenticated = true;
        }
    }

    fn send_following(
        &self,
        method: Method,
        url: &str,
        auth: Option<&str>,
        build: &dyn Fn(RequestBuilder) -> Result<RequestBuilder>,
    ) -> Result<Response> {
        let origin = Url::parse(url).map_err(|e| http_err(url, e))?;
        let mut current = origin.clone();
        for _ in 0..=MAX_REDIRECTS {
            let mut req = self.http.request(method.clone(), current.clone());
            let same_host =
                current.host_str() == origin.host_str() && current.port() == origin.port();
            if let (Some(a), true) = (auth, same_host) {
                req = req.header(AUTHORIZATION, a);
            }
            let resp = build(req)?
                .send()
                .map_err(|e| http_err(current.as_str(), e))?;
            let follow =
                matches!(method, Method::GET | Method::HEAD) && resp.status().is_redirection();
            if !follow {
                return Ok(resp);
            }
            let loc = resp
                .headers()
                .get(LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    registry_err(current.as_str(), resp.status(), "redirect without Location")
                })?;
            current = current.join(loc).map_err(|e| http_err(loc, e))?;
        }
        Err(Error::Registry {
            url: url.to_string(),
            status: "too many redirects".into(),
            detail: format!("more than {MAX_REDIRECTS} hops"),
        })
    }

    /// Answers a 401 challenge: the value of the Authorization header to retry with.
    fn authenticate(
        &self,
        name: &Reference,
        challenge: &str,
        scope: &str,
        url: &str,
    ) -> Result<String> {
        let cred = self.options.keychain.get(name.registry())?;
        let (scheme, params) = parse_challenge(challenge);
        match scheme.to_ascii_lowercase().as_str() {
            "basic" => match cred {
                Some(Credential::Basic { username, password }) => Ok(basic(&username, &password)),
                _ => Err(Error::Registry {
                    url: url.to_string(),
                    status: "401 Unauthorized".into(),
                    detail: format!(
                        "{} wants a user name and password: log in with `docker login {}` (credentials are read from ~/.docker/config.json)",
                        name.registry(),
                        name.registry()
                    ),
                }),
            },
            "bearer" => {
                let realm = params.get("realm").ok_or_else(|| Error::Registry {
                    url: url.to_string(),
                    status: "401 Unauthorized".into(),
                    detail: "Bearer challenge without a realm".into(),
                })?;
                let service = params.get("service").cloned().unwrap_or_default();
                let scope = params
                    .get("scope")
                    .cloned()
                    .unwrap_or_else(|| scope.to_string());
                let token = self.fetch_token(realm, &service, &scope, cred.as_ref())?;
                Ok(format!("Bearer {token}"))
            }
            _ => Err(Error::Registry {
                url: url.to_string(),
                status: "401 Unauthorized".into(),
                detail: format!("unsupported authentication challenge {challenge:?}"),
            }),
        }
    }

    fn fetch_token(
        &self,
        realm: &str,
        service: &str,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String> {
        let mut url = Url::parse(realm).map_err(|e| http_err(realm, e))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(registry_err(
                realm,
                StatusCode::UNAUTHORIZED,
                "token realm is not an HTTP URL",
            ));
        }
        let req = match cred {
            Some(Credential::IdentityToken(t)) => {
                let form = [
                    ("grant_type", "refresh_token"),
                    ("refresh_token", t.as_str()),
                    ("service", service),
                    ("scope", scope),
                    ("client_id", "evebuild"),
                ];
                let body = form
                    .iter()
                    .map(|(k, v)| format!("{k}={}", urlencode(v)))
                    .collect::<Vec<_>>()
                    .join("&");
                self.http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body)
            }
            other => {
                {
                    let mut q = url.query_pairs_mut();
                    if !service.is_empty() {
                        q.append_pair("service", service);
                    }
                    q.append_pair("scope", scope);
                }
                let r = self.http.get(url.clone());
                match other {
                    Some(Credential::Basic { username, password }) => {
                        r.header(AUTHORIZATION, basic(username, password))
                    }
                    _ => r,
                }
            }
        };
        let resp = req.send().map_err(|e| http_err(url.as_str(), e))?;
        let resp = check_status(resp, url.as_str())?;
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let body = read_body(resp, MAX_DOCUMENT, url.as_str())?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| Error::Registry {
            url: url.to_string(),
            status: "bad token response".into(),
            detail: e.to_string(),
        })?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                registry_err(
                    url.as_str(),
                    StatusCode::OK,
                    "token response has neither token nor access_token",
                )
            })
    }

    /// Fetches the manifest or index `reference` (a tag or digest) of `name`'s repository. The
    /// bytes are checked against `reference` when it is a digest and against the registry's
    /// `Docker-Content-Digest` header when it sends one.
    pub fn get_manifest(&self, name: &Reference, reference: &str) -> Result<FetchedManifest> {
        let url = self.repo_url(name, &format!("manifests/{reference}"));
        let accept = manifest_accept();
        let resp = self.send(name, false, Method::GET, &url, &|r| {
            Ok(r.header(ACCEPT, accept.as_str()))
        })?;
        let resp = check_status(resp, &url)?;
        let content_type = header(resp.headers(), CONTENT_TYPE.as_str())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let header_digest = header(resp.headers(), "docker-content-digest");
        let bytes = read_body(resp, MAX_DOCUMENT, &url)?;
        let digest = Digest::of(&bytes);
        if let Ok(pinned) = Digest::parse(reference)
            && pinned != digest
        {
            return Err(Error::DigestMismatch {
                what: url,
                expected: pinned.to_string(),
                actual: digest.to_string(),
            });
        }
        if let Some(h) = header_digest.as_deref().and_then(|h| Digest::parse(h).ok())
            && h != digest
        {
            return Err(Error::DigestMismatch {
                what: format!("{url} (Docker-Content-Digest header)"),
                expected: h.to_string(),
                actual: digest.to_string(),
            });
        }
        Ok(FetchedManifest {
            bytes,
            digest,
            content_type,
        })
    }

    /// Whether the registry has manifest `digest` in `name`'s repository.
    pub fn has_manifest(&self, name: &Reference, digest: &Digest) -> Result<bool> {
        let url = self.repo_url(name, &format!("manifests/{digest}"));
        let accept = manifest_accept();
        let resp = self.send(name, false, Method::HEAD, &url, &|r| {
            Ok(r.header(ACCEPT, accept.as_str()))
        })?;
        exists(resp, &url)
    }

    /// Downloads blob `digest` of `name`'s repository into `w`, reporting the bytes so far to
    /// `progress`. The caller commits `w`, which checks digest and size.
    pub fn fetch_blob(
        &self,
        name: &Reference,
        digest: &Digest,
        size: u64,
        w: &mut BlobWriter,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let url = self.repo_url(name, &format!("blobs/{digest}"));
        let mut last_error = None;
        for _ in 0..RETRIES {
            let offset = w.len();
            let range = format!("bytes={offset}-");
            let resp = self.send(name, false, Method::GET, &url, &|r| {
                Ok(if offset > 0 {
                    r.header(RANGE, range.as_str())
                } else {
                    r
                })
            });
            let resp = match resp.and_then(|r| check_status(r, &url)) {
                Ok(r) => r,
                Err(e @ Error::Http { .. }) => {
                    last_error = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if offset > 0 {
                let resumed = resp.status() == StatusCode::PARTIAL_CONTENT
                    && header(resp.headers(), CONTENT_RANGE.as_str())
                        .is_some_and(|v| v.starts_with(&format!("bytes {offset}-")));
                if !resumed {
                    w.reset()?;
                }
            } else if resp.status() != StatusCode::OK {
                return Err(registry_err(&url, resp.status(), "expected 200 for a blob"));
            }
            match copy_body(resp, w, size, digest, &url, progress) {
                Ok(()) => return Ok(()),
                Err(e @ Error::Http { .. }) => {
                    tracing::debug!(
                        "download of {digest} broke at {} bytes, resuming: {e}",
                        w.len()
                    );
                    last_error = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_error.unwrap_or_else(|| registry_err(&url, StatusCode::OK, "download failed")))
    }

    /// Whether the registry has blob `digest` in `name`'s repository.
    pub fn has_blob(&self, name: &Reference, digest: &Digest) -> Result<bool> {
        let url = self.repo_url(name, &format!("blobs/{digest}"));
        let resp = self.send(name, true, Method::HEAD, &url, &|r| Ok(r))?;
        exists(resp, &url)
    }

    /// Uploads a blob of `size` bytes read from what `open` returns (called again if the upload
    /// must be retried). `chunk` > 0 uploads in PATCH chunks of that size; 0 uploads in one PUT.
    pub fn upload_blob(
        &self,
        name: &Reference,
        digest: &Digest,
        size: u64,
        open: &dyn Fn() -> Result<Box<dyn Read + Send>>,
        chunk: u64,
    ) -> Result<()> {
        let start = self.repo_url(name, "blobs/uploads/");
        let resp = self.send(name, true, Method::POST, &start, &|r| {
            Ok(r.header(CONTENT_LENGTH, "0"))
        })?;
        let resp = check_status(resp, &start)?;
        let mut location = self.location(&resp, &start)?;
        if chunk == 0 {
            let url = with_digest(&location, digest)?;
            let resp = self.send(name, true, Method::PUT, url.as_str(), &|r| {
                Ok(r.header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, size.to_string())
                    .body(Body::sized(open()?, size)))
            })?;
            check_status(resp, url.as_str())?;
            return Ok(());
        }
        let mut reader = open()?;
        let mut offset = 0u64;
        while offset < size {
            let n = chunk.min(size - offset);
            let mut buf = Vec::with_capacity(n as usize);
            (&mut reader)
                .take(n)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("reading a blob to upload", digest.to_string(), e))?;
            if buf.len() as u64 != n {
                return Err(Error::SizeMismatch {
                    what: format!("blob {digest} being uploaded"),
                    expected: size,
                    actual: offset + buf.len() as u64,
                });
            }
            let url = location.clone();
            let range = format!("{offset}-{}", offset + n - 1);
            let resp = self.send(name, true, Method::PATCH, url.as_str(), &|r| {
                Ok(r.header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_RANGE, range.as_str())
                    .header(CONTENT_LENGTH, n.to_string())
                    .body(buf.clone()))
            })?;
            let resp = check_status(resp, url.as_str())?;
            location = self.location(&resp, url.as_str())?;
            offset += n;
        }
        let url = with_digest(&location, digest)?;
        let resp = self.send(name, true, Method::PUT, url.as_str(), &|r| {
            Ok(r.header(CONTENT_LENGTH, "0"))
        })?;
        check_status(resp, url.as_str())?;
        Ok(())
    }

    /// Uploads a manifest or index under `reference` (a tag or its digest); checks the digest
    /// the registry computed.
    pub fn put_manifest(
        &self,
        name: &Reference,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<()> {
        let url = self.repo_url(name, &format!("manifests/{reference}"));
        let resp = self.send(name, true, Method::PUT, &url, &|r| {
            Ok(r.header(CONTENT_TYPE, media_type).body(bytes.to_vec()))
        })?;
        let resp = check_status(resp, &url)?;
        let ours = Digest::of(bytes);
        if let Some(theirs) =
            header(resp.headers(), "docker-content-digest").and_then(|h| Digest::parse(&h).ok())
            && theirs != ours
        {
            return Err(Error::DigestMismatch {
                what: format!("{url}: the registry stored the manifest"),
                expected: ours.to_string(),
                actual: theirs.to_string(),
            });
        }
        Ok(())
    }

    fn location(&self, resp: &Response, base: &str) -> Result<Url> {
        let loc = header(resp.headers(), LOCATION.as_str())
            .ok_or_else(|| registry_err(base, resp.status(), "upload answer without Location"))?;
        Url::parse(base)
            .and_then(|b| b.join(&loc))
            .map_err(|e| http_err(&loc, e))
    }
}

fn with_digest(location: &Url, digest: &Digest) -> Result<Url> {
    let mut url = location.clone();
    url.query_pairs_mut().append_pair("digest", digest.as_str());
    Ok(url)
}

/// Copies a blob body into `w`, never past `size` (+1 byte, to detect a longer body).
fn copy_body(
    mut resp: Response,
    w: &mut BlobWriter,
    size: u64,
    digest: &Digest,
    url: &str,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut buf = vec![0u8; COPY_BUFFER];
    loop {
        let n = match resp.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(http_err(url, e)),
        };
        std::io::Write::write_all(w, &buf[..n])
            .map_err(|e| Error::io("writing a blob", digest.to_string(), e))?;
        if w.len() > size {
            return Err(Error::SizeMismatch {
                what: format!("blob {digest} from {url}"),
                expected: size,
                actual: w.len(),
            });
        }
        progress(w.len());
    }
}

fn exists(resp: Response, url: &str) -> Result<bool> {
    match resp.status() {
        s if s.is_success() => Ok(true),
        StatusCode::NOT_FOUND => Ok(false),
        s => Err(registry_err(url, s, &error_detail(resp))),
    }
}

/// The `Accept` header of a manifest request: every index and manifest media type we read.
fn manifest_accept() -> String {
    INDEX_TYPES
        .iter()
        .chain(MANIFEST_TYPES)
        .copied()
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_status(resp: Response, url: &str) -> Result<Response> {
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status();
    let mut detail = error_detail(resp);
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        detail.push_str(" (check the credentials in ~/.docker/config.json)");
    }
    Err(registry_err(url, status, &detail))
}

/// The registry's error messages (`{"errors":[{"code","message"}]}`), or the body's start.
fn error_detail(resp: Response) -> String {
    let body = read_body(resp, 64 << 10, "").unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Errors>(&body) {
        Ok(e) => e
            .errors
            .iter()
            .map(|i| {
                format!(
                    "{} {}",
                    i.code.as_deref().unwrap_or(""),
                    i.message.as_deref().unwrap_or("")
                )
                .trim()
                .to_string()
            })
            .collect::<Vec<_>>()
            .join("; "),
        Err(_) => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string(),
    }
}

fn read_body(resp: Response, cap: u64, url: &str) -> Result<Vec<u8>> {
    read_capped_or(resp, cap, url, |e| http_err(url, e))
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn http_err(url: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::Http {
        url: url.to_string(),
        source: Box::new(e),
    }
}

fn registry_err(url: &str, status: StatusCode, detail: &str) -> Error {
    Error::Registry {
        url: url.to_string(),
        status: status.to_string(),
        detail: detail.to_string(),
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Splits `Bearer realm="…",service="…",scope="…"` into the scheme and its parameters.
fn parse_challenge(h: &str) -> (String, HashMap<String, String>) {
    let h = h.trim();
    let (scheme, rest) = h.split_once(' ').unwrap_or((h, ""));
    let mut params = HashMap::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        params.insert(key, value);
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_string(), params)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_parsing() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull,push""#,
        );
        assert_eq!(s, "Bearer");
        assert_eq!(p["realm"], "https://auth.docker.io/token");
        assert_eq!(p["service"], "registry.docker.io");
        assert_eq!(p["scope"], "repository:library/alpine:pull,push");
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "Basic");
        assert_eq!(p["realm"], "Registry Realm");
    }

    #[test]
    fn base_urls() {
        let c = RegistryClient::new(ClientOptions::default()).unwrap();
        let url = |s: &str| c.base_url(&Reference::parse(s).unwrap());
        assert_eq!(url("alpine"), "https://registry-1.docker.io");
        assert_eq!(url("127.0.0.1:5000/a"), "http://127.0.0.1:5000");
        assert_eq!(url("localhost:5000/a"), "http://localhost:5000");
        assert_eq!(url("ghcr.io/a/b"), "https://ghcr.io");
    }
}
