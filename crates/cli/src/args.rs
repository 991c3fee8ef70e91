//! # Command-line arguments
//!
//! Two ways in, as EVE developers expect: make-style words (`evebuild ZARCH=arm64 HV=kvm
//! PLATFORM=generic live`) and flags (`evebuild --zarch arm64 --hv kvm live`), plus a few
//! subcommands for what make never did (`pkg show-tag`, `cache ls`, `verify-boot` …).

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Builds EVE-OS images without docker, root or loop devices.
#[derive(Debug, Parser)]
#[command(
    name = "evebuild",
    version,
    about = "Builds EVE-OS images (live, installer, rootfs, packages) without docker, root or loop devices",
    args_conflicts_with_subcommands = true,
    after_help = crate::help::after_help(),
)]
pub struct Cli {
    /// Knob assignments (KEY=VALUE) and targets, in any order, as with make.
    #[arg(value_name = "KNOB=VALUE|TARGET")]
    pub words: Vec<String>,

    #[command(flatten)]
    pub global: Global,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Options every command takes.
#[derive(Debug, Args, Clone, Default)]
pub struct Global {
    /// The EVE source tree to build (default: the current directory, or the bundled example
    /// when run in an evebuild checkout).
    #[arg(short = 'C', long = "directory", global = true, value_name = "DIR")]
    pub directory: Option<PathBuf>,

    /// Target architecture (ZARCH): amd64, arm64 or riscv64.
    #[arg(long, global = true, value_name = "ARCH")]
    pub zarch: Option<String>,

    /// Hypervisor flavour (HV): kvm, k, mini, xen (and the seed's acrn, kubevirt).
    #[arg(long, global = true)]
    pub hv: Option<String>,

    /// Platform (PLATFORM), e.g. generic, rt, nvidia-jp6.
    #[arg(long, global = true)]
    pub platform: Option<String>,

    /// Version to build instead of the one computed from git (ROOTFS_VERSION).
    #[arg(long, global = true, value_name = "VERSION")]
    pub rootfs_version: Option<String>,

    /// Root filesystem format (ROOTFS_FORMAT): squash or ext4.
    #[arg(long, global = true, value_name = "FORMAT")]
    pub rootfs_format: Option<String>,

    /// Where artifacts go (default: <project>/dist).
    #[arg(long, global = true, value_name = "DIR")]
    pub dist: Option<PathBuf>,

    /// The OCI image store (linuxkit's cache).
    #[arg(long, global = true, env = "LINUXKIT_CACHE", value_name = "DIR")]
    pub cache: Option<PathBuf>,

    /// Print what would be built, build nothing.
    #[arg(short = 'n', long, global = true)]
    pub dry_run: bool,

    /// Rebuild even what is up to date.
    #[arg(long, global = true)]
    pub force: bool,

    /// Fetch fresh manifests from registries.
    #[arg(long, global = true, conflicts_with = "offline")]
    pub pull: bool,

    /// Never touch the network; name what is missing instead.
    #[arg(long, global = true)]
    pub offline: bool,

    /// A registry used as the team's shared package cache: packages are fetched from it
    /// before they are built (`host[:port][/prefix]`).
    #[arg(long, global = true, env = "EVEBUILD_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,

    /// Publish every package the build used to --registry.
    #[arg(long, global = true)]
    pub push: bool,

    /// Talk plain HTTP to every registry (localhost registries always are).
    #[arg(long, global = true)]
    pub insecure: bool,

    /// Parallel jobs (default: the number of cores).
    #[arg(short, long, global = true)]
    pub jobs: Option<usize>,

