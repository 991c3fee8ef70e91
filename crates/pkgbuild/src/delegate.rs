//! Dockerfiles with `RUN`, handed to a container builder on the machine: buildah (daemonless;
//! `--storage-driver vfs --isolation chroot` in a private storage root per build), with base
//! images given to it from the store (exported as OCI layouts, pulled into its storage under
//! the names the Dockerfile uses, `--pull=never`). The result is pushed to an OCI layout and
//! imported into the store.
//!
//! Reproducibility: `--timestamp SOURCE_DATE_EPOCH` fixes `created` and layer mtimes;
//! `--identity-label=false` drops buildah's version label. Network only when build.yml says
//! `network: true` (otherwise buildah runs in a network namespace of its own, `unshare --net`,
//! which needs root or CAP_SYS_ADMIN). Another architecture than the host's needs a registered binfmt emulator
//! (qemu-user-static); without one the build stops with what to install.
//!
//! Left out: docker buildx / BuildKit as builders (only detected for the error message).

use crate::dockerfile::Dockerfile;
use crate::store_images::{StoreImages, oci_err};
use crate::{Error, context};
use evebuild_oci::spec::Descriptor;
use evebuild_oci::{Digest, Platform, Store, format};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A container builder evebuild can drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builder {
    /// buildah.
    Buildah,
}

/// What to install to build Dockerfiles with `RUN`.
pub const NO_BUILDER_HELP: &str = "this Dockerfile has RUN instructions, which need a container \
builder, and none was found. Install one of: buildah (`apt-get install buildah`; works without a \
daemon, also as non-root with user namespaces). Dockerfiles without RUN are built in-process.";

/// The first builder found on this machine.
pub fn find_builder() -> Result<Builder, Error> {
    let ok = Command::new("buildah")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Ok(Builder::Buildah);
    }
    Err(Error::Other(NO_BUILDER_HELP.into()))
}

/// Linux `uname -m` name for a GOARCH (binfmt handlers are named after it).
fn uname_arch(goarch: &str) -> &str {
    match goarch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "386" => "i386",
        "ppc64le" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

/// Checks that `RUN` for `arch` can execute here.
pub fn check_emulation(arch: &str) -> Result<(), Error> {
    let host = crate::package::host_arch();
    if arch == host {
        return Ok(());
    }
    let handler = format!("/proc/sys/fs/binfmt_misc/qemu-{}", uname_arch(arch));
    if Path::new(&handler).exists() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "building for linux/{arch} on a linux/{host} machine runs the Dockerfile's RUN lines \
         under emulation, and no emulator is registered ({handler} is missing). Install \
         qemu-user-static and binfmt-support (`apt-get install qemu-user-static binfmt-support`), \
         or build this package on a linux/{arch} machine. Packages without RUN build for any \
         architecture without emulation."
    )))
}

/// One delegated build.
pub struct Request<'a> {
    /// Which builder.
    pub builder: Builder,
    /// The parsed Dockerfile (its path is given to the builder).
    pub dockerfile: &'a Dockerfile,
    /// The build context.
    pub context: &'a [context::Source],
    /// Target GOARCH.
    pub arch: &'a str,
    /// Build args.
    pub build_args: &'a [(String, String)],
    /// Labels.
    pub labels: &'a [(String, String)],
    /// Timestamps.
    pub source_date_epoch: i64,
    /// Allow network access in RUN.
    pub network: bool,
    /// Do not use cached steps.
    pub no_cache: bool,
    /// Base images.
    pub images: &'a StoreImages<'a>,
    /// Where the result goes.
    pub store: &'a Store,
    /// Annotations for the result's manifest.
    pub annotations: BTreeMap<String, String>,
}

struct Buildah {
    root: PathBuf,
    runroot: PathBuf,
}

impl Buildah {
    fn run(&self, args: &[&str]) -> Result<String, Error> {
        self.run_in(false, args)
    }

