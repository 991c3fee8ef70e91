//! # The QEMU command line
//!
//! One place that turns [`RunOptions`] and an image into `qemu-system-x86_64` arguments, in
//! the shape of EVE's `make run-live`: a q35 machine with OVMF (UEFI), the image as a virtio
//! (or AHCI) disk or as a CD-ROM, serial console on standard I/O. Headless runs (boot checks)
//! get no display, no monitor and `-no-reboot`, so a guest that reboots ends the run instead of
//! looping; interactive runs get `-nographic` (console and monitor on the terminal; Ctrl-A X
//! quits).
//!
//! Firmware is Debian's `ovmf` package unless [`RunOptions::firmware`] names a file (such as
//! SeaBIOS, for legacy-BIOS boots). Not
//! handled: Secure Boot variables, arm64/riscv64 guests, USB passthrough.

use crate::accel::AccelChoice;
use crate::image::ImageKind;
use crate::tpm::Swtpm;
use crate::{DiskBus, RunError, RunOptions};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// OVMF as one image for `-bios` (Debian package `ovmf`).
const OVMF_BIOS: &str = "/usr/share/ovmf/OVMF.fd";
/// OVMF code for pflash (Debian package `ovmf`), used when OVMF.fd is missing.
pub const OVMF_CODE: &str = "/usr/share/OVMF/OVMF_CODE_4M.fd";
/// The variable store template that goes with [`OVMF_CODE`].
pub const OVMF_VARS: &str = "/usr/share/OVMF/OVMF_VARS_4M.fd";

/// SeaBIOS, the legacy PC BIOS (Debian package `seabios`), for [`Firmware::seabios`].
pub const SEABIOS: &str = "/usr/share/seabios/bios-256k.bin";

/// The firmware a VM boots: UEFI (OVMF) unless a legacy BIOS image is named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    /// One image, loaded with `-bios`.
    Bios(PathBuf),
    /// Code and a template of the variable store, loaded as pflash; the store is copied per run.
    Pflash {
        /// The firmware code (read-only).
        code: PathBuf,
        /// The variable store to copy.
        vars: PathBuf,
    },
}

impl Firmware {
    /// `explicit` if given (its files must exist), else Debian's OVMF.
    pub fn find(explicit: Option<&Firmware>) -> Result<Firmware, RunError> {
        if let Some(f) = explicit {
            let files = match f {
                Firmware::Bios(p) => vec![p],
                Firmware::Pflash { code, vars } => vec![code, vars],
            };
            if let Some(missing) = files.iter().find(|p| !p.is_file()) {
                return Err(RunError::Firmware {
                    why: format!("{} does not exist", missing.display()),
                });
            }
            return Ok(f.clone());
        }
        if Path::new(OVMF_BIOS).is_file() {
            return Ok(Firmware::Bios(OVMF_BIOS.into()));
        }
        if Path::new(OVMF_CODE).is_file() && Path::new(OVMF_VARS).is_file() {
            return Ok(Firmware::Pflash {
                code: OVMF_CODE.into(),
                vars: OVMF_VARS.into(),
            });
        }
        Err(RunError::Firmware {
            why: format!(
                "neither {OVMF_BIOS} nor {OVMF_CODE} exists: install the Debian package ovmf"
            ),
        })
    }

    /// SeaBIOS, to boot an image the legacy-BIOS way (its MBR boot code); fails naming the
    /// package when it is not installed.
    pub fn seabios() -> Result<Firmware, RunError> {
        Firmware::find(Some(&Firmware::Bios(SEABIOS.into()))).map_err(|_| RunError::Firmware {
            why: format!("{SEABIOS} does not exist: install the Debian package seabios"),
        })
    }

    /// The file the KVM probe boots (the code image for pflash).
    pub fn probe_image(&self) -> &Path {
        match self {
            Firmware::Bios(p) => p,
            Firmware::Pflash { code, .. } => code,
        }
    }
}

/// How the console is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Console {
    /// Serial on stdout only, no display, no monitor, exit on reboot.
    Headless,
    /// `-nographic`: serial and monitor multiplexed on the terminal.
    Interactive,
}

/// A QEMU invocation and the temporary files it needs while it runs.
pub struct Invocation {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    _scratch: Option<tempfile::TempDir>,
}

