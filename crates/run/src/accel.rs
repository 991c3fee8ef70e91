//! # Choosing QEMU's accelerator
//!
//! KVM when it works, TCG (plain emulation) otherwise. "Works" is tested, not assumed: a
//! `/dev/kvm` that opens is not enough — nested KVM variants accept the open and then fail on
//! OVMF's first instructions ("KVM internal error … emulation failure"). The probe starts
//! OVMF under KVM for up to [`PROBE_TIME`] and looks for that failure; its answer is kept for
//! the rest of the process.

use crate::RunError;
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, Instant};

/// The accelerator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Accel {
    /// KVM if the probe says it works, else TCG.
    #[default]
    Auto,
    /// KVM, without probing (fails at boot if KVM does not work).
    Kvm,
    /// TCG, plain emulation: slow, works everywhere.
    Tcg,
}

impl std::str::FromStr for Accel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Accel::Auto),
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            _ => Err(format!("unknown accelerator {s:?}: use auto, kvm or tcg")),
        }
    }
}

/// The accelerator a boot uses, and why when it is not the one asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelChoice {
    /// [`Accel::Kvm`] or [`Accel::Tcg`].
    pub accel: Accel,
    /// Set when `auto` fell back to TCG: the reason, for the user.
    pub note: Option<String>,
}

impl AccelChoice {
    /// QEMU's name (`-machine accel=`).
    pub fn qemu_name(&self) -> &'static str {
        match self.accel {
            Accel::Kvm => "kvm",
            _ => "tcg",
        }
    }
}

/// How long the KVM probe lets OVMF run before it believes KVM works.
pub const PROBE_TIME: Duration = Duration::from_secs(2);

/// Messages QEMU prints when KVM cannot run the guest.
const KVM_FAILURES: &[&str] = &[
    "KVM internal error",
    "failed to initialize kvm",
    "Could not access KVM kernel module",
    "emulation failure",
];

/// Resolves `requested` to KVM or TCG; `auto` probes KVM with `qemu` and the OVMF image
/// `bios` (once per process).
pub fn resolve_accel(requested: Accel, qemu: &Path, bios: &Path) -> Result<AccelChoice, RunError> {
    match requested {
        Accel::Kvm => {
            kvm_device_usable().map_err(|why| RunError::Kvm { why })?;
            Ok(AccelChoice {
                accel: Accel::Kvm,
                note: None,
            })
        }
        Accel::Tcg => Ok(AccelChoice {
            accel: Accel::Tcg,
            note: None,
        }),
        Accel::Auto => {
            static PROBED: Mutex<Option<Result<(), String>>> = Mutex::new(None);
            let mut probed = PROBED.lock().unwrap_or_else(|p| p.into_inner());
            let verdict = probed
                .get_or_insert_with(|| kvm_device_usable().and_then(|()| probe_kvm(qemu, bios)))
                .clone();
            Ok(match verdict {
                Ok(()) => AccelChoice {
                    accel: Accel::Kvm,
                    note: None,
                },
                Err(why) => AccelChoice {
                    accel: Accel::Tcg,
                    note: Some(format!(
                        "KVM is not usable ({why}); using TCG, which is slower"
                    )),
                },
            })
        }
    }
}

/// Whether /dev/kvm exists and this user may open it.
fn kvm_device_usable() -> Result<(), String> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .map(drop)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => "there is no /dev/kvm".to_string(),
            std::io::ErrorKind::PermissionDenied => {
                "/dev/kvm: permission denied (add the user to the kvm group)".to_string()
            }
            _ => format!("/dev/kvm: {e}"),
        })
}

/// Runs OVMF under KVM briefly; Err with QEMU's complaint if it fails.
fn probe_kvm(qemu: &Path, bios: &Path) -> Result<(), String> {
    let mut child = Command::new(qemu)
        .args(["-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256"])
        .args(["-display", "none", "-serial", "none", "-monitor", "none"])
        .args(["-nic", "none", "-no-reboot", "-bios"])
        .arg(bios)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", qemu.display()))?;
    let mut stderr = child.stderr.take().expect("piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        let mut text = String::new();
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if KVM_FAILURES.iter().any(|f| text.contains(f)) {
                let _ = tx.send(text.clone());
            }
        }
    });
    let started = Instant::now();
    let mut result = Ok(());
    while started.elapsed() < PROBE_TIME {
        if let Ok(text) = rx.recv_timeout(Duration::from_millis(50)) {
            let line = text
                .lines()
                .find(|l| KVM_FAILURES.iter().any(|f| l.contains(f)))
                .unwrap_or("KVM failed")
                .trim()
                .to_string();
            result = Err(format!("OVMF under KVM: {line}"));
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            if !status.success() {
                result = Err(format!("QEMU with KVM exited with {status}"));
            }
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_cli_words() {
        assert_eq!("kvm".parse::<Accel>(), Ok(Accel::Kvm));
        assert_eq!("tcg".parse::<Accel>(), Ok(Accel::Tcg));
        assert_eq!("auto".parse::<Accel>(), Ok(Accel::Auto));
        assert!(
            "hvf"
                .parse::<Accel>()
                .unwrap_err()
                .contains("auto, kvm or tcg")
        );
    }

    #[test]
    fn tcg_is_taken_as_asked() {
        let c = resolve_accel(Accel::Tcg, Path::new("/nonexistent"), Path::new("/x")).unwrap();
        assert_eq!((c.accel, c.qemu_name(), c.note), (Accel::Tcg, "tcg", None));
    }
}