    /// Runs buildah; with `offline`, inside a new network namespace (only a loopback): chroot
    /// isolation cannot take `--network none`, so the whole build is cut off instead.
    fn run_in(&self, offline: bool, args: &[&str]) -> Result<String, Error> {
        let mut c = if offline {
            let mut c = Command::new("unshare");
            c.arg("--net").arg("buildah");
            c
        } else {
            Command::new("buildah")
        };
        c.arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(&self.root)
            .arg("--runroot")
            .arg(&self.runroot)
            .args(args);
        let out = c
            .output()
            .map_err(|e| Error::Other(format!("running buildah: {e}")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let tail: Vec<&str> = stdout.lines().chain(stderr.lines()).collect();
            let tail = tail[tail.len().saturating_sub(30)..].join("\n");
            return Err(Error::Other(format!(
                "buildah {} failed:\n{tail}",
                args.first().copied().unwrap_or("")
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

/// Builds through the builder and stores the result; returns its manifest descriptor.
pub fn build(r: &Request) -> Result<Descriptor, Error> {
    check_emulation(r.arch)?;
    let parent = work_parent(r.store.root());
    let work = tempfile::Builder::new()
        .prefix("evebuild-buildah-")
        .rand_bytes(0)
        .suffix(&format!("{}-{}", std::process::id(), next_id()))
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    let w = work.path();
    let b = Buildah {
        root: w.join("storage"),
        runroot: w.join("run"),
    };
    // Base images, under the names the Dockerfile uses.
    for (i, written) in crate::deps::image_refs(r.dockerfile, r.build_args, r.arch)
        .iter()
        .enumerate()
    {
        let Some(img) = r.images.image(written, r.arch)? else {
            return Err(Error::Other(format!(
                "{}: image {written} for linux/{} is not in the store: build its package first",
                r.dockerfile.path.display(),
                r.arch
            )));
        };
        let dir = w.join(format!("base{i}"));
        // Named by the reference the Dockerfile uses, so FROM finds it with --pull=never.
        let name = evebuild_oci::Reference::parse(written)
            .map_err(oci_err)?
            .to_string();
        export_layout(r.store, &img, &dir, &name)?;
        let id = b.run(&["pull", "--quiet", &format!("oci:{}:{name}", dir.display())])?;
        let id = id.lines().last().unwrap_or_default().to_string();
        b.run(&["tag", &id, &name, &format!("localhost/{written}")])?;
    }
    // The context: the package directory, plus extra sources copied in.
    let ctx_dir = match r.context {
        [only] if only.dest.is_none() => only.host.clone(),
        _ => assemble_context(r.context, &w.join("context"))?,
    };
    let mut args: Vec<String> = vec![
        "build".into(),
        "--quiet".into(),
        "--isolation".into(),
        "chroot".into(),
        "--pull=never".into(),
        "--platform".into(),
        format!("linux/{}", r.arch),
        "--timestamp".into(),
        r.source_date_epoch.to_string(),
        "--identity-label=false".into(),
        "--network".into(),
        "host".into(),
        "-f".into(),
        r.dockerfile.path.display().to_string(),
        "-t".into(),
        "localhost/evebuild-result:latest".into(),
    ];
    if r.no_cache {
        args.push("--no-cache".into());
    }
    for (k, v) in r.build_args {
        args.push("--build-arg".into());
        args.push(format!("{k}={v}"));
    }
    for (k, v) in r.labels {
        args.push("--label".into());
        args.push(format!("{k}={v}"));
    }
    args.push(ctx_dir.display().to_string());
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    b.run_in(!r.network, &argv)?;
    let out = w.join("out");
    b.run(&[
        "push",
        "--quiet",
        "--format",
        "oci",
        "localhost/evebuild-result:latest",
        &format!("oci:{}:result", out.display()),
    ])?;
    let desc = import_layout(r.store, &out, r.arch, &r.annotations)?;
    // vfs storage of a chroot build can hold read-only directories; make it removable.
    let _ = Command::new("chmod").arg("-R").arg("u+w").arg(w).status();
    Ok(desc)
}

/// buildah names images pulled from an OCI layout after the layout's path, and rejects paths
/// with upper-case letters: the work directory must have none.
fn work_parent(store_root: &Path) -> PathBuf {
    let lower = |p: &Path| !p.to_string_lossy().chars().any(|c| c.is_ascii_uppercase());
    [
        store_root.to_path_buf(),
        std::env::temp_dir(),
        PathBuf::from("/var/tmp"),
    ]
    .into_iter()
    .find(|p| lower(p))
    .unwrap_or_else(|| PathBuf::from("/tmp"))
}

fn next_id() -> u64 {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn assemble_context(sources: &[context::Source], dir: &Path) -> Result<PathBuf, Error> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    for s in sources {
        let dest = match &s.dest {
            Some(d) => dir.join(d.as_str_lossy().as_ref()),
            None => dir.to_path_buf(),
        };
        if let Some(p) = dest.parent() {
            std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
        }
        let src = if s.host.is_dir() {
            format!("{}/.", s.host.display())
        } else {
            s.host.display().to_string()
        };
        if s.host.is_dir() {
            std::fs::create_dir_all(&dest).map_err(|e| Error::io(&dest, e))?;
        }
        let st = Command::new("cp")
            .arg("-a")
            .arg(&src)
            .arg(&dest)
            .status()
            .map_err(|e| Error::Other(format!("copying {src}: {e}")))?;
        if !st.success() {
            return Err(Error::Other(format!(
                "copying {src} into the build context failed"
            )));
        }
    }
    Ok(dir.to_path_buf())
}

/// Writes `img` as a one-image OCI layout in `dir` named `name` (blobs hard-linked when
/// possible).
pub fn export_layout(
    store: &Store,
    img: &evebuild_oci::Image,
    dir: &Path,
    name: &str,
) -> Result<(), Error> {
    let blobs = dir.join(format::BLOBS_DIR);
    std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
    let mut all = vec![
        img.manifest_descriptor.clone(),
        img.manifest.config().clone(),
    ];
    all.extend(img.layers().iter().cloned());
    for d in &all {
        let dg = Digest::of_descriptor(d).map_err(oci_err)?;
        let from = store.blob_path(&dg);
        let to = blobs.join(dg.hex());
        if to.exists() {
            continue;
        }
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
    }
    let mut m = img.manifest_descriptor.clone();
    m.set_platform(None);
    m.set_annotations(Some(
        [(format::ANNOTATION_REF_NAME.to_string(), name.to_string())]
            .into_iter()
            .collect(),
    ));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": format::MT_OCI_INDEX,
        "manifests": [m],
    });
    write(
        &dir.join(format::OCI_LAYOUT_FILE),
        format::OCI_LAYOUT_CONTENT.as_bytes(),
    )?;
    write(&dir.join(format::INDEX_FILE), index.to_string().as_bytes())
}

fn write(p: &Path, bytes: &[u8]) -> Result<(), Error> {
    std::fs::write(p, bytes).map_err(|e| Error::io(p, e))
}

/// Imports the single image of the OCI layout `dir` into the store, adding `annotations` to its
/// manifest; returns the new manifest's descriptor (with platform `linux/<arch>`).
pub fn import_layout(
    store: &Store,
    dir: &Path,
    arch: &str,
    annotations: &BTreeMap<String, String>,
) -> Result<Descriptor, Error> {
    let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
    let index: serde_json::Value = serde_json::from_slice(&read(&dir.join(format::INDEX_FILE))?)
        .map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    let mdigest = index["manifests"][0]["digest"]
        .as_str()
        .ok_or_else(|| Error::Other(format!("{}: index.json names no image", dir.display())))?;
    let blob = |d: &str| -> Result<(Digest, PathBuf), Error> {
        let dg = Digest::parse(d).map_err(oci_err)?;
        let p = dir.join(format::BLOBS_DIR).join(dg.hex());
        Ok((dg, p))
    };
    let (_, mpath) = blob(mdigest)?;
    let mut manifest: serde_json::Value = serde_json::from_slice(&read(&mpath)?)
        .map_err(|e| Error::Other(format!("{}: {e}", mpath.display())))?;
    let mut refs = vec![
        manifest["config"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    ];
    for l in manifest["layers"].as_array().into_iter().flatten() {
        refs.push(l["digest"].as_str().unwrap_or_default().to_string());
    }
    for d in refs {
        let (dg, p) = blob(&d)?;
        if !store.has_blob(&dg) {
            let f = std::fs::File::open(&p).map_err(|e| Error::io(&p, e))?;
            store.write_blob_from(f, Some(&dg)).map_err(oci_err)?;
        }
    }
    let ann = manifest
        .as_object_mut()
        .ok_or_else(|| Error::Other(format!("{}: manifest is not an object", mpath.display())))?
        .entry("annotations")
        .or_insert_with(|| serde_json::json!({}));
    for (k, v) in annotations {
        ann[k] = serde_json::Value::String(v.clone());
    }
    let mut desc = store
        .put_json(format::MT_OCI_MANIFEST, &manifest)
        .map_err(oci_err)?;
    desc.set_platform(Some(Platform::linux(arch).to_oci()));
    Ok(desc)
}
