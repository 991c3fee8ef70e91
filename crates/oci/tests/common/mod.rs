//! Test helpers: small images made with the store's own writer, real tools found on PATH (a
//! missing one fails the test naming its Debian package), and a real registry (Debian's
//! `docker-registry`, CNCF distribution) on 127.0.0.1 with a free port.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use evebuild_oci::spec::{ConfigBuilder, Descriptor, ImageConfigurationBuilder, RootFsBuilder};
use evebuild_oci::{Compression, Platform, Reference, Store};

/// Path of a required tool, or a failure naming the Debian package to install.
pub fn tool(name: &str, package: &str) -> PathBuf {
    for dir in std::env::var("PATH").unwrap_or_default().split(':') {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "{name} is not installed: apt-get install {package} (scripts/install-test-deps.sh lists it)"
    );
}

/// Runs a command, failing with its output when it fails; returns stdout.
pub fn run(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A deterministic tar with the given regular files (mode 0644, mtime 0).
pub fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        h.set_entry_type(tar::EntryType::Regular);
        b.append_data(&mut h, name, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Writes a one-platform image whose layers hold `layers` (each a list of files) and returns
/// its manifest descriptor (with platform).
pub fn write_image(
    store: &Store,
    platform: &Platform,
    layers: &[Vec<(&str, Vec<u8>)>],
) -> Descriptor {
    let written: Vec<_> = layers
        .iter()
        .map(|files| {
            let files: Vec<(&str, &[u8])> = files.iter().map(|(n, d)| (*n, d.as_slice())).collect();
            store
                .write_layer(&tar_of(&files)[..], Compression::Gzip)
                .unwrap()
        })
        .collect();
    let config = ImageConfigurationBuilder::default()
        .architecture(platform.architecture.as_str())
        .os(platform.os.as_str())
        .config(
            ConfigBuilder::default()
                .cmd(vec!["/bin/true".to_string()])
                .build()
                .unwrap(),
        )
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(Vec::<String>::new())
                .build()
                .unwrap(),
        )
        .build()
        .unwrap();
    store.write_image(&config, &written).unwrap()
}

/// Writes `name` as a multi-arch index of one small image per arch (tagged `name` and
/// `name-<arch>` as linuxkit does) and returns the index descriptor.
pub fn write_multiarch(
    store: &Store,
    name: &Reference,
    arches: &[&str],
    payload: usize,
) -> Descriptor {
    let mut manifests = Vec::new();
    for arch in arches {
        let p = Platform::linux(arch);
        let big = noise(
            payload,
            arch.bytes().map(u64::from).sum::<u64>() + payload as u64,
        );
        let d = write_image(
            store,
            &p,
            &[
                vec![("etc/arch", arch.as_bytes().to_vec())],
                vec![
                    ("data/blob", big),
                    ("etc/name", name.to_string().into_bytes()),
                ],
            ],
        );
        let per_arch = name
            .with_tag(&format!("{}-{arch}", name.tag().unwrap()))
            .unwrap();
        store.tag(&per_arch, d.clone()).unwrap();
        manifests.push(d);
    }
    let idx = store.write_index(manifests).unwrap();
    store.tag(name, idx.clone()).unwrap();
    idx
}

/// `n` incompressible bytes from a xorshift generator seeded with `seed`.
pub fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A running `docker-registry` on 127.0.0.1; killed on drop.
pub struct Registry {
    child: Child,
    /// `127.0.0.1:<port>`.
    pub addr: String,
    /// Its storage directory.
    pub storage: tempfile::TempDir,
    _config: tempfile::TempDir,
}

impl Registry {
    /// Starts a registry with a private storage directory and no authentication.
    pub fn start() -> Registry {
        let bin = tool("docker-registry", "docker-registry");
        let storage = tempfile::tempdir().unwrap();
        let config = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let cfg = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
            storage.path().display()
        );
        let cfg_path = config.path().join("config.yml");
        std::fs::write(&cfg_path, cfg).unwrap();
        let child = Command::new(bin)
            .arg("serve")
            .arg(&cfg_path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting docker-registry");
        let reg = Registry {
            child,
            addr,
            storage,
            _config: config,
        };
        reg.wait_ready();
        reg
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(mut s) = TcpStream::connect(&self.addr) {
                let _ = write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.addr);
                let mut resp = String::new();
                let _ = s.read_to_string(&mut resp);
                if resp.starts_with("HTTP/1.") && resp.contains(" 200 ") {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "docker-registry did not answer on {} within 20 s",
            self.addr
        );
    }

    /// The blob files the registry holds (`…/blobs/sha256/xx/<hex>/data`).
    pub fn blob_data_path(&self, hex: &str) -> PathBuf {
        self.storage
            .path()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Names of the blobs in a store.
pub fn blob_names(store: &Store) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    v.sort();
    v
}
