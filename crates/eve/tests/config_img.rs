//! config.img checked with fsck.fat and mtools (Debian packages dosfstools and mtools).

use evebuild_eve::config_img::{
    ConfigImgError, ConfigImgOptions, EVE17_SIZE, build_config_img, marker_name,
};
use std::fs;
use std::path::Path;
use std::process::Command;

/// 2023-11-14 22:13:20 UTC
const SDE: i64 = 1_700_000_000;
const VERSION: &str = "0.0.0-master-2c6b4154";

/// The output of `name args…` (Debian package `package`).
fn tool_output(name: &str, package: &str, args: &[&str]) -> String {
    evebuild_testkit::run(Command::new(evebuild_testkit::tool(name, package)).args(args))
}

/// EVE's default conf/: root-certificate.pem is a symlink out of conf/ (tar -h follows it).
fn eve_conf(root: &Path) -> std::path::PathBuf {
    let conf = root.join("conf");
    fs::create_dir_all(conf.join("DevicePortConfig")).unwrap();
    fs::create_dir_all(root.join("pkg/pillar/conf")).unwrap();
    fs::write(
        conf.join("DevicePortConfig/override.json.template"),
        "{\"Version\": 1, \"Ports\": []}\n",
    )
    .unwrap();
    fs::write(
        conf.join("grub.cfg.tmpl"),
        "set_global dom0_extra_args \"$dom0_extra_args\"\n",
    )
    .unwrap();
    fs::write(
        conf.join("onboard.cert.pem"),
        "-----BEGIN CERTIFICATE-----\nMIIB\n",
    )
    .unwrap();
    fs::write(
        conf.join("onboard.key.pem"),
        "-----BEGIN PRIVATE KEY-----\nMIIE\n",
    )
    .unwrap();
    fs::write(conf.join("server"), "zedcloud.alpha.zededa.net\n").unwrap();
    fs::write(
        root.join("pkg/pillar/conf/root-certificate.pem"),
        "ROOT CERT\n",
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "../pkg/pillar/conf/root-certificate.pem",
        conf.join("root-certificate.pem"),
    )
    .unwrap();
    conf
}

#[test]
fn config_img_holds_conf_and_the_marker() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = eve_conf(tmp.path());
    for (size, sectors) in [(None, "2048"), (Some(EVE17_SIZE), "10240")] {
        let mut opts = ConfigImgOptions::new(VERSION, SDE);
        if let Some(s) = size {
            opts.size = s;
        }
        let img = tmp.path().join("config.img");
        let summary = build_config_img(&conf, &opts, &img).unwrap();
        assert_eq!(summary.geometry.fat_type, evebuild_fat::FatType::Fat12);
        let img_s = img.to_str().unwrap();
        assert_eq!(fs::metadata(&img).unwrap().len(), opts.size);

        tool_output("fsck.fat", "dosfstools", &["-n", img_s]);

        let minfo = tool_output("minfo", "mtools", &["-i", img_s, "::"]);
        assert!(minfo.contains("disk label=\"EVE        \""), "{minfo}");
        assert!(minfo.contains("disk type=\"FAT12   \""), "{minfo}");
        assert!(
            minfo.contains(&format!("small size: {sectors} sectors")),
            "{minfo}"
        );

        for f in [
            "DevicePortConfig/override.json.template",
            "grub.cfg.tmpl",
            "onboard.cert.pem",
            "onboard.key.pem",
            "server",
            "root-certificate.pem",
        ] {
            let got = tool_output("mtype", "mtools", &["-i", img_s, &format!("::/{f}")]);
            assert_eq!(got.as_bytes(), fs::read(conf.join(f)).unwrap(), "{f}");
        }
        let marker = marker_name(VERSION, SDE);
        assert_eq!(marker, "origin.2023-11-14.0.0.0-master-2c6b4154");
        let listing = tool_output("mdir", "mtools", &["-/", "-i", img_s, "::"]);
        assert!(listing.contains(&marker), "{listing}");
        // Every time stamp is SOURCE_DATE_EPOCH (22:13 UTC), whatever the host files say.
        assert_eq!(
            listing.matches("2023-11-14  22:13").count(),
            10,
            "{listing}"
        );
        fs::remove_file(&img).unwrap();
    }
}

#[test]
fn config_img_is_reproducible() {
    let a_dir = tempfile::tempdir().unwrap();
    let b_dir = tempfile::tempdir().unwrap();
    let opts = ConfigImgOptions::new(VERSION, SDE);
    let conf_a = eve_conf(a_dir.path());
    let a = a_dir.path().join("config.img");
    build_config_img(&conf_a, &opts, &a).unwrap();
    // Another checkout: files created in another order, other host times.
    let conf_b = eve_conf(b_dir.path());
    fs::remove_file(conf_b.join("server")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(conf_b.join("server"), "zedcloud.alpha.zededa.net\n").unwrap();
    let b = b_dir.path().join("config.img");
    build_config_img(&conf_b, &opts, &b).unwrap();
    assert!(
        fs::read(&a).unwrap() == fs::read(&b).unwrap(),
        "two builds differ"
    );
    // A content change changes the volume id.
    fs::write(conf_b.join("server"), "other\n").unwrap();
    build_config_img(&conf_b, &opts, &b).unwrap();
    let (a, b) = (fs::read(&a).unwrap(), fs::read(&b).unwrap());
    assert_ne!(a[39..43], b[39..43], "volume id should follow the content");
}

#[test]
fn conf_that_does_not_fit_names_the_size() {
    let tmp = tempfile::tempdir().unwrap();
    let conf = eve_conf(tmp.path());
    fs::write(conf.join("blob"), vec![7u8; 3 * 1024 * 1024]).unwrap();
    let img = tmp.path().join("config.img");
    let err = build_config_img(&conf, &ConfigImgOptions::new(VERSION, SDE), &img).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, ConfigImgError::Fat { .. }), "{msg}");
    assert!(
        msg.contains("an image of at least 4194304 bytes (4 MiB) holds it"),
        "{msg}"
    );
    assert!(!img.exists(), "no partial output");

    let err = build_config_img(&conf, &ConfigImgOptions::new("a/b", SDE), &img).unwrap_err();
    assert!(matches!(err, ConfigImgError::Version(_)), "{err}");

    std::os::unix::fs::symlink("missing", conf.join("dangling")).unwrap();
    let err = build_config_img(&conf, &ConfigImgOptions::new(VERSION, SDE), &img).unwrap_err();
    assert!(err.to_string().contains("dangling"), "{err}");
}
