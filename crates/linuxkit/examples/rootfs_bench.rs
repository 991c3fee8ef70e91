//! Benchmark driver for the rootfs assembler (bench/rootfs.sh runs it).
//!
//! `rootfs_bench make <store> <total-MiB> <images> <gzip|none> <source-dir> <out.yml>` fills an
//! OCI store with `<images>` two-layer images cut from the regular files under
//! `<source-dir>` (about `<total-MiB>` in all) and writes a yml using a third of them as init
//! images and the rest as services. `rootfs_bench assemble <store> <yml> <out.tar>` assembles
//! that yml into rootfs.tar.

use evebuild_linuxkit::assemble::{AssembleContext, assemble};
use evebuild_linuxkit::source::StoreImages;
use evebuild_linuxkit::yml::Config;
use evebuild_oci::{Compression, Platform, Reference, Store};
use evebuild_tree::tar::TarSink;
use std::path::{Path, PathBuf};

#[path = "../tests/common/mod.rs"]
mod common;

fn files_under(dir: &Path, out: &mut Vec<(PathBuf, u64)>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = rd.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            files_under(&p, out);
        } else if m.is_file() && std::fs::File::open(&p).is_ok() {
            out.push((p, m.len()));
        }
    }
}

fn make(args: &[String]) {
    let store = Store::open(Path::new(&args[0])).unwrap();
    let total: u64 = args[1].parse::<u64>().unwrap() << 20;
    let n: usize = args[2].parse().unwrap();
    let compression = if args[3] == "gzip" {
        Compression::Gzip
    } else {
        Compression::None
    };
    let src = Path::new(&args[4]);
    let mut files = Vec::new();
    files_under(src, &mut files);
    let mut picked = Vec::new();
    let mut sum = 0;
    for (p, len) in files {
        if sum >= total {
            break;
        }
        sum += len;
        picked.push(p);
    }
    let mut yml = String::from("init:\n");
    let mut services = String::from("services:\n");
    for i in 0..n {
        let mut layers = Vec::new();
        for l in 0..2 {
            let mut b = tar::Builder::new(Vec::new());
            for (k, p) in picked.iter().enumerate() {
                if k % (2 * n) == 2 * i + l {
                    let name = p.strip_prefix("/").unwrap();
                    b.append_path_with_name(p, name).unwrap();
                }
            }
            let tar = b.into_inner().unwrap();
            layers.push(store.write_layer(&tar[..], compression).unwrap());
        }
        let cfg = common::Cfg {
            cmd: Some(vec!["/bin/true"]),
            ..common::Cfg::default()
        };
        let config = common::image_config("amd64", &cfg);
        let d = store.write_image(&config, &layers).unwrap();
        let name = format!("bench.local/img{i}:1");
        store.tag(&Reference::parse(&name).unwrap(), d).unwrap();
        if i < n / 3 {
            yml.push_str(&format!("  - {name}\n"));
        } else {
            services.push_str(&format!("  - name: svc{i}\n    image: {name}\n"));
        }
    }
    std::fs::write(&args[5], yml + &services).unwrap();
    eprintln!("{} files, {} MiB in {n} images", picked.len(), sum >> 20);
}

fn run_assemble(args: &[String]) {
    let store = Store::open(Path::new(&args[0])).unwrap();
    let text = std::fs::read_to_string(&args[1]).unwrap();
    let config = Config::parse(&text, &args[1]).unwrap();
    let images = StoreImages {
        store: &store,
        platform: Platform::linux("amd64"),
    };
    let ctx = AssembleContext {
        images: &images,
        base_dir: PathBuf::from("."),
        home_dir: None,
    };
    let out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&args[2]).unwrap());
    let mut sink = TarSink::new(out);
    let report = assemble(&config, &ctx, &mut sink).unwrap_or_else(|e| panic!("{e}"));
    sink.finish().unwrap();
    eprintln!("{} entries, {} MiB", report.entries, report.bytes >> 20);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("make") if args.len() == 7 => make(&args[1..]),
        Some("assemble") if args.len() == 4 => run_assemble(&args[1..]),
        _ => {
            eprintln!(
                "usage: rootfs_bench make <store> <MiB> <images> <gzip|none> <src> <out.yml> | assemble <store> <yml> <out.tar>"
            );
            std::process::exit(2);
        }
    }
}
