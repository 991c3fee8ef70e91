//! Dispatch: turns parsed arguments into an engine request and renders the result.

use crate::args::{CacheCommand, Cli, Command, Global, PkgCommand};
use anyhow::{Context, Result};
use evebuild::cache;
use evebuild::progress::{Outcome, Progress};
use evebuild::session::{Request, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

/// Sets up logging: warnings by default, more with -v, `RUST_LOG` wins.
pub fn init_logging(g: &Global) {
    let level = match (g.quiet, g.verbose) {
        (true, _) => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .init();
}

/// Runs the command line.
pub fn run(cli: Cli) -> Result<()> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    match cli.command {
        None => {
            let (knobs, goals) = split_words(&cli.words);
            let req = request(&cli.global, cwd, knobs, goals);
            let progress = Bars::new(cli.global.quiet);
            let summary = evebuild::session::build(&req, &progress)?;
            progress.clear();
            print_summary(&summary);
            Ok(())
        }
        Some(Command::Cache(c)) => {
            let store = cache::open(cli.global.cache.as_deref())?;
            let lines = match c {
                CacheCommand::Ls => cache::ls(&store)?,
                CacheCommand::Import { archive, name } => {
                    cache::import(&store, &archive, name.as_deref())?
                }
                CacheCommand::Export {
                    reference,
                    format,
                    platform,
                    output,
                } => {
                    let format = match format.as_str() {
                        "oci" => cache::ExportFormat::Oci,
                        "docker" => cache::ExportFormat::Docker,
                        "filesystem" => cache::ExportFormat::Filesystem,
                        other => anyhow::bail!("--format {other}: use oci, docker or filesystem"),
                    };
                    let platform = platform.unwrap_or_else(|| default_platform(&cli.global));
                    cache::export(&store, &reference, format, &platform, &output)?;
                    vec![format!("wrote {}", output.display())]
                }
                CacheCommand::Rm { references } => cache::rm(&store, &references)?,
                CacheCommand::Verify => cache::verify(&store)?,
            };
            print_lines(&lines);
            Ok(())
        }
        Some(Command::Pull {
            reference,
            platform,
        }) => {
            let store = cache::open(cli.global.cache.as_deref())?;
            let platform = platform.unwrap_or_else(|| default_platform(&cli.global));
            print_lines(&cache::pull(
                &store,
                &reference,
                &platform,
                cli.global.insecure,
                cli.global.pull,
            )?);
            Ok(())
        }
        Some(Command::Push { reference, to }) => {
            let store = cache::open(cli.global.cache.as_deref())?;
            print_lines(&cache::push(
                &store,
                &reference,
                to.as_deref(),
                cli.global.insecure,
            )?);
            Ok(())
        }
        Some(Command::Diff { a, b, content }) => {
            let mode = if content {
                evebuild_diff::Mode::Content
            } else {
                evebuild_diff::Mode::Strict
            };
            match evebuild_diff::compare(&cwd.join(a), &cwd.join(b), mode) {
                Ok((diffs, unread)) => {
                    if !unread.is_empty() {
                        eprintln!(
                            "note: not compared ({}): an ext4 image does not give them",
                            unread.join(", ")
                        );
                    }
                    let lines: Vec<String> = diffs.iter().map(|d| d.to_string()).collect();
                    print_lines(&lines);
                    std::process::exit(if lines.is_empty() { 0 } else { 1 });
                }
                Err(e) => {
                    eprintln!("error: {e}");
                    std::process::exit(2);
                }
            }
        }
        Some(Command::Run { image, vm }) => {
            let path = std::path::Path::new(&image);
            let image = if path.is_file() {
                path.to_path_buf()
            } else {
                let req = request(&cli.global, cwd, BTreeMap::new(), Vec::new());
                let progress = Bars::new(cli.global.quiet);
                let built = evebuild::session::bootable_image(&req, &image, &progress)?;
                progress.clear();
                built
            };
            let opts = vm_options(&vm)?;
            eprintln!("booting {} (Ctrl-A X quits)", image.display());
            let outcome = evebuild_run::run(&image, &opts)?;
            if let Some(note) = &outcome.accel.note {
                eprintln!("{note}");
            }
            anyhow::ensure!(
                outcome.status.success(),
                "QEMU exited with {}",
                outcome.status
            );
            Ok(())
        }
        Some(Command::VerifyBoot {
            image,
            expect,
            timeout,
            vm,
        }) => {
            let pattern =
                regex::Regex::new(&expect).with_context(|| format!("--expect {expect:?}"))?;
            let mut opts = vm_options(&vm)?;
            opts.network = false;
            let verbose = cli.global.verbose > 0;
            let report = evebuild_run::verify_boot_with(
                &image,
                &pattern,
                std::time::Duration::from_secs(timeout),
                &opts,
                &mut |t, line| {
                    if verbose {
                        eprintln!("{t:7.1} {line}");
                    }
                },
            )?;
            if let Some(note) = &report.accel.note {
                eprintln!("{note}");
            }
            println!("{}", report.verdict);
            println!("console log: {}", report.log.display());
            if matches!(report.verdict, evebuild_run::Verdict::Matched { .. }) {
                Ok(())
            } else {
                std::process::exit(1);
            }
        }
        Some(Command::Yml { image, words }) => {
            let (knobs, _) = split_words(&words);
            let req = request(&cli.global, cwd, knobs, Vec::new());
            print_lines(&[evebuild::session::resolved_yml(&req, &image)?]);
            Ok(())
        }
        Some(Command::Pkg(PkgCommand::ShowTag {
            canonical,
            build_yml,
            hash,
            org,
            dirs,
        })) => {
            for dir in dirs {
                let tag = evebuild::session::show_tag(
                    &cwd.join(&dir),
                    evebuild::session::ShowTagOptions {
                        canonical,
                        build_yml: build_yml.clone(),
                        hash: hash.clone(),
                        org: org.clone(),
                    },
                )?;
                print_lines(&[tag]);
            }
            Ok(())
        }
        Some(Command::Pkg(PkgCommand::Build { dirs })) => {
            let goals = dirs
                .iter()
                .map(|d| {
                    format!(
                        "pkg/{}",
                        d.file_name().unwrap_or_default().to_string_lossy()
                    )
                })
                .collect();
            let req = request(&cli.global, cwd, BTreeMap::new(), goals);
            let progress = Bars::new(cli.global.quiet);
            let summary = evebuild::session::build(&req, &progress)?;
            progress.clear();
            print_summary(&summary);
            Ok(())
        }
    }
}

/// `linux/<ZARCH>` from --zarch or the environment, else this machine's architecture.
fn default_platform(g: &Global) -> String {
    let arch = g
        .zarch
        .clone()
        .or_else(|| std::env::var("ZARCH").ok())
        .unwrap_or_else(evebuild::context::host_arch);
    format!("linux/{arch}")
}

fn vm_options(vm: &crate::args::VmArgs) -> Result<evebuild_run::RunOptions> {
    let accel = match vm.accel.as_str() {
        "auto" => evebuild_run::Accel::Auto,
        "kvm" => evebuild_run::Accel::Kvm,
        "tcg" => evebuild_run::Accel::Tcg,
        other => anyhow::bail!("--accel {other}: use auto, kvm or tcg"),
    };
    Ok(evebuild_run::RunOptions {
        accel,
        tpm: vm.tpm,
        memory_mib: vm.memory,
        firmware: if vm.legacy_bios {
            Some(evebuild_run::Firmware::seabios()?)
        } else {
            None
        },
        ..Default::default()
    })
}

/// Splits make-style words into knob assignments and targets.
fn split_words(words: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut knobs = BTreeMap::new();
    let mut goals = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                knobs.insert(k.to_string(), v.to_string());
            }
            _ => goals.push(w.clone()),
        }
    }
    (knobs, goals)
}

