//! # Reproducible ext4 images (ROOTFS_FORMAT=ext4)
//!
//! EVE's `make-rootfs` for ext4 runs `mkfs.ext4` with a random UUID, loop-mounts the image
//! as root and `cp -R`s the extracted rootfs into it (which also drops owners and times). Here
//! the entry stream becomes an image without root, without mounting and bit for bit the same
//! for the same input:
//! 1. [`Ext4Writer`] (an [`evebuild_tree::Sink`]) stages directories, file contents, symlinks
//!    and hard links in a private directory next to the output ([`stage`]);
//! 2. `mke2fs -t ext4 -b 4096 -L eve_rootfs -U <uuid> -E hash_seed=<seed> -d <staging>` builds
//!    the filesystem into a sparse file of EVE's size ([`SizeRule::Eve`]), with
//!    `E2FSPROGS_FAKE_TIME` = SOURCE_DATE_EPOCH, our own `MKE2FS_CONFIG` (fixed feature list,
//!    [`format::MKE2FS_CONF`]), `-E nodiscard,assume_storage_prezeroed=1` (so neither the
//!    host filesystem's hole punching nor the kernel's lazy-init support changes a byte) and
//!    `LC_ALL=C` (mke2fs 1.47.0 adds directory entries in `alphasort` = `strcoll` order, which
//!    is byte order only in the C locale);
//! 3. `debugfs -w -f <script>` gives every inode its owner, exact mode, times, xattrs, and
//!    creates device nodes and FIFOs ([`debugfs`]);
//! 4. the result is renamed into place.
//!
//! The UUID is derived from the content (a sha256 over every entry, independent of the order
//! they were streamed in) unless given; the directory hash seed from the UUID. Every inode
//! time (atime, ctime, mtime, crtime) is the entry's mtime; the root and implied directories
//! get SOURCE_DATE_EPOCH; `lost+found` and filesystem times come from `E2FSPROGS_FAKE_TIME`.
//!
//! Limits (from the tools, each an error naming the entry): names with a newline or carriage
//! return (debugfs scripts are line based), xattr values over 4 KiB, empty symlink targets.
//! Times outside ext4's range (1901–2446) are clamped. The staging copy costs disk space the
//! size of the content next to the output while it is built.

pub mod debugfs;
pub mod format;
pub mod stage;

use evebuild_tree::{Entry, Sink};
use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

/// How big the image is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SizeRule {
    /// EVE's rule: `(du -sk / 4 + 16000)` 4 KiB blocks plus 800 MiB headroom for LIVE_UPDATE
    /// ([`format::eve_image_size`]; `du` as [`stage::Staging::du_kib`] counts it).
    #[default]
    Eve,
    /// Exactly this many bytes (a multiple of 4096).
    Fixed(u64),
}

/// What to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Options {
    /// Volume label (at most 16 bytes).
    pub label: String,
    /// SOURCE_DATE_EPOCH: filesystem times, the root and implied directories.
    pub source_date_epoch: i64,
    /// Image size.
    pub size: SizeRule,
    /// Filesystem UUID; derived from the content when `None`.
    pub uuid: Option<[u8; 16]>,
}

impl Ext4Options {
    /// EVE's rootfs: label `eve_rootfs`, EVE's size rule, UUID from the content.
    pub fn eve(source_date_epoch: i64) -> Self {
        Ext4Options {
            label: format::EVE_LABEL.to_string(),
            source_date_epoch,
            size: SizeRule::Eve,
            uuid: None,
        }
    }
}

/// Why an image could not be made.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry that cannot be staged or stored, or reading and writing the files of the
    /// build failed ([`evebuild_tree::Error::Io`] says what was being done).
    #[error(transparent)]
    Entry(#[from] evebuild_tree::Error),
    /// A bad option.
    #[error("{0}")]
    Options(String),
    /// mke2fs or debugfs is not installed.
    #[error("cannot run {tool} ({source}): install the Debian/Alpine package e2fsprogs")]
    ToolMissing {
        /// The program.
        tool: String,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// mke2fs or debugfs failed.
    #[error("{tool} failed building {image}:\n{output}")]
    Tool {
        /// The program.
        tool: &'static str,
        /// The image being built.
        image: PathBuf,
        /// What it said.
        output: String,
    },
}

impl Error {
    fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        evebuild_tree::Error::io(context, source).into()
    }
}

