//! `evebuild live` on the bundled example, read back with the tools the world uses: unsquashfs,
//! fsck.fat and mtools, sgdisk, qemu-img. Also: reproducibility across output directories,
//! up-to-date checks, and what bad input does.

mod common;

use common::*;
use std::fs;
use std::path::Path;

const VERSION: &str = "0.0.0-test";

fn build_live(p: &Project) -> Run {
    p.run(&["ROOTFS_VERSION=0.0.0-test", "live", "live-raw"])
}

#[test]
fn live_artifacts_read_back_with_real_tools() {
    let p = Project::new();
    let run = build_live(&p);
    let dist = p.dist(VERSION);
    let rootfs = dist.join("installer/rootfs.img");
    let config = dist.join("installer/config.img");
    let raw = dist.join("live.raw");
    let qcow2 = dist.join("live.qcow2");

    // Every artifact line names a file whose SHA-256 (by sha256sum) is what was printed.
    let arts = run.artifacts();
    for want in [&rootfs, &config, &raw, &qcow2] {
        let (_, sha, _) = arts
            .iter()
            .find(|(path, _, _)| path == want)
            .unwrap_or_else(|| panic!("no artifact line for {}:\n{}", want.display(), run.text()));
        assert_eq!(sha, &sha256sum(want), "{}", want.display());
    }
    assert_eq!(
        fs::read_link(p.root.join("dist/amd64/current")).unwrap(),
        dist,
        "dist/amd64/current points at the version"
    );

    // rootfs.img: linuxkit's layout, read by unsquashfs.
    let listing = tool_ok("unsquashfs", &["-l", "-d", "", rootfs.to_str().unwrap()]);
    for path in [
        "/boot/kernel",
        "/boot/cmdline",
        "/etc/dom0-ztools-release",   // init package dom0-ztools
        "/lib/firmware/hello-eve.fw", // init package fw
        "/EFI/BOOT/BOOTX64.EFI",      // init package grub
        "/lib/modules/6.1.0-hello-eve/modules.order", // kernel.tar, expanded
        "/containers/onboot/000-storage-init/config.json",
        "/containers/onboot/000-storage-init/runtime.json",
        "/containers/onboot/000-storage-init/lower/usr/bin/storage-init",
        "/containers/services/debug/config.json",
        "/containers/services/debug/lower/usr/bin/debug-service",
        "/etc/hello-eve/motd",        // files section
        "/etc/hello-eve/hv-modifier", // added by images/modifiers/hv/kvm.yq
        "/etc/eve-release",
        "/etc/linuxkit-eve-config.yml",
        "/opt/vendor",
    ] {
        assert!(
            listing.lines().any(|l| l == path),
            "{path} missing from rootfs.img:\n{listing}"
        );
    }
    let cat = |path: &str| {
        let dir = p.tmp.path().join("cat");
        let _ = fs::remove_dir_all(&dir);
        tool_ok(
            "unsquashfs",
            &[
                "-q",
                "-n",
                "-d",
                dir.to_str().unwrap(),
                rootfs.to_str().unwrap(),
                path,
            ],
        );
        fs::read(dir.join(path)).unwrap()
    };
    let yml = fs::read_to_string(p.root.join("images/rootfs.yml.in")).unwrap();
    let cmdline = yml
        .lines()
        .find_map(|l| l.trim().strip_prefix("cmdline: "))
        .unwrap()
        .trim_matches('"');
    assert_eq!(cat("boot/cmdline"), cmdline.as_bytes());
    assert_eq!(
        cat("etc/eve-release"),
        format!("{VERSION}-kvm-amd64").as_bytes()
    );
    assert_eq!(cat("etc/eve-hv-type"), b"kvm");
    let config_json =
        String::from_utf8(cat("containers/onboot/000-storage-init/config.json")).unwrap();
    assert!(
        config_json.contains("\"/usr/bin/storage-init\""),
        "{config_json}"
    );
    assert!(
        config_json.contains("\"CAP_SYS_ADMIN\""),
        "label capabilities: all → {config_json}"
    );

    // config.img: FAT, every conf/ file back byte for byte (symlinks followed).
    let fsck = tool_ok("fsck.fat", &["-n", config.to_str().unwrap()]);
    assert!(
        !fsck.contains("differ") && !fsck.to_lowercase().contains("error"),
        "{fsck}"
    );
    let conf = p.root.join("conf");
    for rel in [
        "server",
        "onboard.cert.pem",
        "root-certificate.pem",
        "DevicePortConfig/override.json",
    ] {
        let got = tool_ok(
            "mtype",
            &["-i", config.to_str().unwrap(), &format!("::/{rel}")],
        );
        assert_eq!(got.as_bytes(), fs::read(conf.join(rel)).unwrap(), "{rel}");
    }
    let dir = tool_ok("mdir", &["-b", "-i", config.to_str().unwrap(), "::/"]);
    assert!(
        dir.contains(&format!("origin.2023-11-14.{VERSION}")),
        "origin marker:\n{dir}"
    );

    // live.raw: the seed's GPT, as sgdisk reads it.
    let verify = tool_ok("sgdisk", &["-v", raw.to_str().unwrap()]);
    assert!(verify.contains("No problems found"), "{verify}");
    let parts = [
        (
            1,
            "EFI System",
            "C12A7328-F81F-11D2-BA4B-00A0C93EC93B",
            "51",
            "0000000000000004",
        ),
        (
            2,
            "IMGA",
            "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6",
            "52",
            "0102000000000000",
        ),
        (
            3,
            "IMGB",
            "5DFBF5F4-2848-4BAC-AA5E-0D9A20B745A6",
            "53",
            "0000000000000000",
        ),
        (
            4,
            "CONFIG",
            "13307E62-CD9C-4920-8F9B-91B45828B798",
            "54",
            "0000000000000000",
        ),
        (
            9,
            "P3",
            "5F24425A-2DFA-11E8-A270-7B663FACCC2C",
            "59",
            "0000000000000000",
        ),
    ];
    for (n, name, ty, guid_tail, attrs) in parts {
        let info = tool_ok("sgdisk", &["-i", &n.to_string(), raw.to_str().unwrap()]);
        assert!(
            info.contains(&format!("Partition name: '{name}'")),
            "#{n}:\n{info}"
        );
        assert!(
            info.contains(&format!("Partition GUID code: {ty}")),
            "#{n}:\n{info}"
        );
        assert!(
            info.contains(&format!(
                "Partition unique GUID: AD6871EE-31F9-4CF3-9E09-6F7A25C300{guid_tail}"
            )),
            "#{n}:\n{info}"
        );
        assert!(
            info.contains(&format!("Attribute flags: {attrs}")),
            "#{n}:\n{info}"
        );
    }
    // IMGA holds rootfs.img, CONFIG holds config.img.
    let (off, _) = partition(&raw, 2);
    let head = p.tmp.path().join("imga.head");
    let rootfs_len = fs::metadata(&rootfs).unwrap().len();
    extract(&raw, off, rootfs_len, &head);
    assert_eq!(fs::read(&head).unwrap(), fs::read(&rootfs).unwrap());
    // The ESP: a clean FAT with the grub package's loader and EVE's chainload stub.
    let (off, len) = partition(&raw, 1);
    let esp = p.tmp.path().join("esp.img");
    extract(&raw, off, len, &esp);
    let fsck = tool_ok("fsck.fat", &["-n", esp.to_str().unwrap()]);
    assert!(!fsck.to_lowercase().contains("error"), "{fsck}");
    let loader = tool_ok(
        "mtype",
        &["-i", esp.to_str().unwrap(), "::/EFI/BOOT/BOOTX64.EFI"],
    );
    let placeholder = fs::read(p.root.join("pkg/grub/placeholder/EFI/BOOT/BOOTX64.EFI")).unwrap();
    assert_eq!(loader.as_bytes(), placeholder);
    let stub = tool_ok(
        "mtype",
        &["-i", esp.to_str().unwrap(), "::/EFI/BOOT/grub.cfg"],
    );
    assert!(
        stub.contains("chainloader") && stub.contains("ad6871ee-31f9-4cf3-9e09-6f7a25c30052"),
        "{stub}"
    );

    // live.qcow2: clean, and the same disk as live.raw.
    tool_ok("qemu-img", &["check", qcow2.to_str().unwrap()]);
    let cmp = tool_ok(
        "qemu-img",
        &[
            "compare",
            "-f",
            "raw",
            "-F",
            "qcow2",
            raw.to_str().unwrap(),
            qcow2.to_str().unwrap(),
        ],
    );
    assert!(cmp.contains("Images are identical"), "{cmp}");
    let info = tool_ok(
        "qemu-img",
        &["info", "--output=json", qcow2.to_str().unwrap()],
    );
    assert!(
        info.contains("\"virtual-size\": 34359738368"),
        "grown to MEDIA_SIZE (32 GiB):\n{info}"
    );
}

