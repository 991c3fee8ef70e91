//! Sharing one store: concurrent pulls (threads and processes), many writers of `index.json`, and
//! a pull killed with SIGKILL half-way, then repeated.
//!
//! Child processes are this test binary run again with `EVEBUILD_OCI_CHILD` set: the
//! `child_process_entry` test then performs the pull it describes and exits.

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use common::*;
use evebuild_oci::{ClientOptions, Platform, PullOptions, Reference, RegistryClient, Store, pull};

const CHILD_ENV: &str = "EVEBUILD_OCI_CHILD";

fn client() -> RegistryClient {
    RegistryClient::new(ClientOptions::default()).unwrap()
}

/// Runs inside a child process only: `EVEBUILD_OCI_CHILD=<store>|<ref>|<arch>|<ms per chunk>`.
#[test]
fn child_process_entry() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let parts: Vec<&str> = spec.split('|').collect();
    let store = Store::open(std::path::Path::new(parts[0])).unwrap();
    let name = Reference::parse(parts[1]).unwrap();
    let mut opts = PullOptions::new(Platform::linux(parts[2]));
    let delay: u64 = parts[3].parse().unwrap();
    opts.jobs = 1;
    if delay > 0 {
        opts.progress = Some(Arc::new(move |_| {
            std::thread::sleep(Duration::from_millis(delay))
        }));
    }
    pull(&store, &client(), &name, &opts).unwrap();
}

fn spawn_child(store: &Store, name: &Reference, arch: &str, delay_ms: u64) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_entry",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}|{name}|{arch}|{delay_ms}", store.root().display()),
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Pushes a local multi-arch image to the registry under `repo_tag` with our own push.
fn publish(reg: &Registry, repo_tag: &str, payload: usize) -> Reference {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let local = Reference::parse(&format!("local/{repo_tag}")).unwrap();
    write_multiarch(&store, &local, &["amd64", "arm64"], payload);
    let remote = Reference::parse(&format!("{}/{repo_tag}", reg.addr)).unwrap();
    evebuild_oci::push(&store, &client(), &local, &remote, &Default::default()).unwrap();
    remote
}

fn assert_verifies(store: &Store) {
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "store damaged: {:?}", report.damage);
}

#[test]
fn concurrent_pulls_threads_and_processes_leave_a_consistent_store() {
    let reg = Registry::start();
    let names: Vec<Reference> = (0..4)
        .map(|i| publish(&reg, &format!("conc/img{i}:1"), 200_000 + i * 1000))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // Two processes and two threads at once, plus 24 local writers tagging into the same index (28 writers of index.json at once).
    let mut children: Vec<_> = names[..2]
        .iter()
        .map(|n| spawn_child(&store, n, "amd64", 0))
        .collect();
    std::thread::scope(|s| {
        for n in &names[2..] {
            let store = &store;
            s.spawn(move || {
                pull(
                    store,
                    &client(),
                    n,
                    &PullOptions::new(Platform::linux("arm64")),
                )
                .unwrap()
            });
        }
        for i in 0..24 {
            let store = &store;
            s.spawn(move || {
                let r = Reference::parse(&format!("local/w{i}:1")).unwrap();
                write_multiarch(store, &r, &["amd64"], 100 + i);
            });
        }
    });
    for c in children.iter_mut() {
        let out = c.wait().unwrap();
        assert!(out.success(), "child pull failed");
    }
    let _ = children;
    for (i, n) in names.iter().enumerate() {
        let arch = if i < 2 { "amd64" } else { "arm64" };
        let img = store.resolve(n, &Platform::linux(arch)).unwrap();
        assert_eq!(img.platform(), Platform::linux(arch));
    }
    for i in 0..24 {
        let r = Reference::parse(&format!("local/w{i}:1")).unwrap();
        assert!(
            store.lookup(&r).unwrap().is_some(),
            "{r} lost from index.json"
        );
    }
    assert_eq!(store.list().unwrap().len(), 4 + 24 * 2);
    assert_verifies(&store);
}

#[test]
fn a_pull_killed_half_way_is_completed_by_the_next_one() {
    let reg = Registry::start();
    // Several layers of a few MB, downloaded slowly by the child so the kill lands mid-way.
    let name = publish(&reg, "kill/big:1", 3_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let mut child = spawn_child(&store, &name, "amd64", 20);
    let blobs = dir.path().join("blobs/sha256");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let temps = std::fs::read_dir(&blobs)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".tmp.")
            })
            .count();
        let partial = temps > 0
            && std::fs::read_dir(&blobs).unwrap().any(|e| {
                let e = e.unwrap();
                e.file_name().to_string_lossy().starts_with(".tmp.")
                    && e.metadata().unwrap().len() > 300_000
            });
        if partial {
            break;
        }
        assert!(
            child.try_wait().unwrap().is_none(),
            "child finished before it could be killed"
        );
        assert!(Instant::now() < deadline, "child never started downloading");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Nothing half-written is visible: every blob present hashes to its name, no name yet.
    assert!(store.lookup(&name).unwrap().is_none());
    assert_verifies(&store);
    let leftovers: Vec<_> = std::fs::read_dir(&blobs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".tmp.")
        })
        .collect();
    assert!(
        !leftovers.is_empty(),
        "the kill left no temporary file: nothing was tested"
    );

    // The repeated pull completes and verifies.
    let img = pull(
        &store,
        &client(),
        &name,
        &PullOptions::new(Platform::linux("amd64")),
    )
    .unwrap();
    assert_eq!(img.platform(), Platform::linux("amd64"));
    assert_verifies(&store);

    // The dead writer's temporaries are swept once they are old enough (their lock is free).
    let old = SystemTime::now() - Duration::from_secs(3600);
    for p in &leftovers {
        std::fs::File::options()
            .write(true)
            .open(p)
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let reopened = Store::open(dir.path()).unwrap();
    assert!(
        leftovers.iter().all(|p| !p.exists()),
        "temporaries not swept"
    );
    assert_verifies(&reopened);
}

#[test]
fn live_temporaries_are_not_swept() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    // A writer in another process holds its temp file's lock: run a child that writes slowly.
    let reg = Registry::start();
    let name = publish(&reg, "live/tmp:1", 2_000_000);
    let mut child = spawn_child(&store, &name, "amd64", 50);
    let blobs = dir.path().join("blobs/sha256");
    let deadline = Instant::now() + Duration::from_secs(60);
    let temp = loop {
        if let Some(t) = std::fs::read_dir(&blobs)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with(".tmp.")
            })
        {
            break t;
        }
        assert!(Instant::now() < deadline, "child never started downloading");
        std::thread::sleep(Duration::from_millis(10));
    };
    // Even made to look old, a temporary whose writer lives stays.
    let old = SystemTime::now() - Duration::from_secs(3600);
    if let Ok(f) = std::fs::File::options().write(true).open(&temp) {
        f.set_modified(old).unwrap();
    }
    let _ = Store::open(dir.path()).unwrap();
    let still_there = temp.exists();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(still_there, "a live writer's temporary file was swept");
}
