//! Test helpers: hand-made layer tars (every entry type, PAX xattrs, long and raw names,
//! whiteouts), images written into a temporary OCI store with the store's own writer, the
//! assembler run into a tar, and real tools (GNU tar, bsdtar) to read the result. A missing
//! tool fails the test naming its Debian package.
#![allow(dead_code)]

use evebuild_linuxkit::assemble::{AssembleContext, Report, assemble};
use evebuild_linuxkit::source::StoreImages;
use evebuild_linuxkit::yml::Config;
use evebuild_oci::spec::{
    ConfigBuilder, ImageConfiguration, ImageConfigurationBuilder, RootFsBuilder,
};
use evebuild_oci::{Compression, Platform, Reference, Store};
use evebuild_tree::tar::TarSink;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

#[allow(unused_imports)]
pub use evebuild_testkit::{run, tool, umoci_unpack};

/// One member of a hand-made layer.
#[derive(Clone)]
pub enum E {
    /// A regular file (mode 0644, root, mtime 1000).
    File(&'static str, &'static [u8]),
    /// A file with mode, uid, gid.
    FileAttr(&'static str, &'static [u8], u32, u32, u32),
    /// A directory with mode.
    Dir(&'static str, u32),
    /// A symbolic link.
    Symlink(&'static str, &'static str),
    /// A hard link (name, target).
    Link(&'static str, &'static str),
    /// A character device.
    Char(&'static str, u32, u32),
    /// A FIFO.
    Fifo(&'static str),
    /// A file carrying a PAX xattr (name, data, xattr name, xattr value).
    Xattr(&'static str, &'static [u8], &'static str, &'static [u8]),
    /// A file with an arbitrary byte name (written with a PAX path record).
    Raw(Vec<u8>, &'static [u8]),
}

/// A layer tar of `entries`, in order.
pub fn layer(entries: &[E]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_ustar();
        h.set_mtime(1000);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mode(0o644);
        h.set_size(0);
        let (name, data, ty): (Vec<u8>, &[u8], tar::EntryType) = match e {
            E::File(n, d) => (n.as_bytes().to_vec(), d, tar::EntryType::Regular),
            E::FileAttr(n, d, m, u, g) => {
                h.set_mode(*m);
                h.set_uid((*u).into());
                h.set_gid((*g).into());
                (n.as_bytes().to_vec(), d, tar::EntryType::Regular)
            }
            E::Dir(n, m) => {
                h.set_mode(*m);
                (n.as_bytes().to_vec(), &[], tar::EntryType::Directory)
            }
            E::Symlink(n, t) => {
                h.set_mode(0o777);
                if t.len() > 100 {
                    b.append_pax_extensions([("linkpath", t.as_bytes())])
                        .unwrap();
                    h.set_link_name(&t[..100]).unwrap();
                } else {
                    h.set_link_name(t).unwrap();
                }
                (n.as_bytes().to_vec(), &[], tar::EntryType::Symlink)
            }
            E::Link(n, t) => {
                h.set_link_name(t).unwrap();
                (n.as_bytes().to_vec(), &[], tar::EntryType::Link)
            }
            E::Char(n, ma, mi) => {
                h.set_mode(0o666);
                h.set_device_major(*ma).unwrap();
                h.set_device_minor(*mi).unwrap();
                (n.as_bytes().to_vec(), &[], tar::EntryType::Char)
            }
            E::Fifo(n) => (n.as_bytes().to_vec(), &[], tar::EntryType::Fifo),
            E::Xattr(n, d, k, v) => {
                let key = format!("SCHILY.xattr.{k}");
                b.append_pax_extensions([(key.as_str(), *v)]).unwrap();
                (n.as_bytes().to_vec(), d, tar::EntryType::Regular)
            }
            E::Raw(n, d) => {
                b.append_pax_extensions([("path", n.as_slice())]).unwrap();
                (b"raw-placeholder".to_vec(), d, tar::EntryType::Regular)
            }
        };
        h.set_entry_type(ty);
        h.set_size(data.len() as u64);
        if name.len() > 100 {
            b.append_pax_extensions([("path", name.as_slice())])
                .unwrap();
            h.as_ustar_mut().unwrap().name[..100].copy_from_slice(&name[..100]);
        } else {
            h.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(&name);
        }
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    b.into_inner().unwrap()
}

/// Settings of a test image's config.
#[derive(Default, Clone)]
pub struct Cfg {
    pub entrypoint: Option<Vec<&'static str>>,
    pub cmd: Option<Vec<&'static str>>,
    pub env: Option<Vec<&'static str>>,
    pub workdir: Option<&'static str>,
    pub label: Option<String>,
}

/// A linux image configuration for `arch` with the settings of `cfg`.
pub fn image_config(arch: &str, cfg: &Cfg) -> ImageConfiguration {
    let mut c = ConfigBuilder::default();
    if let Some(e) = &cfg.entrypoint {
        c = c.entrypoint(e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    if let Some(e) = &cfg.cmd {
        c = c.cmd(e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    if let Some(e) = &cfg.env {
        c = c.env(e.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    }
    if let Some(w) = cfg.workdir {
        c = c.working_dir(w.to_string());
    }
    if let Some(l) = &cfg.label {
        c = c.labels(HashMap::from([(
            "org.mobyproject.config".to_string(),
            l.clone(),
        )]));
    }
    let rootfs = RootFsBuilder::default()
        .typ("layers")
        .diff_ids(Vec::<String>::new())
        .build()
        .unwrap();
    ImageConfigurationBuilder::default()
        .architecture(arch)
        .os("linux")
        .config(c.build().unwrap())
        .rootfs(rootfs)
        .build()
        .unwrap()
}

/// A temporary store with images in it.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub store: Store,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("cache")).unwrap();
        Fixture { dir, store }
    }

    /// Writes image `name` (amd64) with gzip layers.
    pub fn image(&self, name: &str, layers: &[Vec<u8>], cfg: Cfg) {
        let written: Vec<_> = layers
            .iter()
            .map(|l| self.store.write_layer(&l[..], Compression::Gzip).unwrap())
            .collect();
        let d = self
            .store
            .write_image(&image_config("amd64", &cfg), &written)
            .unwrap();
        let r = Reference::parse(name).unwrap();
        self.store.tag(&r, d).unwrap();
    }

    /// Assembles `yml` into tar bytes.
    pub fn build(&self, yml: &str, base: &Path) -> Result<(Vec<u8>, Report), String> {
        let config = Config::parse(yml, "test.yml").map_err(|e| e.to_string())?;
        let images = StoreImages {
            store: &self.store,
            platform: Platform::linux("amd64"),
        };
        let ctx = AssembleContext {
            images: &images,
            base_dir: base.to_path_buf(),
            home_dir: None,
        };
        let mut sink = TarSink::new(Vec::new());
        let report = assemble(&config, &ctx, &mut sink).map_err(|e| e.to_string())?;
        Ok((sink.finish().unwrap(), report))
    }
}

/// Extracts `tar` with bsdtar (as EVE does) into a fresh directory.
pub fn extract(tar: &[u8]) -> tempfile::TempDir {
    let bsdtar = tool("bsdtar", "libarchive-tools");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rootfs.tar");
    std::fs::write(&file, tar).unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir(&root).unwrap();
    run(Command::new(bsdtar)
        .args(["-x", "--numeric-owner", "--xattrs", "-p", "-f"])
        .arg(&file)
        .arg("-C")
        .arg(&root));
    std::fs::remove_file(&file).unwrap();
    dir
}

/// A listing of an extracted tree: `type mode uid:gid mtime path [-> target | contents]`,
/// one line per entry, sorted, for golden comparison.
pub fn listing(root: &Path) -> String {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut lines = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap();
            let name =
                String::from_utf8_lossy(std::os::unix::ffi::OsStrExt::as_bytes(rel.as_os_str()))
                    .into_owned();
            let ft = m.file_type();
            let (ty, extra) = if ft.is_dir() {
                stack.push(p.clone());
                ("d", String::new())
            } else if ft.is_symlink() {
                (
                    "l",
                    format!(" -> {}", std::fs::read_link(&p).unwrap().display()),
                )
            } else if ft.is_char_device() {
                ("c", format!(" {}:{}", m.rdev() >> 8, m.rdev() & 0xff))
            } else if ft.is_fifo() {
                ("p", String::new())
            } else {
                let data = std::fs::read(&p).unwrap();
                let text = if data.len() <= 40
                    && data.iter().all(|b| b.is_ascii_graphic() || *b == b' ')
                {
                    format!("{:?}", String::from_utf8_lossy(&data))
                } else {
                    format!("{} bytes", data.len())
                };
                ("f", format!(" {text} nlink={}", m.nlink()))
            };
            let mode = if ft.is_symlink() {
                0o777
            } else {
                m.mode() & 0o7777
            };
            let line = format!(
                "{ty} {mode:04o} {}:{} {} {name}{extra}",
                m.uid(),
                m.gid(),
                m.mtime()
            );
            lines.push((name, line));
        }
    }
    lines.sort();
    let lines: Vec<String> = lines.into_iter().map(|(_, l)| l).collect();
    lines.join("\n") + "\n"
}

/// The tar's member names in order, via GNU tar (a real reader of the format).
pub fn tar_names(tar: &[u8]) -> Vec<String> {
    let gnu = tool("tar", "tar");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.tar");
    std::fs::write(&file, tar).unwrap();
    run(Command::new(gnu).arg("-tf").arg(&file))
        .lines()
        .map(String::from)
        .collect()
}

/// Compares each `(name, text)` with the file `name` in the golden directory `dir`; with
/// `EVEBUILD_BLESS` set, writes them there instead (then review the diff).
pub fn check_golden(dir: &str, outputs: Vec<(String, String)>) {
    let bless = std::env::var_os("EVEBUILD_BLESS").is_some();
    for (name, got) in outputs {
        let path = Path::new(dir).join(&name);
        if bless {
            std::fs::write(&path, &got).unwrap();
            continue;
        }
        let want =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(got, want, "{name} differs from {}", path.display());
    }
}
