//! Writes an EVE disk image from partition images, in any output format, without a raw
//! intermediate: `eve-image --preset eve17-live --rootfs rootfs.img [--config config.img]
//! [--esp esp.img] [--persist persist.img] [--installer installer.img]
//! [--boot-img BOOT.img --boot-pc BOOT.pc] [--media-size MiB] [--seed TEXT] [--threads N]
//! [--mtime SECONDS] --format raw|qcow2|vdi|parallels|vmdk|vhd|gcp --out PATH`.
//!
//! A driver for benchmarks and manual checks; the evebuild CLI is the real entry point.

use evebuild_disk::{Guid, gce, parallels, qcow2, raw, vdi, vhd, vmdk};
use evebuild_eve::partitions::{self, Inputs, LegacyGrub, PRESETS};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn main() {
    if let Err(e) = run() {
        eprintln!("eve-image: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: HashMap<String, String> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or(format!("unexpected argument {flag:?}"))?;
        let value = it.next().ok_or(format!("--{name} needs a value"))?;
        args.insert(name.to_owned(), value);
    }
    let get = |k: &str| args.get(k).map(String::as_str);
    let path = |k: &str| get(k).map(PathBuf::from);
    let size_of = |k: &str| -> Result<u64, std::io::Error> {
        path(k).map_or(Ok(0), |p| std::fs::metadata(p).map(|m| m.len()))
    };

    let preset_name = get("preset").unwrap_or("eve17-live");
    let preset = PRESETS
        .iter()
        .find(|p| p.name == preset_name)
        .ok_or(format!("unknown preset {preset_name}"))?;
    let seed = get("seed").unwrap_or("eve-image").as_bytes().to_vec();
    let inputs = Inputs {
        rootfs: size_of("rootfs")?,
        installer: size_of("installer")?,
        persist: size_of("persist")?,
        guid_seed: seed.clone(),
    };
    let layout = preset.layout_spec(&inputs)?.place_sized()?;
    let legacy = match (path("boot-img"), path("boot-pc")) {
        (Some(img), Some(pc)) => Some(LegacyGrub::new(&std::fs::read(img)?, &std::fs::read(pc)?)?),
        _ => None,
    };
    let mut disk = partitions::disk(&layout, legacy.as_ref())?;
    for (flag, key) in [
        ("esp", "efi"),
        ("rootfs", "imga"),
        (
            "config",
            if preset.parts.contains(&partitions::Part::ConfWin) {
                "conf_win"
            } else {
                "conf"
            },
        ),
        ("installer", "installer"),
        ("persist", "persist"),
    ] {
        if let Some(p) = path(flag) {
            layout.add_file(&mut disk, key, &p)?;
        }
    }

    let media = get("media-size")
        .map(|m| m.parse::<u64>().map(|m| m << 20))
        .transpose()?;
    let threads = get("threads").map(str::parse).transpose()?;
    let mtime = get("mtime").map(str::parse).transpose()?.unwrap_or(0);
    let out = path("out").ok_or("--out is required")?;
    let out: &Path = &out;
    match get("format").unwrap_or("raw") {
        "raw" => raw::write(&disk, out, media)?,
        "qcow2" => qcow2::write(
            &disk,
            out,
            &qcow2::Options {
                virtual_size: media,
                compress: true,
                threads,
            },
        )?,
        "vdi" => vdi::write(&disk, out, &vdi::Options::from_seed(&seed, media))?,
        "parallels" => parallels::write_bundle(
            &disk,
            out,
            &parallels::Bundle {
                virtual_size: media,
                prefix: "live".into(),
                image_guid: Guid::from_text("5fbaabe3-6958-40ff-92a7-860e329aab41"),
                disk_uid: Guid::derive(&seed, "parallels disk"),
                name: "eve".into(),
            },
        )?,
        "vmdk" => vmdk::write(
            &disk,
            out,
            &vmdk::Options {
                virtual_size: media,
                cid: 0x0e0e0e0e,
            },
        )?,
        "vhd" => vhd::write(
            &disk,
            out,
            &vhd::Options {
                virtual_size: media,
                unique_id: Guid::derive(&seed, "vhd"),
                timestamp: mtime,
            },
        )?,
        "gcp" => gce::write(
            &disk,
            out,
            &gce::Options {
                virtual_size: media,
                mtime,
                threads,
            },
        )?,
        other => return Err(format!("unknown format {other}").into()),
    }
    Ok(())
}
