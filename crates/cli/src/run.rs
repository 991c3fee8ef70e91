//! Dispatch: turns parsed arguments into an engine request and renders the result.

use crate::args::{Cli, Command, Global, PkgCommand};
use anyhow::{Context, Result};
use evebuild::progress::{Outcome, Progress};
use evebuild::session::{Request, Summary};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
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
        Some(Command::Yml { image, words }) => {
            let (knobs, _) = split_words(&words);
            let req = request(&cli.global, cwd, knobs, Vec::new());
            print!("{}", evebuild::session::resolved_yml(&req, &image)?);
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
                println!("{tag}");
            }
            Ok(())
        }
        Some(Command::Pkg(PkgCommand::Build { dirs })) => {
            let goals = dirs
                .iter()
                .map(|d| format!("pkg/{}", d.file_name().unwrap_or_default().to_string_lossy()))
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

/// Splits make-style words into knob assignments and targets.
fn split_words(words: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut knobs = BTreeMap::new();
    let mut goals = Vec::new();
    for w in words {
        match w.split_once('=') {
            Some((k, v))
                if !k.is_empty()
                    && k.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') =>
            {
                knobs.insert(k.to_string(), v.to_string());
            }
            _ => goals.push(w.clone()),
        }
    }
    (knobs, goals)
}

fn request(g: &Global, cwd: std::path::PathBuf, mut knobs: BTreeMap<String, String>, goals: Vec<String>) -> Request {
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
    }
}

fn print_summary(s: &Summary) {
    for line in &s.printed {
        println!("{line}");
    }
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
            println!("{}  {}  {}  ({state})", a.path.display(), human(a.size), a.sha256);
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
    if u == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[u]) }
}

/// Progress bars on stderr (hidden when not a terminal or with -q).
struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    quiet: bool,
}

impl Bars {
    fn new(quiet: bool) -> Self {
        Bars {
            multi: MultiProgress::new(),
            bars: Mutex::new(HashMap::new()),
            quiet,
        }
    }

    fn clear(&self) {
        let _ = self.multi.clear();
    }
}

impl Progress for Bars {
    fn start(&self, step: &str, total: Option<u64>) {
        if self.quiet {
            return;
        }
        let bar = match total {
            Some(t) => ProgressBar::new(t).with_style(
                ProgressStyle::with_template("{spinner} {msg:<28} [{bar:30}] {bytes}/{total_bytes} {eta}")
                    .expect("valid template")
                    .progress_chars("=> "),
            ),
            None => ProgressBar::new_spinner()
                .with_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template")),
        };
        let bar = self.multi.add(bar);
        bar.set_message(step.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        self.bars.lock().expect("bars").insert(step.to_string(), bar);
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
        if !self.quiet {
            let what = match outcome {
                Outcome::Built => "done",
                Outcome::UpToDate => "up to date",
            };
            let _ = self.multi.println(format!("  {step}: {what}"));
        }
    }

    fn note(&self, message: &str) {
        if !self.quiet {
            let _ = self.multi.println(message);
        }
    }
}