impl Invocation {
    /// The command line as one string, for logs.
    pub fn display(&self) -> String {
        let mut s = self.program.display().to_string();
        for a in &self.args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }
}

/// Everything about the VM decided before QEMU starts.
pub struct Machine {
    /// How the image is attached.
    pub kind: ImageKind,
    /// The UEFI firmware.
    pub firmware: Firmware,
    /// KVM or TCG.
    pub accel: AccelChoice,
    /// A running software TPM, if asked for.
    pub tpm: Option<Swtpm>,
}

/// Builds the invocation. `snapshot` keeps the image unmodified (writes go to a temporary
/// overlay).
pub fn invocation(
    image: &Path,
    machine: &Machine,
    opts: &RunOptions,
    console: Console,
    snapshot: bool,
) -> Result<Invocation, RunError> {
    let Machine {
        kind,
        firmware,
        accel,
        tpm,
    } = machine;
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &[&str]| args.extend(a.iter().map(OsString::from));
    push(&["-machine", &format!("q35,accel={}", accel.qemu_name())]);
    if accel.qemu_name() == "kvm" {
        push(&["-cpu", "host"]);
    }
    push(&[
        "-m",
        &opts.memory_mib.to_string(),
        "-smp",
        &opts.cpus.to_string(),
    ]);
    let mut scratch = None;
    match firmware {
        Firmware::Bios(p) => {
            args.push("-bios".into());
            args.push(p.into());
        }
        Firmware::Pflash { code, vars } => {
            let dir = tempfile::Builder::new()
                .prefix("evebuild-ovmf")
                .tempdir()
                .map_err(|source| RunError::Io {
                    what: "a temporary directory for the OVMF variable store".into(),
                    source,
                })?;
            let copy = dir.path().join("OVMF_VARS.fd");
            std::fs::copy(vars, &copy).map_err(|source| RunError::Io {
                what: format!("copying {} to {}", vars.display(), copy.display()),
                source,
            })?;
            args.push("-drive".into());
            args.push(drive_arg(
                "if=pflash,format=raw,readonly=on,file=",
                code,
                "",
            ));
            args.push("-drive".into());
            args.push(drive_arg("if=pflash,format=raw,file=", &copy, ""));
            scratch = Some(dir);
        }
    }
    let bus = match opts.bus {
        DiskBus::Virtio => "virtio",
        DiskBus::Ahci => "ide",
    };
    let snap = if snapshot { ",snapshot=on" } else { "" };
    args.push("-drive".into());
    args.push(match kind {
        ImageKind::Disk { format } => {
            drive_arg("file=", image, &format!(",format={format},if={bus}{snap}"))
        }
        ImageKind::Iso => drive_arg("file=", image, ",format=raw,if=ide,media=cdrom,readonly=on"),
    });
    for disk in &opts.extra_disks {
        let ImageKind::Disk { format } = ImageKind::detect(disk)? else {
            return Err(RunError::NotBootable {
                path: disk.clone(),
                why: "an extra disk must be a disk image, not an ISO".into(),
            });
        };
        args.push("-drive".into());
        args.push(drive_arg(
            "file=",
            disk,
            &format!(",format={format},if={bus}{snap}"),
        ));
    }
    if let Some(tpm) = tpm {
        args.extend(tpm.qemu_args());
    }
    let mut push = |a: &[&str]| args.extend(a.iter().map(OsString::from));
    if opts.network {
        push(&["-nic", "user,model=virtio-net-pci"]);
    } else {
        push(&["-nic", "none"]);
    }
    match console {
        Console::Headless => push(&[
            "-display",
            "none",
            "-serial",
            "stdio",
            "-monitor",
            "none",
            "-no-reboot",
        ]),
        Console::Interactive => push(&["-nographic"]),
    }
    Ok(Invocation {
        program: opts.qemu.clone(),
        args,
        _scratch: scratch,
    })
}

/// `prefix` + `path` (commas doubled, as QEMU's option syntax wants) + `suffix`.
fn drive_arg(prefix: &str, path: &Path, suffix: &str) -> OsString {
    let escaped = path.to_string_lossy().replace(',', ",,");
    OsString::from(format!("{prefix}{escaped}{suffix}"))
}
