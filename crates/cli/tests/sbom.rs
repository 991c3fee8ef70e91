//! `evebuild sbom` on the example, with packages that carry what the SBOM catalogues: apk
//! databases in two init images (merged by linuxkit) and in a container, a Go binary (the
//! machine's umoci, built by Debian's Go toolchain) and a kernel with a boot header. The
//! document is checked by `pyspdxtools` (spdx-tools, the SPDX reference validator) and read
//! back for the packages and PURLs each part must yield; it is the same bytes in another
//! output directory and whether made alone or in the pass that writes rootfs.img. syft (the
//! cataloguer behind EVE's SBOM), run on the extracted rootfs.img, finds the same apk and Go
//! packages.

mod common;

use common::*;
use std::fs;
use std::path::{Path, PathBuf};

const VERSION: &str = "0.0.0-sbom";
const UMOCI: &str = "/usr/bin/umoci";

const ZTOOLS_DB: &str = "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\nU:https://musl.libc.org/\n\
m:Natanael Copa <ncopa@alpinelinux.org>\np:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\n\n\
P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\nD:so:libc.musl-x86_64.so.1\nF:bin\nR:busybox\n\n";
const GRUB_DB: &str = "P:grub-efi\nV:2.06-r17\nA:x86_64\nL:GPL-3.0-or-later\no:grub\nF:usr/lib/grub\nR:x86_64-efi.lst\n\n";
const DEBUG_DB: &str = "P:tini\nV:0.19.0-r1\nA:x86_64\nL:MIT\nF:sbin\nR:tini\n\n";

/// The example with the packages above.
fn project() -> Project {
    let p = Project::new();
    p.write("pkg/dom0-ztools/rootfs/lib/apk/db/installed", ZTOOLS_DB);
    p.write("pkg/dom0-ztools/rootfs/lib/ld-musl-x86_64.so.1", "musl");
    p.write("pkg/dom0-ztools/rootfs/bin/busybox", "busybox");
    p.write(
        "pkg/dom0-ztools/rootfs/etc/os-release",
        "NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.18.4\n",
    );
    p.write("pkg/grub/placeholder/lib/apk/db/installed", GRUB_DB);
    p.write("pkg/grub/placeholder/usr/lib/grub/x86_64-efi.lst", "list");
    p.write("pkg/debug/apk/installed", DEBUG_DB);
    p.write("pkg/debug/sbin/tini", "tini");
    let go = fs::read(UMOCI).unwrap_or_else(|e| {
        panic!("{UMOCI} (a Go binary) is needed: {e}; run ./scripts/install-test-deps.sh (Debian package umoci)")
    });
    p.write("pkg/debug/bin/umoci", go);
    let dockerfile = fs::read_to_string(p.root.join("pkg/debug/Dockerfile")).unwrap();
    p.write(
        "pkg/debug/Dockerfile",
        format!("{dockerfile}COPY apk/ /lib/apk/db/\nCOPY sbin/ /sbin/\n"),
    );
    let mut kernel = vec![0u8; 0x1000];
    kernel[0x202..0x206].copy_from_slice(b"HdrS");
    kernel[0x20e..0x210].copy_from_slice(&0x600u16.to_le_bytes());
    let release = b"6.1.112-hello-eve (eve@eve) #1 SMP";
    kernel[0x800..0x800 + release.len()].copy_from_slice(release);
    p.write("pkg/kernel/placeholder/kernel", kernel);
    p.commit("packages with something to catalogue");
    p
}

fn sbom_path(dist: &Path) -> PathBuf {
    dist.join("installer/rootfs-generic.spdx.json")
}

/// The Go version the binary was built with, found by its text (independently of the
/// build-information parser).
fn go_version_of(binary: &str) -> String {
    let bytes = fs::read(binary).unwrap();
    let at = bytes
        .windows(4)
        .position(|w| w == b"go1.")
        .expect("a Go version string");
    let v: String = bytes[at + 2..]
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .map(|&b| b as char)
        .collect();
    v.trim_end_matches('.').to_string()
}