#[test]
fn same_inputs_same_bytes_in_another_directory_store_and_clock() {
    let p = Project::new();
    let a = build_live(&p);
    let other = p.tmp.path().join("elsewhere");
    let b = Run {
        out: p
            .evebuild()
            .args([
                "ROOTFS_VERSION=0.0.0-test",
                "--dist",
                other.to_str().unwrap(),
                "live",
                "live-raw",
            ])
            .env("LINUXKIT_CACHE", p.tmp.path().join("cache2"))
            .env("TZ", "Pacific/Kiritimati")
            .output()
            .unwrap(),
    };
    assert!(b.ok(), "{}", b.text());
    let a: Vec<_> = a
        .artifacts()
        .into_iter()
        .map(|(path, sha, _)| (path.file_name().unwrap().to_owned(), sha))
        .collect();
    let b: Vec<_> = b
        .artifacts()
        .into_iter()
        .map(|(path, sha, _)| (path.file_name().unwrap().to_owned(), sha))
        .collect();
    assert_eq!(a.len(), 4, "{a:?}");
    assert_eq!(a, b);
}

#[test]
fn nothing_changed_nothing_rebuilt_and_a_package_change_rebuilds_its_dependants() {
    let p = Project::new();
    build_live(&p);
    let again = build_live(&p);
    assert!(
        again.artifacts().iter().all(|(_, _, s)| s == "up to date"),
        "{}",
        again.text()
    );
    assert!(
        again.stderr().contains("nothing was rebuilt"),
        "{}",
        again.text()
    );

    p.write("pkg/fw/firmware/hello-eve.fw", "new firmware\n");
    p.commit("new firmware");
    let changed = build_live(&p);
    let err = changed.stderr();
    assert!(err.contains("pkg/fw: built"), "{}", changed.text());
    for untouched in [
        "pkg/debug",
        "pkg/kernel",
        "pkg/grub",
        "pkg/storage-init",
        "pkg/dom0-ztools",
    ] {
        assert!(
            err.contains(&format!("{untouched}: up to date")),
            "{untouched}:\n{}",
            changed.text()
        );
    }
    let state = |name: &str| {
        changed
            .artifacts()
            .into_iter()
            .find(|(path, _, _)| path.ends_with(name))
            .map(|(_, _, s)| s)
            .unwrap()
    };
    assert_eq!(state("rootfs.img"), "built");
    assert_eq!(state("live.qcow2"), "built");
    assert_eq!(state("config.img"), "up to date");
}

