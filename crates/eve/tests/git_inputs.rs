//! Version strings and placeholder resolution against git repositories made by the test; the
//! expectations come from git and coreutils, not from the code under test.

use evebuild_eve::knobs::{Knobs, Vars};
use evebuild_eve::placeholders::{PlaceholderError, TagContext, resolve};
use evebuild_eve::version::{DirtyTime, GitFacts, rootfs_version};
use evebuild_testkit::sh;
use std::path::{Path, PathBuf};

fn knobs(args: &[&str]) -> Knobs {
    Knobs::resolve(Vars::new(args.iter().copied(), []).unwrap(), "x86_64").unwrap()
}

#[test]
fn rootfs_version_from_git() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sh(
        root,
        "git init -q -b feature/x . && echo a > f && git add f && git commit -qm one",
    );
    let short = sh(root, "git rev-parse HEAD | cut -c1-8");
    let t = DirtyTime(1_795_778_820); // 2026-11-27.11.27 UTC
    let facts = GitFacts::read(root);
    assert_eq!(
        facts.branch,
        sh(root, "git rev-parse --abbrev-ref HEAD | tr / _")
    );
    assert_eq!(
        rootfs_version(&knobs(&[]), &facts, t),
        format!("0.0.0-feature_x-{short}")
    );
    // Untracked files do not make `describe --dirty` dirty; tracked changes do.
    sh(root, "echo b > untracked");
    assert!(!GitFacts::read(root).dirty());
    sh(root, "echo b >> f");
    let dirty = GitFacts::read(root);
    assert_eq!(
        rootfs_version(&knobs(&["DEV=y", "PLATFORM=rt"]), &dirty, t),
        format!("0.0.0-feature_x-{short}-dirty-2026-11-27.11.27-dev-rt")
    );
    // The dirty time is the newest change's modification time (not the clock), so two
    // builds of one working tree agree; with only deletions, the last commit's time.
    sh(
        root,
        "echo c > g && git add g && git commit -qm two && echo d >> g",
    );
    sh(root, "touch -d @1795778820 f && touch -d @1700000000 g");
    assert_eq!(DirtyTime::of_tree(root, None), DirtyTime(1_795_778_820));
    assert_eq!(DirtyTime::of_tree(root, Some("60")), DirtyTime(60));
    sh(root, "git checkout -q f g && rm g");
    assert!(GitFacts::read(root).dirty());
    let committed: i64 = sh(root, "git log -1 --format=%ct").parse().unwrap();
    assert_eq!(DirtyTime::of_tree(root, None), DirtyTime(committed));
    sh(root, "git checkout -q g && git reset -q --hard HEAD~1");
    sh(root, "git checkout -q f && git tag 17.3.0");
    let tagged = GitFacts::read(root);
    assert_eq!(rootfs_version(&knobs(&["DEV=y"]), &tagged, t), "17.3.0");
    sh(
        root,
        "git tag -d 17.3.0 >/dev/null && git tag v1.0.0 && git checkout -q --detach",
    );
    let detached = GitFacts::read(root);
    assert_eq!(
        rootfs_version(&knobs(&[]), &detached, t),
        format!("0.0.0-HEAD-{short}")
    );
    // Outside git every command fails and yields "", as `$(shell …)` does.
    let plain = tempfile::tempdir().unwrap();
    assert_eq!(
        rootfs_version(&knobs(&[]), &GitFacts::read(plain.path()), t),
        "0.0.0--"
    );
}

