//! # Booting EVE images under QEMU
//!
//! What `evebuild run` and `evebuild verify-boot` do, in the manner of EVE's `make run-live`:
//! start `qemu-system-x86_64` on a q35 machine with OVMF (UEFI) and an image — a disk (raw,
//! qcow2, vdi, vmdk, vhd(x), parallels) or an ISO — with the serial console on standard I/O.
//!
//! - [`run`]: interactive; the console is the terminal (Ctrl-A X quits QEMU).
//! - [`verify_boot`]: headless; waits for a pattern on the serial console, stops QEMU as soon
//!   as it appears (or on a kernel panic, a timeout, or QEMU exiting — a reboot ends the run),
//!   and keeps the console log next to the image (`<image>.boot.log`). The image itself is
//!   never written (QEMU's snapshot mode).
//! - [`resolve_accel`]: KVM when it really works, else TCG with a note saying why.
//! - [`kit_status`]: whether the bundled example builds with its placeholders or a real kit.
//!
//! `--tpm` runs a fresh software TPM (swtpm) per boot. Not handled: other architectures than
//! x86_64, Secure Boot, VirtualBox/Parallels/GCP (`run-*` targets of EVE other than QEMU),
//! keeping TPM or UEFI variable state between runs.

pub mod accel;
pub mod console;
pub mod format;
pub mod image;
pub mod kit;
pub mod qemu;
pub mod tpm;

pub use accel::{Accel, AccelChoice, resolve_accel};
pub use image::ImageKind;
pub use kit::{KitStatus, kit_status};
pub use qemu::Firmware;

use console::{LineSplitter, is_kernel_panic};
use qemu::{Console, Machine, invocation};
use regex::Regex;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How the image's disk is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiskBus {
    /// virtio-blk (`/dev/vda` in the guest), as EVE's `make run` does.
    #[default]
    Virtio,
    /// SATA on q35's AHCI controller (`/dev/sda`).
    Ahci,
}

/// How to start the VM.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// KVM, TCG or auto (default).
    pub accel: Accel,
    /// Guest memory in MiB (default 2048).
    pub memory_mib: u32,
    /// Virtual CPUs (default 1).
    pub cpus: u32,
    /// Attach a fresh software TPM 2.0 (needs swtpm).
    pub tpm: bool,
    /// Bus of the image's disk (ignored for ISOs, which are CD-ROMs on AHCI).
    pub bus: DiskBus,
    /// User-mode networking with a virtio NIC (default on); off gives the VM no NIC, so
    /// the firmware does not try network boot either.
    pub network: bool,
    /// UEFI firmware (default: Debian's OVMF).
    pub firmware: Option<Firmware>,
    /// The QEMU program (default `qemu-system-x86_64`).
    pub qemu: PathBuf,
    /// More disks, e.g. the target disk an installer writes to.
    pub extra_disks: Vec<PathBuf>,
    /// [`run`] only: keep the images unmodified (writes go to a temporary overlay).
    /// [`verify_boot`] always does.
    pub snapshot: bool,
    /// [`verify_boot`] only: where to keep the console log (default [`boot_log_path`]).
    pub log: Option<PathBuf>,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            accel: Accel::Auto,
            memory_mib: 2048,
            cpus: 1,
            tpm: false,
            bus: DiskBus::Virtio,
            network: true,
            firmware: None,
            qemu: PathBuf::from("qemu-system-x86_64"),
            extra_disks: Vec::new(),
            snapshot: false,
            log: None,
        }
    }
}