    /// Only errors and the final artifact list.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More detail (repeat for debug output).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Subcommands beyond make-style targets.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Package operations (linuxkit pkg …).
    #[command(subcommand)]
    Pkg(PkgCommand),
    /// The image store.
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Pull an image (one platform) into the store.
    Pull {
        /// The image reference.
        reference: String,
        /// Platform (default linux/<this machine's arch>).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Push an image (or index) from the store to a registry.
    Push {
        /// The image reference in the store.
        reference: String,
        /// Where to push it (default: the reference itself).
        #[arg(long)]
        to: Option<String>,
    },
    /// Compare two builds' rootfs without mounting (EVE's tools/rootfs-diff.sh): each side a
    /// rootfs.img (squashfs or ext4), a rootfs tar, a dist/<arch>/<version> directory or a tree.
    /// Module signatures and the kernel's signing key are normalised away. Exit status: 0
    /// identical, 1 different, 2 error.
    Diff {
        /// The first build.
        a: PathBuf,
        /// The second build.
        b: PathBuf,
        /// Compare contents only, following symbolic links (rootfs-diff.sh's `diff -qr`);
        /// default: also type, mode, owner, xattrs and link targets.
        #[arg(long)]
        content: bool,
    },
    /// Build an image (or take a file) and boot it in QEMU with OVMF, serial on this terminal
    /// (EVE's `make run-live`). Ctrl-A X quits.
    Run {
        /// live, live-raw, installer-raw, installer-iso — or the path of an image.
        #[arg(default_value = "live")]
        image: String,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Boot an image headless and wait for a line on its serial console; exit 0 when it
    /// appears, 1 on timeout, kernel panic or power-off. The log is kept beside the image.
    VerifyBoot {
        /// The image file (qcow2, raw, iso …).
        image: PathBuf,
        /// Regular expression the console must print.
        #[arg(long)]
        expect: String,
        /// Seconds to wait.
        #[arg(long, default_value_t = 120)]
        timeout: u64,
        #[command(flatten)]
        vm: VmArgs,
    },
    /// Print the composed and resolved linuxkit yml.
    Yml {
        /// Which image: rootfs or installer.
        #[arg(default_value = "rootfs")]
        image: String,
        /// Knob assignments (KEY=VALUE).
        words: Vec<String>,
    },
}

/// How a VM is started.
#[derive(Debug, Args, Clone)]
pub struct VmArgs {
    /// Accelerator: auto (KVM when it works), kvm or tcg.
    #[arg(long, default_value = "auto")]
    pub accel: String,
    /// Attach a software TPM (swtpm).
    #[arg(long)]
    pub tpm: bool,
    /// Memory in MiB.
    #[arg(long, default_value_t = 2048)]
    pub memory: u32,
    /// Boot with a legacy PC BIOS (SeaBIOS) instead of UEFI (OVMF): checks the MBR's GRUB.
    #[arg(long)]
    pub legacy_bios: bool,
}

/// `evebuild cache …`: the image store (linuxkit's cache layout).
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List the names in the store.
    Ls,
    /// Import a `docker save` or OCI archive.
    Import {
        /// The archive (.tar or .tar.gz).
        archive: PathBuf,
        /// Name to give the image (required for OCI archives without a name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Export an image as an OCI or docker archive, or its filesystem as a tar.
    Export {
        /// The image reference.
        reference: String,
        /// oci, docker or filesystem.
        #[arg(long, default_value = "oci")]
        format: String,
        /// Platform to export (default linux/<ZARCH or this machine's arch>).
        #[arg(long)]
        platform: Option<String>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Remove names and the blobs only they used.
    Rm {
        /// References to remove.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Re-hash every blob and report damage.
    Verify,
}

/// `evebuild pkg …`
#[derive(Debug, Subcommand)]
pub enum PkgCommand {
    /// Print a package's tag exactly as `linuxkit pkg show-tag` does.
    ShowTag {
        /// Print the fully expanded reference (docker.io/…).
        #[arg(long)]
        canonical: bool,
        /// Read this build yml instead of build.yml.
        #[arg(long, value_name = "FILE")]
        build_yml: Option<String>,
        /// Use this hash instead of the git tree hash.
        #[arg(long)]
        hash: Option<String>,
        /// Override the organisation.
        #[arg(long, env = "LINUXKIT_PKG_ORG")]
        org: Option<String>,
        /// Package directories.
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
    /// Build packages into the image store.
    Build {
        /// Package directories (pkg/<name>).
        #[arg(required = true)]
        dirs: Vec<PathBuf>,
    },
}