/// An EVE-shaped repository: pillar with variants, fw with a platform variant, monitor and
/// memory-monitor.
fn eve_tree() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    sh(
        &root,
        "git init -q -b master . && mkdir -p pkg/pillar pkg/fw pkg/monitor pkg/memory-monitor && \
         printf 'org: lfedge\\nimage: eve-pillar\\n' > pkg/pillar/build.yml && \
         printf 'org: lfedge\\nimage: eve-pillar\\ntag: \"{{.Hash}}-dev\"\\n' > pkg/pillar/build-dev.yml && \
         printf 'org: lfedge\\nimage: eve-fw\\ntag: \"{{.Hash}}-generic\"\\n' > pkg/fw/build.yml && \
         printf 'org: lfedge\\nimage: eve-fw\\ntag: \"{{.Hash}}-nvidia-jp6\"\\n' > pkg/fw/build-nvidia-jp6.yml && \
         printf 'org: lfedge\\nimage: eve-monitor\\n' > pkg/monitor/build.yml && \
         printf 'org: lfedge\\nimage: eve-memory-monitor\\n' > pkg/memory-monitor/build.yml && \
         git add -A && git commit -qm init",
    );
    (dir, root)
}

fn ctx(root: &Path, platform: &str) -> TagContext {
    TagContext {
        eve_root: root.to_path_buf(),
        platform: platform.into(),
        kernel_tag: "docker.io/lfedge/eve-kernel:k1".into(),
        eve_hash: None,
        org: None,
    }
}

#[test]
fn placeholders_resolve_with_variants_in_order() {
    let (_d, root) = eve_tree();
    let tree = |p: &str| sh(&root, &format!("git rev-parse HEAD:pkg/{p}"));
    let text = "kernel: KERNEL_TAG\npillar: PILLAR_DEV_TAG\nfw: FW_TAG\n\
                mm: MEMORY_MONITOR_TAG\nm: MONITOR_TAG\nsrc: CURDIR/conf\neve: EVE_TAG\n";
    let out = resolve(text, &ctx(&root, "nvidia-jp6")).unwrap();
    let expected = format!(
        "kernel: docker.io/lfedge/eve-kernel:k1\npillar: lfedge/eve-pillar:{}-dev\n\
         fw: lfedge/eve-fw:{}-nvidia-jp6\nmm: lfedge/eve-memory-monitor:{}\n\
         m: lfedge/eve-monitor:{}\nsrc: {}/conf\n\
         eve: zededa/eve:e69de29bb2d1d6434b8b29ae775ad8c2e48c5391\n",
        tree("pillar"),
        tree("fw"),
        tree("memory-monitor"),
        tree("monitor"),
        root.display()
    );
    assert_eq!(out, expected);
    // The generic platform has no build-generic.yml: build.yml is used.
    let generic = resolve("fw: FW_TAG\n", &ctx(&root, "generic")).unwrap();
    assert_eq!(
        generic,
        format!("fw: lfedge/eve-fw:{}-generic\n", tree("fw"))
    );
    // EVE_HASH replaces every hash and the EVE tag.
    let hashed = TagContext {
        eve_hash: Some("h1".into()),
        ..ctx(&root, "generic")
    };
    assert_eq!(
        resolve("a: PILLAR_TAG\nb: EVE_TAG\n", &hashed).unwrap(),
        "a: lfedge/eve-pillar:h1\nb: zededa/eve:h1\n"
    );
}

#[test]
fn only_used_packages_are_tagged() {
    let (_d, root) = eve_tree();
    // pkg/kube does not exist: a template that does not use KUBE_TAG must not need it.
    assert!(resolve("m: MONITOR_TAG\n", &ctx(&root, "generic")).is_ok());
    let err = resolve("k: KUBE_TAG\n", &ctx(&root, "generic")).unwrap_err();
    assert!(
        matches!(
            &err,
            PlaceholderError::Tag {
                name: "KUBE_TAG",
                dir: "kube",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn unresolved_placeholders_are_errors() {
    let (_d, root) = eve_tree();
    let err = resolve("a: MONITOR_TAG\nb: FOO_TAG\n", &ctx(&root, "generic")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "unresolved placeholder FOO_TAG on line 2 (no package provides it; \
         is the name misspelt, or missing from the placeholder table?)"
    );
}
