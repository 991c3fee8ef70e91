//! A rootfs stream shaped like linuxkit's (init images with a merged apk database, a
//! container with its own database and a Go binary, a kernel) catalogued into a document that
//! `pyspdxtools` (spdx-tools, the SPDX reference validator) accepts, with the expected
//! packages and PURLs, the same bytes twice.

use evebuild_sbom::gobuildinfo;
use evebuild_sbom::{Cataloguer, Options};
use evebuild_tree::{Entry, EntryPath, Sink};

fn validate(json: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("doc.spdx.json");
    std::fs::write(&f, json).unwrap();
    if let Err(e) = evebuild_sbom::validate::validate(&f) {
        panic!("{e}\n{}", String::from_utf8_lossy(json));
    }
}

struct Stream(Cataloguer);

impl Stream {
    fn from(&mut self, source: &str, location: &str) -> &mut Self {
        self.0.annotate(&[
            ("LINUXKIT.source".into(), source.as_bytes().to_vec()),
            ("LINUXKIT.location".into(), location.as_bytes().to_vec()),
        ]);
        self
    }
    fn file(&mut self, path: &str, data: &[u8]) -> &mut Self {
        let e = Entry::file(EntryPath::new(path).unwrap(), data.len() as u64, 0o755, 0);
        self.0.add(&e, &mut &data[..]).unwrap();
        self
    }
}

const DB_A: &str = "P:musl\nV:1.2.4-r2\nA:x86_64\nL:MIT\nU:https://musl.libc.org/\n\
m:Natanael Copa <ncopa@alpinelinux.org>\np:so:libc.musl-x86_64.so.1=1\nF:lib\nR:ld-musl-x86_64.so.1\n\n\
P:busybox\nV:1.36.1-r5\nA:x86_64\nL:GPL-2.0-only\nD:so:libc.musl-x86_64.so.1\nF:bin\nR:busybox\n\n";
const DB_B: &str =
    "P:grub\nV:2.06-r0\nA:x86_64\nL:GPL-3.0-or-later custom\nF:usr/lib/grub\nR:x.mod\n\n";
const DB_C: &str = "P:ca-certificates-bundle\nV:20230506-r0\nA:x86_64\nL:MPL-2.0 AND MIT\n\
o:ca-certificates\nF:etc/ssl\nR:cert.pem\n\n";

fn elf_with_buildinfo() -> Vec<u8> {
    let mut f = b"\x7fELF".to_vec();
    f.resize(4096, 0);
    f.extend_from_slice(&gobuildinfo::encode(
        "go1.21.5",
        "path\texample.com/svc/cmd/svc\nmod\texample.com/svc\tv1.4.0\t\n\
dep\tgithub.com/sirupsen/logrus\tv1.9.3\th1:dueUQJ1C2q9oE3F7wvmSGAaVtTmUizReu6fjN8uqzbQ=\n\
dep\tgolang.org/x/sys\tv0.15.0\th1:h48lPFYpsTvQJZF4EKyI4aLHaev3CxivZmv7yZig9pc=\n",
    ));
    f.resize(8192, 0);
    f
}

fn bzimage(release: &str) -> Vec<u8> {
    let mut k = vec![0u8; 0x1000];
    k[0x202..0x206].copy_from_slice(b"HdrS");
    k[0x20e..0x210].copy_from_slice(&0x600u16.to_le_bytes());
    k[0x800..0x800 + release.len()].copy_from_slice(release.as_bytes());
    k
}