/// Why a VM could not be run (as opposed to a boot that ran and failed: see [`Verdict`]).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The image could not be read.
    #[error("cannot read image {path}: {source}")]
    Image {
        /// The image.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not something QEMU can boot.
    #[error("{path} is not a bootable image: {why}")]
    NotBootable {
        /// The file.
        path: PathBuf,
        /// Why.
        why: String,
    },
    /// No UEFI firmware.
    #[error("no UEFI firmware: {why}")]
    Firmware {
        /// Which files are missing.
        why: String,
    },
    /// QEMU is not installed.
    #[error(
        "{program} not found: install the Debian package qemu-system-x86 \
         (from bookworm-backports next to qemu-utils 10, see scripts/install-test-deps.sh)"
    )]
    QemuMissing {
        /// The program looked for.
        program: PathBuf,
    },
    /// `--accel kvm` on a machine where KVM cannot be opened.
    #[error("KVM was asked for but {why}; use --accel tcg (or auto)")]
    Kvm {
        /// What is wrong with /dev/kvm.
        why: String,
    },
    /// `--tpm` without swtpm.
    #[error("--tpm needs swtpm: install the Debian packages swtpm and swtpm-tools")]
    TpmMissing,
    /// swtpm did not come up.
    #[error("the software TPM did not start: {why}")]
    Tpm {
        /// What happened.
        why: String,
    },
    /// A program could not be started.
    #[error("cannot start {program}: {source}")]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// QEMU refused to start (bad image, bad option) before the guest printed anything.
    #[error("QEMU failed ({status}) before the guest printed anything:\n{stderr}")]
    QemuFailed {
        /// Its exit status.
        status: ExitStatus,
        /// What it printed on stderr.
        stderr: String,
    },
    /// Another I/O error (log file, temporary files).
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// How a headless boot ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The pattern appeared on the console.
    Matched {
        /// The console line that matched.
        line: String,
        /// Seconds from QEMU's start.
        seconds: f64,
    },
    /// The kernel panicked.
    Panic {
        /// The panic line.
        line: String,
        /// Seconds from QEMU's start.
        seconds: f64,
    },
    /// QEMU exited (guest powered off or rebooted) without the pattern appearing.
    Exited {
        /// QEMU's exit code, if it exited normally.
        code: Option<i32>,
        /// The last non-empty console line.
        last_line: Option<String>,
        /// Seconds from QEMU's start.
        seconds: f64,
    },
    /// The pattern did not appear in time; QEMU was stopped.
    Timeout {
        /// The timeout.
        seconds: f64,
        /// The last non-empty console line.
        last_line: Option<String>,
    },
}

impl Verdict {
    /// True for [`Verdict::Matched`].
    pub fn is_match(&self) -> bool {
        matches!(self, Verdict::Matched { .. })
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let last = |l: &Option<String>| match l {
            Some(l) => format!("; last console line: {l}"),
            None => "; the console stayed silent".to_string(),
        };
        match self {
            Verdict::Matched { line, seconds } => write!(f, "booted in {seconds:.1}s: {line}"),
            Verdict::Panic { line, seconds } => {
                write!(f, "kernel panic after {seconds:.1}s: {line}")
            }
            Verdict::Exited {
                code,
                last_line,
                seconds,
            } => write!(
                f,
                "the VM stopped after {seconds:.1}s (QEMU exit {}) without the expected line{}",
                code.map_or("by signal".to_string(), |c| c.to_string()),
                last(last_line)
            ),
            Verdict::Timeout { seconds, last_line } => write!(
                f,
                "the expected line did not appear within {seconds:.0}s{}",
                last(last_line)
            ),
        }
    }
}

/// The result of [`verify_boot`].
#[derive(Debug, Clone)]
pub struct BootReport {
    /// How the boot ended.
    pub verdict: Verdict,
    /// The console log.
    pub log: PathBuf,
    /// The accelerator used (with the reason if `auto` fell back to TCG).
    pub accel: AccelChoice,
}

/// The result of [`run`].
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// QEMU's exit status.
    pub status: ExitStatus,
    /// The accelerator used.
    pub accel: AccelChoice,
}

/// Where [`verify_boot`] keeps the console log of `image`: `<image>.boot.log`.
pub fn boot_log_path(image: &Path) -> PathBuf {
    let mut name = image.file_name().unwrap_or_default().to_os_string();
    name.push(".boot.log");
    image.with_file_name(name)
}

