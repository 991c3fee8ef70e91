//! Benchmark helper for bench/pull.sh.
//!
//! `pull make <layout-dir> <ref> <megabytes> <layers>`: writes a single-platform (linux/amd64)
//! image of incompressible gzip layers into an OCI layout (for skopeo to push).
//! `pull get <store-dir> <ref> [jobs]`: pulls the linux/amd64 image of `<ref>` into a store and
//! prints the bytes fetched, seconds and MB/s.

use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;
use common::{noise, write_image};

use evebuild_oci::{ClientOptions, Platform, PullOptions, Reference, RegistryClient, Store, pull};

fn make(
    dir: &str,
    name: &str,
    megabytes: usize,
    layers: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(std::path::Path::new(dir))?;
    let per_layer = megabytes * 1_000_000 / layers;
    let names: Vec<String> = (0..layers).map(|i| format!("data/layer{i}")).collect();
    let layers: Vec<Vec<(&str, Vec<u8>)>> = names
        .iter()
        .enumerate()
        .map(|(i, n)| vec![(n.as_str(), noise(per_layer, i as u64 + 1))])
        .collect();
    let desc = write_image(&store, &Platform::linux("amd64"), &layers);
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
