//! show-tag against real git repositories made by the test, each expectation computed
//! independently with git and coreutils (`git rev-parse HEAD:<dir>`, `git ls-files` piped
//! into `sha256sum`, `sha1sum`), never by the code under test.

use evebuild_linuxkit::tag::{ShowTagOptions, TagRequest, show_tag, show_tags};
use evebuild_testkit::sh;
use std::path::{Path, PathBuf};

/// A repository with pkg/a (org lfedge), pkg/b (default org, dev variant), common/ and an
/// ignore rule, all committed.
fn repo() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    sh(
        &root,
        "git init -q -b main . && mkdir -p pkg/a/sub pkg/b common && \
         printf 'org: lfedge\\nimage: eve-a\\n' > pkg/a/build.yml && \
         printf 'FROM scratch\\n' > pkg/a/Dockerfile && echo one > pkg/a/sub/f && \
         printf 'image: eve-b\\ntag: \"{{.Hash}}-x\"\\n' > pkg/b/build.yml && \
         printf 'image: eve-b\\ntag: \"{{.Hash}}-dev\"\\nnetwork: yes\\n' > pkg/b/build-dev.yml && \
         echo c > common/c && echo '*.log' > .gitignore && \
         git add -A && git commit -q -m init",
    );
    (dir, root)
}

/// linuxkit's dirty hash, computed with git and coreutils from the package directory.
fn expected_dirty_hash(pkg: &Path) -> String {
    sh(
        pkg,
        "{ git ls-files; git ls-files --exclude-standard --others; } | \
         while IFS= read -r f; do if [ -f \"$f\" ] && [ ! -L \"$f\" ]; then cat \"$f\"; fi; done | \
         sha256sum | cut -c1-7",
    )
}

fn tag(pkg: &Path) -> String {
    show_tag(pkg, &ShowTagOptions::default())
        .unwrap()
        .reference()
}

#[test]
fn clean_package_is_its_tree_id() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/a");
    assert_eq!(tag(&root.join("pkg/a")), format!("lfedge/eve-a:{tree}"));
    let t = show_tag(&root.join("pkg/a"), &ShowTagOptions::default()).unwrap();
    assert!(!t.dirty);
    assert_eq!(t.canonical(), format!("docker.io/lfedge/eve-a:{tree}"));
}

#[test]
fn modified_tracked_file_is_dirty() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/a");
    sh(&root, "echo two >> pkg/a/sub/f");
    let expected = format!(
        "lfedge/eve-a:{tree}-dirty-{}",
        expected_dirty_hash(&root.join("pkg/a"))
    );
    assert_eq!(tag(&root.join("pkg/a")), expected);
    // Staging the change keeps it dirty (the comparison is with HEAD).
    sh(&root, "git add pkg/a/sub/f");
    assert_eq!(tag(&root.join("pkg/a")), expected);
    // Another package is unaffected.
    let b = sh(&root, "git rev-parse HEAD:pkg/b");
    assert_eq!(tag(&root.join("pkg/b")), format!("linuxkit/eve-b:{b}-x"));
}

#[test]
fn deleted_tracked_file_is_dirty() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/a");
    sh(&root, "rm pkg/a/Dockerfile");
    let expected = expected_dirty_hash(&root.join("pkg/a"));
    assert_eq!(
        tag(&root.join("pkg/a")),
        format!("lfedge/eve-a:{tree}-dirty-{expected}")
    );
}

#[test]
fn untracked_file_is_dirty_but_ignored_file_is_not() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/a");
    sh(&root, "echo noise > pkg/a/build.log");
    assert_eq!(tag(&root.join("pkg/a")), format!("lfedge/eve-a:{tree}"));
    sh(&root, "echo new > pkg/a/sub/new && ln -s f pkg/a/sub/link");
    let expected = expected_dirty_hash(&root.join("pkg/a"));
    assert_eq!(
        tag(&root.join("pkg/a")),
        format!("lfedge/eve-a:{tree}-dirty-{expected}")
    );
}

#[test]
fn touched_but_unchanged_file_is_clean() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/a");
    sh(&root, "touch -d '2001-01-01' pkg/a/sub/f");
    assert_eq!(tag(&root.join("pkg/a")), format!("lfedge/eve-a:{tree}"));
}

