//! # Which boot kit a project builds with
//!
//! The bundled example's kernel, GRUB and init packages carry stand-ins under `placeholder/`
//! that `scripts/boot-kit.sh` overrides with real Debian binaries in `kit/`. A build should say
//! which it used: images built from placeholders do not boot. This looks at the kit files —
//! the kernel must be a real bzImage, whose version string it reads from the x86 boot header.

use crate::format::{
    BZIMAGE_HDRS, BZIMAGE_HDRS_OFFSET, BZIMAGE_KERNEL_VERSION_BASE, BZIMAGE_KERNEL_VERSION_OFFSET,
    BZIMAGE_PROTOCOL_OFFSET,
};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The kernel of the kit, relative to the project root.
pub const KIT_KERNEL: &str = "pkg/kernel/kit/kernel";

/// Every file `scripts/boot-kit.sh` writes, relative to the project root.
pub const KIT_FILES: &[&str] = &[
    KIT_KERNEL,
    "pkg/kernel/kit/initrd.img",
    "pkg/kernel/kit/kernel.tar",
    "pkg/grub/kit/EFI/BOOT/BOOTX64.EFI",
    "pkg/grub/kit/EFI/BOOT/BOOT.img",
    "pkg/grub/kit/EFI/BOOT/BOOT.pc",
    "pkg/dom0-ztools/kit/bin/busybox",
];

/// What a project's boot kit is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KitStatus {
    /// No kit files: the packages carry their placeholders and images will not boot.
    Placeholder,
    /// A complete kit with a real kernel.
    Real {
        /// The kernel release (`6.1.0-56-amd64`), from the bzImage header.
        kernel_version: String,
    },
    /// Some kit files are missing or the kernel is not a bzImage: rerun scripts/boot-kit.sh.
    Incomplete {
        /// What is wrong, one entry per file.
        problems: Vec<String>,
    },
}

impl std::fmt::Display for KitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KitStatus::Placeholder => write!(
                f,
                "placeholder boot pieces (not bootable; scripts/boot-kit.sh makes a real kit)"
            ),
            KitStatus::Real { kernel_version } => {
                write!(f, "boot kit with kernel {kernel_version}")
            }
            KitStatus::Incomplete { problems } => write!(
                f,
                "incomplete boot kit ({}); rerun scripts/boot-kit.sh",
                problems.join("; ")
            ),
        }
    }
}

/// Looks at the kit files of the project at `root`.
pub fn kit_status(root: &Path) -> KitStatus {
    let present: Vec<&str> = KIT_FILES
        .iter()
        .copied()
        .filter(|f| root.join(f).is_file())
        .collect();
    if present.is_empty() {
        return KitStatus::Placeholder;
    }
    let mut problems: Vec<String> = KIT_FILES
        .iter()
        .filter(|f| !present.contains(f))
        .map(|f| format!("{f} is missing"))
        .collect();
    let kernel: PathBuf = root.join(KIT_KERNEL);
    let version = if kernel.is_file() {
        match bzimage_version(&kernel) {
            Ok(v) => Some(v),
            Err(why) => {
                problems.push(format!("{KIT_KERNEL}: {why}"));
                None
            }
        }
    } else {
        None
    };
    match version {
        Some(kernel_version) if problems.is_empty() => KitStatus::Real { kernel_version },
        _ => KitStatus::Incomplete { problems },
    }
}

/// The release of the x86 Linux kernel image at `path`: the first word of the version string
/// the boot header points to (`6.1.0-56-amd64 (debian-kernel@…) #1 SMP …`).
pub fn bzimage_version(path: &Path) -> Result<String, String> {
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| e.to_string())?;
    let u16_at = |at: usize| {
        head.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    if head.get(BZIMAGE_HDRS_OFFSET..BZIMAGE_HDRS_OFFSET + 4) != Some(BZIMAGE_HDRS) {
        return Err("not a Linux bzImage (no HdrS boot header)".into());
    }
    let protocol = u16_at(BZIMAGE_PROTOCOL_OFFSET).unwrap_or(0);
    let pointer = u16_at(BZIMAGE_KERNEL_VERSION_OFFSET).unwrap_or(0) as usize;
    if protocol < 0x0200 || pointer == 0 {
        return Err(format!(
            "boot protocol {protocol:#06x} has no kernel version string"
        ));
    }
    let start = pointer + BZIMAGE_KERNEL_VERSION_BASE;
    let text = head
        .get(start..)
        .and_then(|rest| rest.split(|&b| b == 0).next())
        .ok_or("the kernel version string lies outside the image")?;
    let text = String::from_utf8_lossy(text);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| "empty kernel version string".into())
}