#[test]
fn bad_input_names_the_problem_and_leaves_no_artifact() {
    let p = Project::new();
    let no_artifacts = |p: &Project| {
        let dist = p.dist(VERSION);
        for a in ["installer/rootfs.img", "live.qcow2", "live.raw"] {
            assert!(!dist.join(a).exists(), "{a} was left behind");
        }
        if let Ok(entries) = fs::read_dir(dist.join("installer")) {
            for e in entries {
                let n = e.unwrap().file_name();
                assert!(
                    !n.to_string_lossy().ends_with(".tmp"),
                    "temporary {n:?} left behind"
                );
            }
        }
    };

    let r = p.fail(&["-C", "/nonexistent/eve", "live"]);
    assert!(
        r.stderr().contains("/nonexistent/eve") && r.stderr().contains("does not exist"),
        "{}",
        r.text()
    );

    // EVE's size cap on the squashfs rootfs (290 MB by default), lowered to trip it.
    let r = p.fail(&["ROOTFS_VERSION=0.0.0-test", "ROOTFS_MAXSIZE_MB=0", "live"]);
    assert!(
        r.stderr()
            .contains("is greater than 0MB (bigger than allocated partition)"),
        "{}",
        r.text()
    );
    no_artifacts(&p);

    let r = p.fail(&["HV=foo", "live"]);
    assert!(
        r.stderr().contains("Unsupported hypervisor foo"),
        "{}",
        r.text()
    );

    let yml = fs::read_to_string(p.root.join("images/rootfs.yml.in")).unwrap();
    p.write(
        "images/rootfs.yml.in",
        yml.replace("services:", "colour: blue\nservices:"),
    );
    let r = p.fail(&["ROOTFS_VERSION=0.0.0-test", "live"]);
    assert!(r.stderr().contains("colour"), "names the key: {}", r.text());
    assert!(
        r.stderr().contains("rootfs"),
        "names the file: {}",
        r.text()
    );
    no_artifacts(&p);

    p.write(
        "images/rootfs.yml.in",
        yml.replace("  - FW_TAG", "  - FW_TAG\n  - NO_SUCH_PACKAGE_TAG"),
    );
    let r = p.fail(&["ROOTFS_VERSION=0.0.0-test", "live"]);
    assert!(r.stderr().contains("NO_SUCH_PACKAGE_TAG"), "{}", r.text());
    assert!(r.stderr().contains("line"), "names the line: {}", r.text());
    no_artifacts(&p);
    p.write("images/rootfs.yml.in", &yml);

    // A Dockerfile with RUN and no container builder on PATH.
    let df = p.root.join("pkg/debug/Dockerfile");
    let text = fs::read_to_string(&df).unwrap();
    fs::write(&df, text.replace("COPY bin/", "RUN echo hi\nCOPY bin/")).unwrap();
    let bin = p.tmp.path().join("bin");
    fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(which("git"), bin.join("git")).unwrap();
    let r = Run {
        out: p
            .evebuild()
            .args(["ROOTFS_VERSION=0.0.0-test", "live"])
            .env("PATH", &bin)
            .output()
            .unwrap(),
    };
    assert!(!r.ok());
    assert!(
        r.stderr().contains("RUN") && r.stderr().contains("buildah"),
        "{}",
        r.text()
    );
    assert!(
        r.stderr().contains("pkg/debug"),
        "names the package: {}",
        r.text()
    );
    no_artifacts(&p);
}

fn which(name: &str) -> std::path::PathBuf {
    for dir in std::env::var("PATH").unwrap().split(':') {
        let c = Path::new(dir).join(name);
        if c.is_file() {
            return c;
        }
    }
    panic!("{name} not on PATH");
}