#[test]
fn extra_sources_fold_tree_ids_with_sha1() {
    let (_d, root) = repo();
    sh(
        &root,
        "printf 'org: lfedge\\nimage: eve-a\\nextra-sources:\\n  - ../../common:/common\\n' \
         > pkg/a/build.yml && git commit -qam extra",
    );
    let expected = sh(
        &root,
        "printf %s \"$(git rev-parse HEAD:pkg/a)$(git rev-parse HEAD:common)\" | sha1sum | cut -c1-40",
    );
    assert_eq!(tag(&root.join("pkg/a")), format!("lfedge/eve-a:{expected}"));
    // A change in the extra source does not make the package dirty (linuxkit checks only
    // the package), and does not change the committed ids.
    sh(&root, "echo changed > common/c");
    assert_eq!(tag(&root.join("pkg/a")), format!("lfedge/eve-a:{expected}"));
}

#[test]
fn tag_template_and_build_yml_variant() {
    let (_d, root) = repo();
    let tree = sh(&root, "git rev-parse HEAD:pkg/b");
    let dev = ShowTagOptions {
        build_yml: Some("build-dev.yml".into()),
        ..Default::default()
    };
    let t = show_tag(&root.join("pkg/b"), &dev).unwrap();
    assert_eq!(t.reference(), format!("linuxkit/eve-b:{tree}-dev"));
    assert!(t.build.network);
    let custom = ShowTagOptions {
        tag: Some("v1-{{ .Hash }}".into()),
        ..Default::default()
    };
    assert_eq!(
        show_tag(&root.join("pkg/b"), &custom).unwrap().reference(),
        format!("linuxkit/eve-b:v1-{tree}")
    );
    // An empty template result is `latest`.
    sh(
        &root,
        "printf 'image: eve-b\\ntag: \"{{/* none */}}\"\\n' > pkg/b/build-none.yml",
    );
    let none = ShowTagOptions {
        build_yml: Some("build-none.yml".into()),
        ..Default::default()
    };
    assert_eq!(
        show_tag(&root.join("pkg/b"), &none).unwrap().reference(),
        "linuxkit/eve-b:latest"
    );
}

#[test]
fn package_at_repository_root() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    sh(
        root,
        "git init -q -b main . && printf 'image: top\\n' > build.yml && \
         git add -A && git commit -q -m init",
    );
    let tree = sh(root, "git rev-parse 'HEAD^{tree}'");
    assert_eq!(tag(root), format!("linuxkit/top:{tree}"));
    sh(root, "echo x > extra");
    let expected = expected_dirty_hash(root);
    assert_eq!(tag(root), format!("linuxkit/top:{tree}-dirty-{expected}"));
}

#[test]
fn overrides_hash_org_and_force_dirty() {
    let (_d, root) = repo();
    sh(&root, "echo dirty >> pkg/a/Dockerfile");
    let o = ShowTagOptions {
        hash: Some("fixed".into()),
        org: Some("myorg".into()),
        ..Default::default()
    };
    let t = show_tag(&root.join("pkg/a"), &o).unwrap();
    assert_eq!(t.reference(), "myorg/eve-a:fixed");
    assert!(t.dirty, "dirt is still reported with --hash");
    let relative = ShowTagOptions {
        hash_commit: "HEAD".into(),
        force_dirty: true,
        ..Default::default()
    };
    let t = show_tag(&root.join("pkg/b"), &relative).unwrap();
    let tree = sh(&root, "git rev-parse HEAD:pkg/b");
    let expected = expected_dirty_hash(&root.join("pkg/b"));
    assert_eq!(
        t.reference(),
        format!("linuxkit/eve-b:{tree}-dirty-{expected}-x")
    );
}

#[test]
fn outside_git_the_hash_is_empty() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("build.yml"), "image: loose\n").unwrap();
    assert_eq!(tag(dir.path()), "linuxkit/loose:latest");
}

#[test]
fn uncommitted_package_is_an_error() {
    let (_d, root) = repo();
    sh(
        &root,
        "mkdir pkg/new && printf 'image: n\\n' > pkg/new/build.yml",
    );
    let err = show_tag(&root.join("pkg/new"), &ShowTagOptions::default()).unwrap_err();
    assert!(err.to_string().contains("is not in git"), "{err}");
}

#[test]
fn batch_equals_one_by_one() {
    let (_d, root) = repo();
    sh(&root, "echo z > pkg/a/sub/z");
    let dirs = ["pkg/a", "pkg/b", "pkg/a"];
    let requests: Vec<TagRequest> = dirs
        .iter()
        .map(|d| TagRequest {
            pkg_dir: root.join(d),
            options: ShowTagOptions::default(),
        })
        .collect();
    let batch: Vec<String> = show_tags(&requests)
        .unwrap()
        .iter()
        .map(|t| t.reference())
        .collect();
    let single: Vec<String> = dirs.iter().map(|d| tag(&root.join(d))).collect();
    assert_eq!(batch, single);
}
