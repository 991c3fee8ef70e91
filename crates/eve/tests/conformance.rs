//! Conformance with EVE's real templates, modifiers and kernel table, and with outputs of
//! EVE's tools made outside this project (see the reference directory's README).
//!
//! The reference directory is `EVE_REFERENCE_DIR`, else `<workspace>/../shared/eve`; the suite
//! fails (never skips) when neither exists.

use evebuild_eve::compose::{ImageKind, compose, parse_yaml, to_yaml};
use evebuild_eve::kernel;
use evebuild_eve::knobs::{self, Knobs, Vars};
use evebuild_eve::placeholders::{PLACEHOLDERS, check_unresolved, substitute, used};
use jaq_json::Val;
use std::path::{Path, PathBuf};

fn reference_dir() -> PathBuf {
    let dir = match std::env::var_os("EVE_REFERENCE_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/eve"),
    };
    assert!(
        dir.join("golden/compose/cases.json").is_file(),
        "EVE reference data not found at {}: set EVE_REFERENCE_DIR to the shared `eve` directory \
         (the one with golden/compose/cases.json)",
        dir.display()
    );
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Drop top-level keys holding an empty list: linuxkit reads a missing list and an empty one
/// alike, and the reference outputs differ there (README, "Cross-check").
fn normalise(v: Val) -> Val {
    match v {
        Val::Obj(m) => {
            let mut m = (*m).clone();
            m.retain(|_, v| !matches!(v, Val::Arr(a) if a.is_empty()));
            Val::obj(m)
        }
        other => other,
    }
}

struct Case {
    file: String,
    kind: ImageKind,
    hv: String,
    platform: String,
    zarch: String,
    dev: bool,
    version_arg: String,
    modifiers: Vec<String>,
    pillar: String,
}

fn cases(reference: &Path) -> Vec<Case> {
    let json: serde_json::Value =
        serde_json::from_str(&read(&reference.join("golden/compose/cases.json"))).unwrap();
    json.as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap().to_string();
            Case {
                file: s("file"),
                kind: match c["kind"].as_str().unwrap() {
                    "rootfs" => ImageKind::Rootfs,
                    _ => ImageKind::Installer,
                },
                hv: s("hv"),
                platform: s("platform"),
                zarch: s("zarch"),
                dev: c["dev"].as_bool().unwrap(),
                version_arg: s("version_arg"),
                modifiers: c["modifiers"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|m| m.as_str().unwrap().to_string())
                    .collect(),
                pillar: s("pillar_placeholder"),
            }
        })
        .collect()
}

