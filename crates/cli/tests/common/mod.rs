//! Shared harness of the end-to-end tests: a private copy of the bundled example in its own
//! git repository, an isolated image store and home, a fixed SOURCE_DATE_EPOCH, the evebuild
//! binary, and the real tools that read its artifacts.

#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[allow(unused_imports)]
pub use evebuild_testkit::{Registry, run, sha256sum, tool};

/// The time stamped into test artifacts.
pub const EPOCH: &str = "1700000000";

/// The bundled example in the evebuild checkout.
pub fn example_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello-eve")
}

/// A copy of the example in a fresh git repository, with its own store and home.
pub struct Project {
    /// Keeps the temporary directory alive.
    pub tmp: tempfile::TempDir,
    /// The project root (a git repository).
    pub root: PathBuf,
    /// The image store.
    pub cache: PathBuf,
    /// HOME for the runs.
    pub home: PathBuf,
}

impl Project {
    /// Copies the example (without outputs or boot-kit files) and commits it.
    pub fn new() -> Project {
        Self::copy(false)
    }

    /// Copies the example with its boot kit (made by scripts/boot-kit.sh, which the test
    /// command runs) and commits it.
    pub fn with_boot_kit() -> Project {
        let kernel = example_source().join("pkg/kernel/kit/kernel");
        assert!(
            kernel.is_file(),
            "{} is missing: run ./scripts/boot-kit.sh (./scripts/test.sh does) to make the boot kit",
            kernel.display()
        );
        Self::copy(true)
    }

    fn copy(with_kit: bool) -> Project {
        let tmp = tempfile::tempdir().expect("temp dir");
        let root = tmp.path().join("eve");
        copy_tree(&example_source(), &root, with_kit);
        let p = Project {
            cache: tmp.path().join("cache"),
            home: tmp.path().join("home"),
            root,
            tmp,
        };
        fs::create_dir_all(&p.home).unwrap();
        p.git(&["init", "-q", "-b", "master"]);
        p.commit("example");
        p
    }

    /// Runs git in the project with a fixed identity and dates.
    pub fn git(&self, args: &[&str]) -> Output {
        let out = Command::new("git")
            .arg("-C")
            .arg(&self.root)
            .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
            .args(args)
            .env("GIT_AUTHOR_DATE", "@1700000000 +0000")
            .env("GIT_COMMITTER_DATE", "@1700000000 +0000")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Commits everything.
    pub fn commit(&self, msg: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "-m", msg]);
    }

    /// The evebuild command for this project (store, home and epoch isolated).
    pub fn evebuild(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_evebuild"));
        c.current_dir(&self.root)
            .env("LINUXKIT_CACHE", &self.cache)
            .env("HOME", &self.home)
            .env("SOURCE_DATE_EPOCH", EPOCH)
            .env_remove("ZARCH")
            .env_remove("HV")
            .env_remove("PLATFORM")
            .env_remove("ROOTFS_VERSION");
        c
    }

    /// Runs evebuild with `args`; panics with its output unless it succeeds.
    pub fn run(&self, args: &[&str]) -> Run {
        let r = Run::of(self.evebuild().args(args));
        assert!(r.ok(), "evebuild {args:?} failed:\n{}", r.text());
        r
    }

    /// Runs evebuild with `args`, expecting it to fail.
    pub fn fail(&self, args: &[&str]) -> Run {
        let r = Run::of(self.evebuild().args(args));
        assert!(
            !r.ok(),
            "evebuild {args:?} should have failed:\n{}",
            r.text()
        );
        r
    }

    /// `dist/amd64/<version>` after a build with ROOTFS_VERSION given.
    pub fn dist(&self, version: &str) -> PathBuf {
        self.root.join("dist/amd64").join(version)
    }

    /// Writes a file below the project root.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) {
        let p = self.root.join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, contents).unwrap();
    }
}

/// A finished run.
pub struct Run {
    /// Its output.
    pub out: Output,
}

impl Run {
    fn of(cmd: &mut Command) -> Run {
        Run {
            out: cmd.output().expect("evebuild runs"),
        }
    }

    /// Exit status 0.
    pub fn ok(&self) -> bool {
        self.out.status.success()
    }

    /// Standard output.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }

    /// Standard error.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }

    /// Both, for messages.
    pub fn text(&self) -> String {
        format!("--- stdout\n{}--- stderr\n{}", self.stdout(), self.stderr())
    }

    /// The artifact lines (`path size sha256 (state)`) as (path, sha256, state).
    pub fn artifacts(&self) -> Vec<(PathBuf, String, String)> {
        self.stdout()
            .lines()
            .filter(|l| l.starts_with('/'))
            .map(|l| {
                let f: Vec<&str> = l.split("  ").collect();
                (
                    PathBuf::from(f[0]),
                    f[2].to_string(),
                    f[3].trim_matches(['(', ')']).to_string(),
                )
            })
            .collect()
    }
}

/// Runs an oracle tool that must succeed; returns its standard output.
pub fn tool_ok(name: &str, args: &[&str]) -> String {
    run(Command::new(tool(name, package_of(name))).args(args))
}

fn package_of(tool: &str) -> &'static str {
    match tool {
        "unsquashfs" | "mksquashfs" => "squashfs-tools",
        "fsck.fat" | "mkfs.vfat" => "dosfstools",
        "mdir" | "mtype" | "mcopy" | "minfo" => "mtools",
        "bsdtar" => "libarchive-tools",
        "sgdisk" => "gdisk",
        "qemu-img" => "qemu-utils",
        "xorriso" => "xorriso",
        "e2fsck" | "debugfs" => "e2fsprogs",
        _ => "see scripts/install-test-deps.sh",
    }
}

/// Copies a directory tree, leaving out build outputs and, unless `kit`, boot-kit files.
pub fn copy_tree(from: &Path, to: &Path, kit: bool) {
    fs::create_dir_all(to).unwrap();
    for e in fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        let n = name.to_string_lossy();
        if n == "dist" || (n == "out" && from.ends_with("images")) {
            continue;
        }
        let src = e.path();
        let dst = to.join(&name);
        let ft = e.file_type().unwrap();
        if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if ft.is_dir() {
            if !kit && from.file_name().is_some_and(|f| f == "kit") {
                continue;
            }
            copy_tree(&src, &dst, kit);
        } else if kit || !(from.ends_with("kit") && n != "README.md") {
            fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Partition `n` of a GPT disk image as (first byte, length), read with sgdisk.
pub fn partition(disk: &Path, n: u32) -> (u64, u64) {
    let info = tool_ok("sgdisk", &["-i", &n.to_string(), disk.to_str().unwrap()]);
    let field = |name: &str| -> u64 {
        info.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in sgdisk -i {n}:\n{info}"))
    };
    let first = field("First sector");
    let last = field("Last sector");
    (first * 512, (last - first + 1) * 512)
}

/// Copies `len` bytes at `offset` of `disk` into a new file.
pub fn extract(disk: &Path, offset: u64, len: u64, out: &Path) {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = fs::File::open(disk).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    let mut buf = vec![0; len as usize];
    f.read_exact(&mut buf).unwrap();
    fs::write(out, buf).unwrap();
}