#[test]
fn sbom_is_valid_deterministic_and_complete() {
    let p = project();
    let v = format!("ROOTFS_VERSION={VERSION}");
    let run = p.run(&[&v, "sbom"]);
    let doc_path = sbom_path(&p.dist(VERSION));
    assert!(
        run.artifacts().iter().any(|(path, _, _)| *path == doc_path),
        "{}",
        run.text()
    );
    let bytes = fs::read(&doc_path).unwrap();

    // The SPDX reference validator accepts it.
    if let Err(e) = evebuild_sbom::validate::validate(&doc_path) {
        panic!("{e}");
    }

    // Same bytes when made in the pass that writes rootfs.img, in another output directory.
    let other = p.tmp.path().join("other-dist");
    p.run(&[&v, "--dist", other.to_str().unwrap(), "rootfs", "sbom"]);
    assert_eq!(
        fs::read(sbom_path(&other.join("amd64").join(VERSION))).unwrap(),
        bytes,
        "the SBOM depends only on the sources"
    );

    let doc: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let purls: Vec<&str> = packages
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().into_iter().flatten())
        .filter(|r| r["referenceType"] == "purl")
        .map(|r| r["referenceLocator"].as_str().unwrap())
        .collect();
    let go = go_version_of(UMOCI);
    for want in [
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4".to_string(),
        "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.18.4".into(),
        "pkg:apk/alpine/grub-efi@2.06-r17?arch=x86_64&distro=alpine-3.18.4&upstream=grub".into(),
        "pkg:apk/alpine/tini@0.19.0-r1?arch=x86_64".into(),
        "pkg:golang/github.com/opencontainers/umoci/cmd/umoci".into(),
        format!("pkg:golang/stdlib@{go}"),
        "pkg:generic/linux-kernel@6.1.112-hello-eve".into(),
    ] {
        assert!(purls.contains(&want.as_str()), "{want} missing: {purls:#?}");
    }
    assert!(
        purls
            .iter()
            .any(|p| p.starts_with("pkg:oci/eve-debug@sha256%3A")),
        "{purls:#?}"
    );
    // Each package sits under the image section it came from.
    let id = |name: &str| {
        packages
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}"))["SPDXID"]
            .clone()
    };
    let contains = |from: &str, to: &str| {
        doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["spdxElementId"] == id(from)
                && r["relationshipType"] == "CONTAINS"
                && r["relatedSpdxElement"] == id(to)
        })
    };
    for (image, package) in [
        ("eve-dom0-ztools", "musl"),
        ("eve-grub", "grub-efi"),
        ("eve-debug", "tini"),
        ("eve-debug", "stdlib"),
        ("eve-kernel", "linux-kernel"),
    ] {
        assert!(contains(image, package), "{image} should contain {package}");
    }
    assert!(!contains("eve-dom0-ztools", "grub-efi"));

    // syft, on the rootfs extracted from rootfs.img, finds the same apk and Go packages.
    let root = p.tmp.path().join("extracted");
    let image = other
        .join("amd64")
        .join(VERSION)
        .join("installer/rootfs.img");
    tool_ok(
        "unsquashfs",
        &[
            "-q",
            "-n",
            "-d",
            root.to_str().unwrap(),
            image.to_str().unwrap(),
        ],
    );
    let syft = evebuild_sbom::validate::venv_tool("SYFT", "syft").unwrap_or_else(|e| panic!("{e}"));
    let found = common::run(
        std::process::Command::new(syft)
            .args(["-q", "-o", "json"])
            .arg(format!("dir:{}", root.display())),
    );
    let found: serde_json::Value = serde_json::from_str(&found).unwrap();
    let mut theirs: Vec<(String, String)> = found["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["type"] == "apk" || a["type"] == "go-module")
        .map(|a| {
            (
                a["name"].as_str().unwrap().to_string(),
                a["type"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut ours: Vec<(String, String)> = packages
        .iter()
        .filter_map(|p| {
            let id = p["SPDXID"].as_str().unwrap();
            let ty = if id.starts_with("SPDXRef-Package-apk-") {
                "apk"
            } else if id.starts_with("SPDXRef-Package-go-module-") {
                "go-module"
            } else {
                return None;
            };
            Some((p["name"].as_str().unwrap().to_string(), ty.to_string()))
        })
        .collect();
    theirs.sort();
    ours.sort();
    assert_eq!(ours, theirs, "evebuild's packages against syft's");
}