fn request(
    g: &Global,
    cwd: std::path::PathBuf,
    mut knobs: BTreeMap<String, String>,
    goals: Vec<String>,
) -> Request {
    for (name, flag) in [
        ("ZARCH", &g.zarch),
        ("HV", &g.hv),
        ("PLATFORM", &g.platform),
        ("ROOTFS_VERSION", &g.rootfs_version),
        ("ROOTFS_FORMAT", &g.rootfs_format),
    ] {
        if let Some(v) = flag {
            knobs.insert(name.to_string(), v.clone());
        }
    }
    Request {
        cwd,
        project: g.directory.clone(),
        knobs,
        environment: std::env::vars().collect(),
        goals,
        dist: g.dist.clone(),
        cache: g.cache.clone(),
        dry_run: g.dry_run,
        force: g.force,
        pull: g.pull,
        offline: g.offline,
        jobs: g.jobs,
        registry: g.registry.clone(),
        push: g.push,
        insecure: g.insecure,
    }
}

/// Prints lines on stdout; a closed pipe (`evebuild cache ls | head`) ends the program quietly.
fn print_lines(lines: &[String]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for l in lines {
        let l = l.strip_suffix('\n').unwrap_or(l);
        if let Err(e) = writeln!(out, "{l}") {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            eprintln!("error: writing to standard output: {e}");
            std::process::exit(1);
        }
    }
}

fn print_summary(s: &Summary) {
    print_lines(&s.printed);
    for note in &s.notes {
        eprintln!("{note}");
    }
    if !s.artifacts.is_empty() {
        if s.artifacts.iter().all(|a| a.outcome == Outcome::UpToDate) {
            eprintln!("everything is up to date; nothing was rebuilt");
        }
        for a in &s.artifacts {
            let state = match a.outcome {
                Outcome::Built => "built",
                Outcome::UpToDate => "up to date",
            };
            println!(
                "{}  {}  {}  ({state})",
                a.path.display(),
                human(a.size),
                a.sha256
            );
        }
    }
}

fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Progress on stderr: bars on a terminal, plain lines otherwise, nothing with -q.
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
    terminal: bool,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            quiet,
            terminal: std::io::stderr().is_terminal(),
        }
    }

    /// A line above the bars (or on its own when stderr is not a terminal).
    fn line(&self, text: &str) {
        if self.quiet {
        } else if self.terminal {
            let _ = self.multi.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn start(&self, step: &str, total: Option<u64>) {
        if self.quiet || !self.terminal {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template(
                    "{spinner} {msg:<28} [{bar:30}] {bytes}/{total_bytes} {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner().with_style(
                ProgressStyle::with_template("{spinner} {msg}").expect("valid template"),
            ),
        };
        let bar = self.multi.add(bar);
        bar.set_message(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bars
            .lock()
            .expect("bars")
            .insert(step.to_string(), bar);
    }

    fn advance(&self, step: &str, done: u64) {
        if let Some(b) = self.bars.lock().expect("bars").get(step) {
            b.set_position(done);
        }
    }

    fn finish(&self, step: &str, outcome: Outcome) {
        let bar = self.bars.lock().expect("bars").remove(step);
        if let Some(b) = bar {
            b.finish_and_clear();
        }
        let what = match outcome {
            Outcome::Built => "built",
            Outcome::UpToDate => "up to date",
        };
        self.line(&format!("  {step}: {what}"));
    }

    fn note(&self, message: &str) {
        self.line(message);
    }
}
