//! Packages whose Dockerfiles only assemble files, built in-process and checked with skopeo
//! and umoci.

mod common;

use common::*;
use evebuild_oci::Store;
use evebuild_pkgbuild::{BuildOptions, build_package};
use std::process::Command;

const DOCKERFILE: &str = r#"# syntax=docker/dockerfile:1
ARG BASE=scratch
FROM ${BASE} AS files
ARG GREETING=hello
COPY --chmod=0755 bin/ /usr/bin/
COPY etc/motd /etc/
COPY <<EOF /etc/greeting
${GREETING} world
EOF
ADD data.tar.gz /opt/data/

FROM scratch
ARG PKG_HASH
ENV MODE=test \
    # a comment inside a continuation
    HASH=${PKG_HASH}
WORKDIR /srv
COPY --from=files --chown=1000:1000 /usr/bin/tool ./bin/
COPY --from=files /etc/ /etc/
COPY --from=files /opt/data /opt/data
LABEL org.example.mode="${MODE}" org.example.base=${BASE:-none}
EXPOSE 8080 53/udp
VOLUME /var/lib/x
STOPSIGNAL SIGTERM
ENTRYPOINT ["/srv/bin/tool"]
CMD serve --now
"#;

fn make_repo(root: &std::path::Path) {
    git_init(root);
    write_files(
        root,
        &[
            (
                "pkg/a/build.yml",
                "org: lfedge\nimage: eve-a\narches: [amd64, arm64]\nconfig:\n  binds:\n    - /a:/b\n  capabilities: [CAP_SYS_ADMIN]\nbuildArgs:\n  - GREETING=hi\n",
            ),
            ("pkg/a/Dockerfile", DOCKERFILE),
            ("pkg/a/bin/tool", "#!/bin/sh\necho tool\n"),
            ("pkg/a/etc/motd", "welcome\n"),
            ("pkg/a/secret.key", "do not ship\n"),
            ("pkg/a/.dockerignore", "*.key\n"),
        ],
    );
    let data = root.join("data");
    write_files(&data, &[("x/y.txt", "archived\n")]);
    run(Command::new(tool("tar", "tar"))
        .arg("-C")
        .arg(&data)
        .args(["--owner=0", "--group=0", "--mtime=@0", "-czf"])
        .arg(root.join("pkg/a/data.tar.gz"))
        .arg("x"));
    std::fs::remove_dir_all(&data).unwrap();
    git_commit(root, "a");
}

#[test]
fn copy_only_package_is_reproducible_and_readable_by_skopeo_and_umoci() {
    let skopeo = tool("skopeo", "skopeo");
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("repo");
    make_repo(&repo);
    let pkg = repo.join("pkg/a");

    let mut digests = Vec::new();
    let mut reference = None;
    for name in ["store1", "store2"] {
        let store = Store::open(&store_dir(tmp.path(), name)).unwrap();
        let built = build_package(&store, &pkg, &BuildOptions::default()).unwrap();
        assert!(built.rebuilt);
        assert_eq!(built.arches.len(), 2);
        digests.push((built.index.clone(), built.arches.clone()));
        // A second build finds it in the store.
        let again = build_package(&store, &pkg, &BuildOptions::default()).unwrap();
        assert!(!again.rebuilt);
        assert_eq!(again.index, built.index);
        reference = Some(built.reference);
    }
    assert_eq!(digests[0], digests[1], "same sources, same digests");

    let reference = reference.unwrap();
    let tag = reference.tag().unwrap().to_string();
    assert!(reference.to_string().starts_with("docker.io/lfedge/eve-a:"));
    let store1 = tmp.path().join("store1");
    let arm = format!("{}:{}-arm64", reference.name(), tag);
    let inspect = run(Command::new(&skopeo)
        .args(["inspect", "--config"])
        .arg(format!("oci:{}:{arm}", store1.display())));
    let cfg: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    assert_eq!(cfg["architecture"], "arm64");
    assert_eq!(cfg["created"], "2024-01-02T03:04:05Z");
    let c = &cfg["config"];
    let labels = &c["Labels"];
    assert_eq!(labels["org.example.mode"], "test");
    // A global ARG is seen by FROM, not by a stage that does not redeclare it.
    assert_eq!(labels["org.example.base"], "none");
    assert_eq!(
        labels["org.mobyproject.config"],
        r#"{"capabilities":["CAP_SYS_ADMIN"],"binds":["/a:/b"]}"#
    );
    assert_eq!(
        labels["org.opencontainers.image.source"],
        "https://github.com/linuxkit/linuxkit"
    );
    assert_eq!(
        labels["org.opencontainers.image.revision"]
            .as_str()
            .unwrap()
            .len(),
        40
    );
    assert_eq!(c["Entrypoint"], serde_json::json!(["/srv/bin/tool"]));
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/sh", "-c", "serve --now"])
    );
    assert_eq!(c["WorkingDir"], "/srv");
    assert_eq!(c["StopSignal"], "SIGTERM");
    assert!(c["ExposedPorts"]["8080/tcp"].is_object() && c["ExposedPorts"]["53/udp"].is_object());
    assert!(c["Volumes"]["/var/lib/x"].is_object());
    let env: Vec<String> = serde_json::from_value(c["Env"].clone()).unwrap();
    assert!(env.contains(&"MODE=test".to_string()), "{env:?}");
    assert!(env.contains(&format!("HASH={tag}")), "{env:?}");

    // The index, through its own name.
    let raw = run(Command::new(&skopeo)
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:{reference}", store1.display())));
    let idx: serde_json::Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(idx["manifests"].as_array().unwrap().len(), 2);

    let amd = format!("{}:{}-amd64", reference.name(), tag);
    let (_bundle, rootfs) = umoci_unpack(&store1, &amd);
    let read =
        |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"));
    assert_eq!(read("srv/bin/tool"), "#!/bin/sh\necho tool\n");
    assert_eq!(read("etc/motd"), "welcome\n");
    assert_eq!(read("etc/greeting"), "hi world\n");
    assert_eq!(read("opt/data/x/y.txt"), "archived\n");
    assert!(!rootfs.join("secret.key").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(rootfs.join("srv/bin/tool"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    let listing = evebuild_testkit::sh(
        &store1,
        "for f in blobs/sha256/*; do tar tvzf $f 2>/dev/null; done | grep 'srv/bin/tool'",
    );
    assert!(listing.contains("1000/1000"), "{listing}");
}