/// Decides the machine for `image` and starts its TPM.
fn prepare(image: &Path, opts: &RunOptions) -> Result<Machine, RunError> {
    if !image.is_file() {
        return Err(RunError::Image {
            path: image.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let kind = ImageKind::detect(image)?;
    let firmware = Firmware::find(opts.firmware.as_ref())?;
    which(&opts.qemu)?;
    let accel = resolve_accel(opts.accel, &opts.qemu, firmware.probe_image())?;
    let tpm = if opts.tpm {
        Some(tpm::Swtpm::start()?)
    } else {
        None
    };
    Ok(Machine {
        kind,
        firmware,
        accel,
        tpm,
    })
}

/// Fails with [`RunError::QemuMissing`] unless `program` can be found.
fn which(program: &Path) -> Result<(), RunError> {
    let found = if program.components().count() > 1 {
        program.is_file()
    } else {
        std::env::var_os("PATH")
            .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
            .unwrap_or(false)
    };
    if found {
        Ok(())
    } else {
        Err(RunError::QemuMissing {
            program: program.to_path_buf(),
        })
    }
}

/// Boots `image` with the console on this terminal and waits for QEMU to end.
pub fn run(image: &Path, opts: &RunOptions) -> Result<RunOutcome, RunError> {
    let machine = prepare(image, opts)?;
    let inv = invocation(image, &machine, opts, Console::Interactive, opts.snapshot)?;
    let status = Command::new(&inv.program)
        .args(&inv.args)
        .status()
        .map_err(|source| RunError::Spawn {
            program: inv.program.clone(),
            source,
        })?;
    Ok(RunOutcome {
        status,
        accel: machine.accel,
    })
}

/// Boots `image` headless and waits up to `timeout` for a console line matching `expect`.
/// See [`verify_boot_with`] to follow the console as it goes.
pub fn verify_boot(
    image: &Path,
    expect: &Regex,
    timeout: Duration,
    opts: &RunOptions,
) -> Result<BootReport, RunError> {
    verify_boot_with(image, expect, timeout, opts, &mut |_, _| {})
}

/// What the reader threads report.
enum Event {
    Console(String),
    ConsoleClosed,
    Qemu(String),
}

/// [`verify_boot`], calling `on_line(seconds, line)` for every console line as it arrives.
pub fn verify_boot_with(
    image: &Path,
    expect: &Regex,
    timeout: Duration,
    opts: &RunOptions,
    on_line: &mut dyn FnMut(f64, &str),
) -> Result<BootReport, RunError> {
    let machine = prepare(image, opts)?;
    let inv = invocation(image, &machine, opts, Console::Headless, true)?;
    let log_path = opts.log.clone().unwrap_or_else(|| boot_log_path(image));
    let mut log = BootLog::create(&log_path)?;
    log.comment(&format!("evebuild verify-boot, expecting /{expect}/"))?;
    log.comment(&inv.display())?;
    if let Some(note) = &machine.accel.note {
        log.comment(note)?;
    }

    let started = Instant::now();
    let mut child = Command::new(&inv.program)
        .args(&inv.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| RunError::Spawn {
            program: inv.program.clone(),
            source,
        })?;
    let (tx, rx) = mpsc::channel();
    let mut stdout = child.stdout.take().expect("piped");
    let console_tx = tx.clone();
    std::thread::spawn(move || {
        let mut splitter = LineSplitter::default();
        let mut buf = [0u8; 8192];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 {
                break;
            }
            for line in splitter.push(&buf[..n]) {
                let _ = console_tx.send(Event::Console(line));
            }
        }
        if let Some(line) = splitter.finish() {
            let _ = console_tx.send(Event::Console(line));
        }
        let _ = console_tx.send(Event::ConsoleClosed);
    });
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        let mut text = String::new();
        let mut reader = std::io::BufReader::new(stderr);
        while std::io::BufRead::read_line(&mut reader, &mut text).is_ok_and(|n| n > 0) {
            let _ = tx.send(Event::Qemu(text.trim_end().to_string()));
            text.clear();
        }
    });

    let mut last_line: Option<String> = None;
    let mut console_lines = 0usize;
    let mut stderr_text = String::new();
    let verdict = loop {
        let left = timeout.saturating_sub(started.elapsed());
        let event = match rx.recv_timeout(left) {
            Ok(e) => e,
            Err(_) => {
                stop(&mut child);
                break Verdict::Timeout {
                    seconds: timeout.as_secs_f64(),
                    last_line,
                };
            }
        };
        let seconds = started.elapsed().as_secs_f64();
        match event {
            Event::Console(line) => {
                log.line(seconds, &line)?;
                on_line(seconds, &line);
                console_lines += 1;
                if expect.is_match(&line) {
                    stop(&mut child);
                    break Verdict::Matched { line, seconds };
                }
                if is_kernel_panic(&line) {
                    stop(&mut child);
                    break Verdict::Panic { line, seconds };
                }
                if !line.is_empty() {
                    last_line = Some(line);
                }
            }
            Event::Qemu(line) => {
                log.line(seconds, &format!("qemu: {line}"))?;
                stderr_text.push_str(&line);
                stderr_text.push('\n');
            }
            Event::ConsoleClosed => {
                let status = child.wait().map_err(|source| RunError::Io {
                    what: "waiting for QEMU".into(),
                    source,
                })?;
                // Let the stderr reader deliver QEMU's last words.
                while let Ok(Event::Qemu(line)) = rx.recv_timeout(Duration::from_millis(200)) {
                    log.line(seconds, &format!("qemu: {line}"))?;
                    stderr_text.push_str(&line);
                    stderr_text.push('\n');
                }
                if console_lines == 0 && !status.success() {
                    log.comment(&format!("QEMU failed: {status}"))?;
                    log.finish()?;
                    return Err(RunError::QemuFailed {
                        status,
                        stderr: stderr_text,
                    });
                }
                break Verdict::Exited {
                    code: status.code(),
                    last_line,
                    seconds,
                };
            }
        }
    };
    log.comment(&format!("verdict: {verdict}"))?;
    let log = log.finish()?;
    Ok(BootReport {
        verdict,
        log,
        accel: machine.accel,
    })
}