#[test]
fn all_composed_ymls_equal_the_golden_files() {
    let reference = reference_dir();
    let images = reference.join("images");
    let cases = cases(&reference);
    assert_eq!(cases.len(), 128);
    let mut failures = Vec::new();
    for case in &cases {
        let composed = compose(
            &images,
            case.kind,
            &case.hv,
            &case.platform,
            &case.version_arg,
        )
        .unwrap_or_else(|e| panic!("{}: {e}", case.file));
        let golden = parse_yaml(&read(&reference.join("golden/compose").join(&case.file))).unwrap();
        if normalise(composed.doc.clone()) != normalise(golden) {
            failures.push(case.file.clone());
        }
        // What we write reads back as the same document.
        assert_eq!(
            parse_yaml(&composed.yaml).unwrap(),
            composed.doc,
            "{}",
            case.file
        );
        let modifiers: Vec<String> = composed
            .modifiers
            .iter()
            .map(|m| {
                m.strip_prefix(&reference)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(modifiers, case.modifiers, "{}", case.file);
        assert_eq!(composed.pillar_placeholder, case.pillar, "{}", case.file);
        // Every case is an accepted knob combination.
        let mut args = vec![
            format!("ZARCH={}", case.zarch),
            format!("HV={}", case.hv),
            format!("PLATFORM={}", case.platform),
        ];
        if case.dev {
            args.push("DEV=y".into());
        }
        let k = Knobs::resolve(
            Vars::new(args.iter().map(String::as_str), []).unwrap(),
            "x86_64",
        )
        .unwrap();
        k.validate().unwrap();
    }
    assert!(failures.is_empty(), "differ from golden: {failures:?}");
}

#[test]
fn resolved_ymls_equal_the_golden_files() {
    let reference = reference_dir();
    let env = read(&reference.join("golden/parse-pkgs/tags-amd64-generic.env"));
    let table: Vec<(String, String)> = env
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The golden table lists exactly our placeholders, in our order.
    let names: Vec<&str> = table.iter().map(|(k, _)| k.as_str()).collect();
    let ours: Vec<&str> = PLACEHOLDERS.iter().map(|p| p.name).collect();
    assert_eq!(names, ours);
    let values: Vec<(&str, String)> = table.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    for (kind, hv) in [
        (ImageKind::Rootfs, "kvm"),
        (ImageKind::Rootfs, "k"),
        (ImageKind::Installer, "kvm"),
    ] {
        let version = format!("0.0.0-master-2c6b4154-{hv}-generic-amd64");
        let composed = compose(&reference.join("images"), kind, hv, "generic", &version).unwrap();
        let resolved = substitute(&composed.yaml, &values);
        check_unresolved(&resolved).unwrap();
        let name = format!("{}-{hv}-generic-amd64.resolved.yml", kind.name());
        let golden = parse_yaml(&read(&reference.join("golden/parse-pkgs").join(&name))).unwrap();
        assert_eq!(
            normalise(parse_yaml(&resolved).unwrap()),
            normalise(golden),
            "{name}"
        );
        // Only what the template uses is looked up.
        let used: Vec<&str> = used(&composed.yaml).iter().map(|p| p.name).collect();
        assert!(
            used.contains(&"KERNEL_TAG") && !used.contains(&"MKISO_TAG"),
            "{used:?}"
        );
    }
}

#[test]
fn kernel_table_of_the_tree() {
    let reference = reference_dir();
    let tag = |args: &[&str]| {
        let k = Knobs::resolve(Vars::new(args.iter().copied(), []).unwrap(), "x86_64").unwrap();
        kernel::resolve(&reference, &k)
            .map(|i| i.tag)
            .map_err(|e| e.to_string())
    };
    let prefix = "docker.io/lfedge/eve-kernel:eve-kernel-";
    assert_eq!(
        tag(&[]).unwrap(),
        format!("{prefix}amd64-v6.12.96-generic-core-5ec53c5d956c-gcc")
    );
    assert_eq!(
        tag(&["PLATFORM=rt"]).unwrap(),
        format!("{prefix}amd64-v6.12.96-generic-rt-5ec53c5d956c-gcc")
    );
    assert_eq!(
        tag(&["ZARCH=arm64"]).unwrap(),
        format!("{prefix}arm64-v6.1.155-generic-417a12ac3d50-gcc")
    );
    assert_eq!(
        tag(&["ZARCH=arm64", "PLATFORM=nvidia-jp6"]).unwrap(),
        format!("{prefix}arm64-v5.15.136-nvidia-jp6-4929f15eda41-gcc")
    );
    assert_eq!(
        tag(&["ZARCH=arm64", "PLATFORM=nvidia-jp5"]).unwrap(),
        format!("{prefix}arm64-v5.10.192-nvidia-jp5-2e0dcfd3260d-gcc")
    );
    assert_eq!(
        tag(&["ZARCH=riscv64"]).unwrap(),
        format!("{prefix}riscv64-v6.1.112-generic-bd5816893ca9-gcc")
    );
    // As in make, a command-line KERNEL_CONFIG_FLAVOR beats the file's assignments, even the
    // `:=` that adds the dash (EVE's own behaviour, kept).
    assert_eq!(
        tag(&["KERNEL_CONFIG_FLAVOR=debug"]).unwrap(),
        format!("{prefix}amd64-v6.12.96-generic-debug5ec53c5d956c-gcc")
    );
    // From the environment it only beats `?=`, and amd64 assigns it.
    let env = Vars::new(
        [],
        [("KERNEL_CONFIG_FLAVOR".to_string(), "debug".to_string())],
    )
    .unwrap();
    let k = Knobs::resolve(env, "x86_64").unwrap();
    assert_eq!(
        kernel::resolve(&reference, &k).unwrap().tag,
        format!("{prefix}amd64-v6.12.96-generic-core-5ec53c5d956c-gcc")
    );
    assert_eq!(tag(&["KERNEL_TAG=my/kernel:1"]).unwrap(), "my/kernel:1");
    // EVE's rejections, in EVE's order and words.
    assert_eq!(
        tag(&["ZARCH=x", "HV=foo"]).unwrap_err(),
        "Unsupported architecture x"
    );
    assert_eq!(
        tag(&["PLATFORM=nvidia-jp6", "HV=foo"]).unwrap_err(),
        "Unsupported combination of ZARCH=amd64 and PLATFORM=nvidia-jp6"
    );
    assert_eq!(tag(&["HV=foo"]).unwrap_err(), "Unsupported hypervisor foo");
    assert_eq!(
        tag(&["HV=acrn"]).unwrap_err(),
        "Unsupported hypervisor acrn"
    );
    assert_eq!(
        tag(&["KERNEL_TAG=x", "ZARCH=arm64", "PLATFORM=adam"]).unwrap_err(),
        "Unsupported combination of ZARCH=arm64 and PLATFORM=adam"
    );
}

/// The kernel table's own checks reach "KERNEL_VERSION is not defined" and "KERNEL_COMMIT_… is
/// not defined" when a table is incomplete; copies of the tree's files with one line changed
/// show both.
#[test]
fn kernel_table_messages_for_incomplete_tables() {
    let reference = reference_dir();
    let dir = tempfile::tempdir().unwrap();
    let mk = read(&reference.join("kernel-version.mk"));
    let commits = read(&reference.join("kernel-commits.mk"));
    let run = |mk_text: &str, commits_text: &str, args: &[&str]| {
        std::fs::write(dir.path().join("kernel-version.mk"), mk_text).unwrap();
        std::fs::write(dir.path().join("kernel-commits.mk"), commits_text).unwrap();
        let k = Knobs::resolve(Vars::new(args.iter().copied(), []).unwrap(), "x86_64").unwrap();
        kernel::resolve(dir.path(), &k).unwrap_err().to_string()
    };
    let new_arch = mk
        .replace(
            "ARCHS=amd64 arm64 riscv64",
            "ARCHS=amd64 arm64 riscv64 mips",
        )
        .replace(
            "PLATFORMS_riscv64=generic",
            "PLATFORMS_riscv64=generic\nPLATFORMS_mips=generic",
        );
    assert_ne!(new_arch, mk);
    assert_eq!(
        run(&new_arch, &commits, &["ZARCH=mips"]),
        "KERNEL_VERSION is not defined. did you introduced new platform or ARCH?"
    );
    let no_commit: String = commits
        .lines()
        .filter(|l| !l.starts_with("KERNEL_COMMIT_riscv64"))
        .map(|l| format!("{l}\n"))
        .collect();
    assert_ne!(no_commit, commits);
    assert_eq!(
        run(&mk, &no_commit, &["ZARCH=riscv64"]),
        "KERNEL_COMMIT_riscv64_v6.1.112_generic is not defined. did you introduce new platform or ARCH?"
    );
}

/// Every accepted ZARCH × HV × PLATFORM passes the tree's kernel table and the knob checks,
/// and the built-in tables agree with the tree's.
#[test]
fn every_accepted_combination_has_a_kernel() {
    let reference = reference_dir();
    let mut count = 0;
    for (zarch, platforms) in knobs::PLATFORMS {
        for platform in *platforms {
            for hv in knobs::HYPERVISORS {
                let args = [
                    format!("ZARCH={zarch}"),
                    format!("PLATFORM={platform}"),
                    format!("HV={hv}"),
                ];
                let k = Knobs::resolve(
                    Vars::new(args.iter().map(String::as_str), []).unwrap(),
                    "x86_64",
                )
                .unwrap();
                k.validate().unwrap();
                let info = kernel::resolve(&reference, &k).unwrap();
                assert!(
                    info.tag
                        .starts_with("docker.io/lfedge/eve-kernel:eve-kernel-"),
                    "{info:?}"
                );
                assert_eq!(info.commit.len(), 12, "{info:?}");
                count += 1;
            }
        }
    }
    assert_eq!(count, 10 * 4);
    let mut make = evebuild_eve::make::Make::new(&reference);
    make.set_command_line("ZARCH", "amd64");
    make.set_command_line("PLATFORM", "generic");
    make.include(Path::new("kernel-version.mk")).unwrap();
    assert_eq!(make.get("ARCHS").unwrap(), knobs::ARCHES.join(" "));
    for (zarch, platforms) in knobs::PLATFORMS {
        assert_eq!(
            make.get(&format!("PLATFORMS_{zarch}")).unwrap(),
            platforms.join(" ")
        );
    }
}

/// A real symbolic link between modifiers (as in an EVE checkout) is followed. The reference
/// copy holds the nvidia-jp5 link as a plain file with the target path, which the golden cases
/// above cover.
#[test]
fn symlinked_modifier_is_followed() {
    let reference = reference_dir();
    let dir = tempfile::tempdir().unwrap();
    let images = dir.path();
    std::fs::create_dir_all(images.join("modifiers/platform/b")).unwrap();
    std::fs::create_dir_all(images.join("modifiers/platform/a")).unwrap();
    std::fs::copy(
        reference.join("images/rootfs.yml.in"),
        images.join("rootfs.yml.in"),
    )
    .unwrap();
    std::fs::write(
        images.join("modifiers/platform/b/b.yq"),
        ".init += [\"B_TAG\"]\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../b/b.yq", images.join("modifiers/platform/a/a.yq")).unwrap();
    let composed = compose(images, ImageKind::Rootfs, "kvm", "a", "1.2.3-kvm-a-arm64").unwrap();
    assert_eq!(
        composed.modifiers,
        [images.join("modifiers/platform/a/a.yq")]
    );
    assert!(composed.yaml.contains("- B_TAG\n"), "{}", composed.yaml);
    assert!(composed.yaml.contains("contents: a\n"), "{}", composed.yaml);
    assert_eq!(to_yaml(&parse_yaml(&composed.yaml).unwrap()), composed.yaml);
}

/// The whole chain on an EVE-shaped git repository made from the reference templates: the
/// kernel from the tree's table, composition, and every placeholder resolved from git.
#[test]
fn image_yml_of_a_source_tree() {
    use evebuild_eve::placeholders::Source;
    use evebuild_eve::yml::image_yml;
    let reference = reference_dir();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let copy = |rel: &str| {
        let dst = root.join(rel);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::write(&dst, read(&reference.join(rel))).unwrap();
    };
    for rel in [
        "images/rootfs.yml.in",
        "images/installer.yml.in",
        "images/modifiers/hv/k.yq",
        "kernel-version.mk",
        "kernel-commits.mk",
    ] {
        copy(rel);
    }
    for p in PLACEHOLDERS {
        if let Source::Package { dir, .. } = p.source {
            let pkg = root.join("pkg").join(dir);
            std::fs::create_dir_all(&pkg).unwrap();
            std::fs::write(
                pkg.join("build.yml"),
                format!("org: lfedge\nimage: eve-{dir}\n"),
            )
            .unwrap();
            std::fs::write(
                pkg.join("build-k.yml"),
                format!("org: lfedge\nimage: eve-{dir}\ntag: \"{{{{.Hash}}}}-kube\"\n"),
            )
            .unwrap();
        }
    }
    let git = |args: &[&str]| evebuild_testkit::git(root, args);
    git(&["init", "-q", "-b", "master"]);
    git(&["add", "-A"]);
    git(&["commit", "-qm", "tree"]);
    let k = Knobs::resolve(Vars::new(["HV=k"], []).unwrap(), "x86_64").unwrap();
    let version = evebuild_eve::yml::rootfs_version(root, &k, Some("0"));
    assert_eq!(
        version,
        format!("0.0.0-master-{}", git(&["rev-parse", "--short=8", "HEAD"]))
    );
    let out = image_yml(root, &k, ImageKind::Rootfs, &version).unwrap();
    let doc = parse_yaml(&out.yml).unwrap();
    let text = |v: &Val| match v {
        Val::TStr(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("{other:?}"),
    };
    let Val::Obj(m) = &doc else { panic!() };
    let services = m.get(&Val::from("services".to_string())).unwrap();
    let Val::Arr(services) = services else {
        panic!()
    };
    let image_of = |name: &str| {
        services
            .iter()
            .find_map(|s| match s {
                Val::Obj(s)
                    if s.get(&Val::from("name".to_string())).map(text).as_deref() == Some(name) =>
                {
                    s.get(&Val::from("image".to_string())).map(text)
                }
                _ => None,
            })
            .unwrap()
    };
    let tree = |d: &str| git(&["rev-parse", &format!("HEAD:pkg/{d}")]);
    assert_eq!(
        image_of("pillar"),
        format!("lfedge/eve-pillar:{}-kube", tree("pillar"))
    );
    assert_eq!(
        image_of("kube"),
        format!("lfedge/eve-kube:{}", tree("kube"))
    );
    assert_eq!(
        image_of("memory-monitor"),
        format!("lfedge/eve-memory-monitor:{}", tree("memory-monitor"))
    );
    assert_eq!(
        image_of("monitor"),
        format!("lfedge/eve-monitor:{}", tree("monitor"))
    );
    assert!(
        out.yml.contains(&format!("image: {}\n", out.kernel.tag)),
        "{}",
        out.yml
    );
    assert!(out.yml.contains("contents: k\n"));
    assert_eq!(out.modifiers, [root.join("images/modifiers/hv/k.yq")]);
}