/// What [`Ext4Tool::build`] needs besides the paths.
#[derive(Debug, Clone)]
pub struct MkfsParams<'a> {
    /// Volume label.
    pub label: &'a str,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Directory hash seed.
    pub hash_seed: [u8; 16],
    /// SOURCE_DATE_EPOCH.
    pub source_date_epoch: i64,
    /// The mke2fs configuration file to use.
    pub config: &'a Path,
}

/// The program that turns a staged directory and a fix-up script into an image: e2fsprogs
/// today; a native writer could take its place.
pub trait Ext4Tool {
    /// Makes an ext4 filesystem filling `image` (a file of the final size) from `root`.
    fn build(&self, image: &Path, root: &Path, p: &MkfsParams) -> Result<(), Error>;
    /// Applies a debugfs script to `image`.
    fn fix(&self, image: &Path, script: &Path, source_date_epoch: i64) -> Result<(), Error>;
}

/// `mke2fs` and `debugfs` from e2fsprogs ≥ 1.47.0, found on PATH.
#[derive(Debug, Clone)]
pub struct E2fsprogs {
    /// The mke2fs program.
    pub mke2fs: PathBuf,
    /// The debugfs program.
    pub debugfs: PathBuf,
}

impl Default for E2fsprogs {
    fn default() -> Self {
        E2fsprogs {
            mke2fs: "mke2fs".into(),
            debugfs: "debugfs".into(),
        }
    }
}

/// Formats 16 bytes as a UUID string.
pub fn uuid_string(u: &[u8; 16]) -> String {
    let h = |r: std::ops::Range<usize>| u[r].iter().map(|b| format!("{b:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        h(0..4),
        h(4..6),
        h(6..8),
        h(8..10),
        h(10..16)
    )
}

impl E2fsprogs {
    /// A command with nothing from the caller's environment but PATH, in the C locale and
    /// with the fake time.
    fn command(&self, program: &Path, source_date_epoch: i64) -> Command {
        let mut c = Command::new(program);
        c.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LC_ALL", "C")
            .env("E2FSPROGS_FAKE_TIME", source_date_epoch.to_string());
        c
    }

    fn run(&self, mut c: Command, tool: &'static str, image: &Path) -> Result<String, Error> {
        let program = c.get_program().to_string_lossy().into_owned();
        let out = c.output().map_err(|source| Error::ToolMissing {
            tool: program,
            source,
        })?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if !out.status.success() {
            return Err(Error::Tool {
                tool,
                image: image.to_path_buf(),
                output: format!("{}{stderr}", String::from_utf8_lossy(&out.stdout)),
            });
        }
        Ok(stderr)
    }
}

impl Ext4Tool for E2fsprogs {
    fn build(&self, image: &Path, root: &Path, p: &MkfsParams) -> Result<(), Error> {
        let mut c = self.command(&self.mke2fs, p.source_date_epoch);
        c.env("MKE2FS_CONFIG", p.config)
            .args(["-q", "-F", "-t", "ext4", "-b"])
            .arg(format::BLOCK_SIZE.to_string())
            .arg("-L")
            .arg(p.label)
            .arg("-U")
            .arg(uuid_string(&p.uuid))
            .arg("-E")
            .arg(format!(
                "nodiscard,assume_storage_prezeroed=1,hash_seed={}",
                uuid_string(&p.hash_seed)
            ))
            .arg("-d")
            .arg(root)
            .arg(image);
        self.run(c, "mke2fs", image).map(drop)
    }

    fn fix(&self, image: &Path, script: &Path, source_date_epoch: i64) -> Result<(), Error> {
        let mut c = self.command(&self.debugfs, source_date_epoch);
        c.arg("-w").arg("-f").arg(script).arg(image);
        let stderr = self.run(c, "debugfs", image)?;
        // debugfs reports failed commands on stderr and still exits 0.
        let problems = debugfs::problems(&stderr);
        if !problems.is_empty() {
            return Err(Error::Tool {
                tool: "debugfs",
                image: image.to_path_buf(),
                output: problems
                    .iter()
                    .take(20)
                    .map(|l| format!("  {l}\n"))
                    .collect(),
            });
        }
        Ok(())
    }
}

/// What was made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ext4Summary {
    /// Image size in bytes.
    pub size: u64,
    /// The content's size as `du -sk` counts it.
    pub du_kib: u64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Directory hash seed.
    pub hash_seed: [u8; 16],
}

