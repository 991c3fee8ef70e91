//! Registry credentials from Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`): `auths` entries (`auth` = base64 `user:password`, or `username` +
//! `password`, or `identitytoken`), and credential helpers (`credHelpers` per registry,
//! `credsStore` for all) run as `docker-credential-<helper> get`.
//!
//! Keys in `auths` are matched by host: `https://index.docker.io/v1/` stands for Docker Hub,
//! and a scheme or path around the host is ignored, as Docker does.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, Result};

/// Credentials for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// User name and password (sent as Basic, or exchanged for a bearer token).
    Basic {
        /// User name.
        username: String,
        /// Password or access token.
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken`), exchanged at the token endpoint.
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, ***)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(***)"),
        }
    }
}

/// Docker's `config.json`, the parts that hold credentials.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
    #[serde(default)]
    creds_store: Option<String>,
    #[serde(default)]
    cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    identitytoken: Option<String>,
}

/// Credentials loaded from a Docker config file.
#[derive(Debug, Default)]
pub struct Keychain {
    path: Option<PathBuf>,
    config: DockerConfig,
}

/// The key Docker Hub's credentials are stored under.
const DOCKER_HUB_KEY: &str = "https://index.docker.io/v1/";

impl Keychain {
    /// No credentials: anonymous access only.
    pub fn anonymous() -> Keychain {
        Keychain::default()
    }

    /// Docker's default config file (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`);
    /// a missing file means anonymous access.
    pub fn from_docker_config() -> Result<Keychain> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".docker/config.json"),
                None => return Ok(Keychain::anonymous()),
            },
        };
        Self::from_file(&path)
    }

    /// Credentials from `path`; a missing file means anonymous access.
    pub fn from_file(path: &Path) -> Result<Keychain> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Keychain::anonymous()),
            Err(e) => return Err(Error::io("reading registry credentials", path, e)),
        };
        let config = serde_json::from_slice(&bytes).map_err(|e| Error::Credentials {
            path: path.to_path_buf(),
            reason: format!("not a valid Docker config: {e}"),
        })?;
        Ok(Keychain {
            path: Some(path.to_path_buf()),
            config,
        })
    }

    /// The credential for `registry` (as written in references: `docker.io`, `host:port`).
    pub fn get(&self, registry: &str) -> Result<Option<Credential>> {
        let path = self.path.clone().unwrap_or_default();
        let hub = registry == "docker.io";
        if let Some(helper) = self
            .config
            .cred_helpers
            .iter()
            .find(|(k, _)| key_host(k) == registry || hub && is_hub_key(k))
            .map(|(_, h)| h)
        {
            return run_helper(helper, registry, &path);
        }
        let entry = self
            .config
            .auths
            .iter()
            .find(|(k, _)| key_host(k) == registry || hub && is_hub_key(k))
            .map(|(_, e)| e);
        if let Some(e) = entry {
            if let Some(token) = e.identitytoken.as_ref().filter(|t| !t.is_empty()) {
                return Ok(Some(Credential::IdentityToken(token.clone())));
            }
            if let Some(auth) = e.auth.as_ref().filter(|a| !a.is_empty()) {
                return decode_auth(auth, registry, &path).map(Some);
            }
            if let (Some(u), Some(p)) = (&e.username, &e.password) {
                return Ok(Some(Credential::Basic {
                    username: u.clone(),
                    password: p.clone(),
                }));
            }
        }
        match &self.config.creds_store {
            Some(store) if !store.is_empty() => run_helper(store, registry, &path),
            _ => Ok(None),
        }
    }
}

fn is_hub_key(k: &str) -> bool {
    matches!(
        key_host(k),
        "index.docker.io" | "registry-1.docker.io" | "docker.io"
    )
}

/// `https://host:port/v1/` → `host:port`.
fn key_host(key: &str) -> &str {
    let k = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    k.split('/').next().unwrap_or(k)
}

fn decode_auth(auth: &str, registry: &str, path: &Path) -> Result<Credential> {
    let bad = |reason: &str| Error::Credentials {
        path: path.to_path_buf(),
        reason: format!("the `auth` of {registry} {reason}"),
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth.trim())
        .map_err(|_| bad("is not base64"))?;
    let text = String::from_utf8(raw).map_err(|_| bad("is not UTF-8"))?;
    let (u, p) = text
        .split_once(':')
        .ok_or_else(|| bad("is not user:password"))?;
    Ok(Credential::Basic {
        username: u.to_string(),
        password: p.to_string(),
    })
}

/// Runs `docker-credential-<helper> get` with the server on stdin.
fn run_helper(helper: &str, registry: &str, path: &Path) -> Result<Option<Credential>> {
    #[derive(Deserialize)]
    struct HelperOut {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let server = if registry == "docker.io" {
        DOCKER_HUB_KEY
    } else {
        registry
    };
    let bin = format!("docker-credential-{helper}");
    let fail = |reason: String| Error::Credentials {
        path: path.to_path_buf(),
        reason: format!("credential helper {bin} for {registry}: {reason}"),
    };
    let mut child = Command::new(&bin)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            fail(format!(
                "cannot run it ({e}); install it or remove it from the config"
            ))
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(fail(format!("failed: {}", msg.trim())));
    }
    let o: HelperOut =
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("unexpected output: {e}")))?;
    Ok(Some(if o.username == "<token>" {
        Credential::IdentityToken(o.secret)
    } else {
        Credential::Basic {
            username: o.username,
            password: o.secret,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_auths() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("config.json");
        std::fs::write(
            &p,
            r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYTpzcw=="},
                "localhost:5000":{"username":"a","password":"b"},
                "https://ghcr.io":{"identitytoken":"tok"}}}"#,
        )
        .unwrap();
        let k = Keychain::from_file(&p).unwrap();
        assert_eq!(
            k.get("docker.io").unwrap(),
            Some(Credential::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert_eq!(
            k.get("localhost:5000").unwrap(),
            Some(Credential::Basic {
                username: "a".into(),
                password: "b".into()
            })
        );
        assert_eq!(
            k.get("ghcr.io").unwrap(),
            Some(Credential::IdentityToken("tok".into()))
        );
        assert_eq!(k.get("quay.io").unwrap(), None);
        assert!(
            Keychain::from_file(&dir.path().join("missing"))
                .unwrap()
                .get("docker.io")
                .unwrap()
                .is_none()
        );
    }
}
