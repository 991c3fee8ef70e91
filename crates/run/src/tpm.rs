//! # A software TPM for the VM
//!
//! Starts `swtpm` (TPM 2.0) with its state in a temporary directory, for QEMU's `tpm-tis`
//! device. Every boot gets a fresh TPM; nothing is kept between runs. swtpm exits when QEMU
//! closes its socket, and is killed when this handle is dropped.

use crate::RunError;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The swtpm program.
const SWTPM: &str = "swtpm";
/// How long swtpm gets to create its socket.
const STARTUP: Duration = Duration::from_secs(5);

/// A running swtpm.
pub struct Swtpm {
    child: Child,
    socket: PathBuf,
    _state: tempfile::TempDir,
}

impl Swtpm {
    /// Starts swtpm and waits for its control socket.
    pub fn start() -> Result<Swtpm, RunError> {
        let state = tempfile::Builder::new()
            .prefix("evebuild-swtpm")
            .tempdir()
            .map_err(|source| RunError::Io {
                what: "a temporary directory for swtpm".into(),
                source,
            })?;
        let socket = state.path().join("swtpm.sock");
        let mut ctrl = OsString::from("type=unixio,path=");
        ctrl.push(&socket);
        let mut dir = OsString::from("dir=");
        dir.push(state.path());
        let child = Command::new(SWTPM)
            .args(["socket", "--tpm2", "--terminate", "--tpmstate"])
            .arg(dir)
            .arg("--ctrl")
            .arg(ctrl)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => RunError::TpmMissing,
                _ => RunError::Spawn {
                    program: SWTPM.into(),
                    source: e,
                },
            })?;
        let mut tpm = Swtpm {
            child,
            socket,
            _state: state,
        };
        let started = Instant::now();
        while !tpm.socket.exists() {
            if let Ok(Some(status)) = tpm.child.try_wait() {
                return Err(RunError::Tpm {
                    why: format!("swtpm exited with {status} before creating its socket"),
                });
            }
            if started.elapsed() > STARTUP {
                return Err(RunError::Tpm {
                    why: format!("swtpm made no socket in {}s", STARTUP.as_secs()),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(tpm)
    }

    /// QEMU arguments that attach this TPM as a TIS device.
    pub fn qemu_args(&self) -> Vec<OsString> {
        let mut chardev = OsString::from("socket,id=chrtpm,path=");
        chardev.push(&self.socket);
        vec![
            "-chardev".into(),
            chardev,
            "-tpmdev".into(),
            "emulator,id=tpm0,chardev=chrtpm".into(),
            "-device".into(),
            "tpm-tis,tpmdev=tpm0".into(),
        ]
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