/// Streams entries into an ext4 image at `output` (see the crate doc).
#[derive(Debug)]
pub struct Ext4Writer<T: Ext4Tool = E2fsprogs> {
    output: PathBuf,
    opts: Ext4Options,
    staging: stage::Staging,
    tool: T,
}

impl Ext4Writer<E2fsprogs> {
    /// Starts an image for `output` with e2fsprogs from PATH; stages next to `output`.
    pub fn new(output: &Path, opts: Ext4Options) -> Result<Self, Error> {
        Self::with_tool(output, opts, E2fsprogs::default())
    }
}

fn output_dir(output: &Path) -> &Path {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

impl<T: Ext4Tool> Ext4Writer<T> {
    /// Starts an image for `output` built by `tool`.
    pub fn with_tool(output: &Path, opts: Ext4Options, tool: T) -> Result<Self, Error> {
        if opts.label.len() > 16 {
            return Err(Error::Options(format!(
                "ext4 label {:?} is longer than 16 bytes",
                opts.label
            )));
        }
        if let SizeRule::Fixed(n) = opts.size
            && (n == 0 || n % format::BLOCK_SIZE != 0)
        {
            return Err(Error::Options(format!(
                "ext4 image size {n} is not a positive multiple of {}",
                format::BLOCK_SIZE
            )));
        }
        let dir = output_dir(output);
        let staging = stage::Staging::new(dir, opts.source_date_epoch).map_err(|e| {
            Error::io(
                format!("creating a staging directory in {}", dir.display()),
                e,
            )
        })?;
        Ok(Ext4Writer {
            output: output.to_path_buf(),
            opts,
            staging,
            tool,
        })
    }

    /// Builds the image and renames it into place; the staging directory is removed.
    pub fn finish(self) -> Result<Ext4Summary, Error> {
        let du_kib = self.staging.du_kib();
        let size = match self.opts.size {
            SizeRule::Eve => format::eve_image_size(du_kib),
            SizeRule::Fixed(n) => n,
        };
        let uuid = self
            .opts
            .uuid
            .unwrap_or_else(|| derive(b"evebuild ext4 uuid\0", &self.staging.digest()));
        let hash_seed = derive(b"evebuild ext4 hash_seed\0", &uuid);

        let config = self.staging.aux("mke2fs.conf");
        std::fs::write(&config, format::MKE2FS_CONF)
            .map_err(|e| Error::io(format!("writing {}", config.display()), e))?;
        let script_path = self.staging.aux("fixup.debugfs");
        let script = self.staging.script()?;
        std::fs::write(&script_path, script.bytes())
            .map_err(|e| Error::io(format!("writing {}", script_path.display()), e))?;

        let dir = output_dir(&self.output);
        let write_err = |e| Error::io(format!("writing {}", self.output.display()), e);
        let tmp = tempfile::Builder::new()
            .prefix(".ext4-image-")
            .tempfile_in(dir)
            .map_err(write_err)?;
        tmp.as_file().set_len(size).map_err(write_err)?;
        let params = MkfsParams {
            label: &self.opts.label,
            uuid,
            hash_seed,
            source_date_epoch: self.opts.source_date_epoch,
            config: &config,
        };
        self.tool.build(tmp.path(), self.staging.root(), &params)?;
        self.tool
            .fix(tmp.path(), &script_path, self.opts.source_date_epoch)?;
        {
            use std::os::unix::fs::PermissionsExt;
            // A temporary file is private (0600); the image is not.
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(write_err)?;
        }
        tmp.as_file().sync_all().map_err(write_err)?;
        tmp.persist(&self.output).map_err(|e| write_err(e.error))?;
        Ok(Ext4Summary {
            size,
            du_kib,
            uuid,
            hash_seed,
        })
    }
}

impl<T: Ext4Tool> Sink for Ext4Writer<T> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), evebuild_tree::Error> {
        self.staging.add(entry, data)
    }
}

/// A UUID (RFC 9562 version 8, "custom") from a domain string and a digest.
fn derive(domain: &[u8], input: &[u8]) -> [u8; 16] {
    let d = Sha256::new()
        .chain_update(domain)
        .chain_update(input)
        .finalize();
    let mut u = [0u8; 16];
    u.copy_from_slice(&d[..16]);
    u[6] = (u[6] & 0x0F) | 0x80;
    u[8] = (u[8] & 0x3F) | 0x80;
    u
}
