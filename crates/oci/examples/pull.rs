//! Benchmark helper for bench/pull.sh.
//!
//! `pull make <layout-dir> <ref> <megabytes> <layers>`: writes a single-platform (linux/amd64)
//! image of incompressible gzip layers into an OCI layout (for skopeo to push).
//! `pull get <store-dir> <ref> [jobs]`: pulls the linux/amd64 image of `<ref>` into a store and
//! prints the bytes fetched, seconds and MB/s.

use std::time::Instant;

#[path = "../tests/common/noise.rs"]
mod noise;
use noise::noise;

use evebuild_oci::spec::{ConfigBuilder, ImageConfigurationBuilder, RootFsBuilder};
use evebuild_oci::{
    ClientOptions, Compression, Platform, PullOptions, Reference, RegistryClient, Store, pull,
};

fn make(
    dir: &str,
    name: &str,
    megabytes: usize,
    layers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(std::path::Path::new(dir))?;
    let per_layer = megabytes * 1_000_000 / layers;
    let mut written = Vec::new();
    for i in 0..layers {
        let data = noise(per_layer, i as u64 + 1);
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        tar.append_data(&mut h, format!("data/layer{i}"), &data[..])?;
        written.push(store.write_layer(&tar.into_inner()?[..], Compression::Gzip)?);
    }
    let config = ImageConfigurationBuilder::default()
        .architecture("amd64")
        .os("linux")
        .config(ConfigBuilder::default().build()?)
        .rootfs(
            RootFsBuilder::default()
                .typ("layers")
                .diff_ids(Vec::<String>::new())
                .build()?,
        )
        .build()?;
    let desc = store.write_image(&config, &written)?;
    store.tag(&Reference::parse(name)?, desc)?;
    Ok(())
}

fn get(dir: &str, name: &str, jobs: usize) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(std::path::Path::new(dir))?;
    let client = RegistryClient::new(ClientOptions::default())?;
    let mut opts = PullOptions::new(Platform::linux("amd64"));
    opts.jobs = jobs;
    opts.force = true;
    let start = Instant::now();
    let image = pull(&store, &client, &Reference::parse(name)?, &opts)?;
    let secs = start.elapsed().as_secs_f64();
    let bytes: u64 = image.layers().iter().map(|l| l.size()).sum();
    println!(
        "{bytes} bytes in {secs:.3} s = {:.1} MB/s",
        bytes as f64 / secs / 1e6
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("make") if args.len() == 6 => {
            make(&args[2], &args[3], args[4].parse()?, args[5].parse()?)
        }
        Some("get") if args.len() >= 4 => get(
            &args[2],
            &args[3],
            args.get(4).map_or(Ok(4), |j| j.parse())?,
        ),
        _ => Err("usage: pull make <dir> <ref> <MB> <layers> | pull get <dir> <ref> [jobs]".into()),
    }
}