fn document() -> Vec<u8> {
    let mut s = Stream(Cataloguer::new());
    let merged = format!("{DB_A}\n\n{DB_B}\n\n");
    s.from("docker.io/lfedge/eve-kernel:k1", "kernel")
        .file("boot/kernel", &bzimage("6.1.112-eve (eve@eve) #1 SMP"))
        .from("docker.io/lfedge/eve-base:a1", "init[0]")
        .file("lib/ld-musl-x86_64.so.1", b"musl")
        .file("bin/busybox", b"bb")
        .file("etc/os-release", b"ID=alpine\nVERSION_ID=3.18.4\n")
        .from("docker.io/lfedge/eve-grub:b1", "init[1]")
        .file("usr/lib/grub/x.mod", b"mod")
        .from("LINUXKIT.apkinit", "init")
        .file("lib/apk/db/installed", merged.as_bytes())
        .from("docker.io/lfedge/eve-svc:c1", "services[0]")
        .file(
            "containers/services/svc/lower/lib/apk/db/installed",
            DB_C.as_bytes(),
        )
        .file(
            "containers/services/svc/lower/usr/bin/svc",
            &elf_with_buildinfo(),
        )
        .file("containers/services/svc/config.json", b"{}");
    let mut opts = Options::new("eve-rootfs-1.0.0-kvm-amd64", "1.0.0", 1_700_000_000);
    opts.arch = "amd64".into();
    opts.image_digests.insert(
        "docker.io/lfedge/eve-svc:c1".into(),
        "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef".into(),
    );
    s.0.finish(&opts).to_json()
}

#[test]
fn valid_complete_and_deterministic() {
    let json = document();
    assert_eq!(json, document(), "two runs give the same bytes");
    validate(&json);

    let doc: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(doc["created"], serde_json::Value::Null);
    assert_eq!(doc["creationInfo"]["created"], "2023-11-14T22:13:20Z");
    let purls: Vec<String> = doc["packages"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["externalRefs"].as_array().cloned().unwrap_or_default())
        .filter(|r| r["referenceType"] == "purl")
        .map(|r| r["referenceLocator"].as_str().unwrap().to_string())
        .collect();
    for want in [
        "pkg:apk/alpine/musl@1.2.4-r2?arch=x86_64&distro=alpine-3.18.4",
        "pkg:apk/alpine/busybox@1.36.1-r5?arch=x86_64&distro=alpine-3.18.4",
        "pkg:apk/alpine/grub@2.06-r0?arch=x86_64&distro=alpine-3.18.4",
        "pkg:apk/alpine/ca-certificates-bundle@20230506-r0?arch=x86_64&upstream=ca-certificates",
        "pkg:golang/example.com/svc@v1.4.0",
        "pkg:golang/github.com/sirupsen/logrus@v1.9.3",
        "pkg:golang/golang.org/x/sys@v0.15.0",
        "pkg:golang/stdlib@1.21.5",
        "pkg:generic/linux-kernel@6.1.112-eve",
        "pkg:oci/eve-svc@sha256%3A0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef?arch=amd64&repository_url=docker.io/lfedge/eve-svc&tag=c1",
    ] {
        assert!(
            purls.iter().any(|p| p == want),
            "{want} missing from {purls:#?}"
        );
    }

    // The namespace is derived from the contents, not random.
    let ns = doc["documentNamespace"].as_str().unwrap();
    assert!(
        ns.starts_with("https://lfedge.org/eve/spdx/eve-rootfs-1.0.0-kvm-amd64/"),
        "{ns}"
    );

    // Attribution: the merged init database's segments go to the images that wrote the
    // packages' files; the container's packages to its section.
    let id_of = |name: &str| -> String {
        doc["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no package {name}"))["SPDXID"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let contains = |from: &str, to: &str| {
        doc["relationships"].as_array().unwrap().iter().any(|r| {
            r["spdxElementId"] == id_of(from)
                && r["relationshipType"] == "CONTAINS"
                && r["relatedSpdxElement"] == id_of(to)
        })
    };
    assert!(contains("eve-base", "musl"));
    assert!(contains("eve-base", "busybox"));
    assert!(contains("eve-grub", "grub"));
    assert!(!contains("eve-base", "grub"));
    assert!(contains("eve-svc", "ca-certificates-bundle"));
    assert!(contains("eve-svc", "example.com/svc"));
    assert!(contains("eve-kernel", "linux-kernel"));
    let describes: Vec<_> = doc["relationships"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["relationshipType"] == "DESCRIBES")
        .collect();
    assert_eq!(describes.len(), 1);
    assert_eq!(
        describes[0]["relatedSpdxElement"],
        id_of("eve-rootfs-1.0.0-kvm-amd64")
    );
    // A licence that is not an SPDX expression is kept as a reference with its text.
    let refs = doc["hasExtractedLicensingInfos"].as_array().unwrap();
    assert!(refs.iter().any(|r| r["licenseId"] == "LicenseRef-custom"));
}