/// Stops QEMU (it keeps no state worth a clean shutdown: the image is in snapshot mode).
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The console log: written to `<log>.partial` as the boot goes, renamed when it is over.
struct BootLog {
    path: PathBuf,
    partial: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
}

impl BootLog {
    fn create(path: &Path) -> Result<BootLog, RunError> {
        let mut name = path.file_name().unwrap_or_default().to_os_string();
        name.push(".partial");
        let partial = path.with_file_name(name);
        let file = std::fs::File::create(&partial).map_err(|source| RunError::Io {
            what: format!("creating the boot log {}", partial.display()),
            source,
        })?;
        Ok(BootLog {
            path: path.to_path_buf(),
            partial,
            file: std::io::BufWriter::new(file),
        })
    }

    fn write(&mut self, text: &str) -> Result<(), RunError> {
        self.file
            .write_all(text.as_bytes())
            .and_then(|()| self.file.flush())
            .map_err(|source| RunError::Io {
                what: format!("writing the boot log {}", self.partial.display()),
                source,
            })
    }

    /// A console line with the seconds since QEMU started.
    fn line(&mut self, seconds: f64, line: &str) -> Result<(), RunError> {
        self.write(&format!("{seconds:7.2} {line}\n"))
    }

    /// A line of evebuild's own.
    fn comment(&mut self, text: &str) -> Result<(), RunError> {
        self.write(&format!("# {text}\n"))
    }

    fn finish(self) -> Result<PathBuf, RunError> {
        let BootLog {
            path,
            partial,
            file,
        } = self;
        drop(file);
        std::fs::rename(&partial, &path).map_err(|source| RunError::Io {
            what: format!("renaming {} to {}", partial.display(), path.display()),
            source,
        })?;
        Ok(path)
    }
}
