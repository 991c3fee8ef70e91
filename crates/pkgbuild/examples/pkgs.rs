//! Builds every package of a pkg/ directory into a store: `pkgs <pkg-root> <store> [--force]`.
//! Used by bench/pkgbuild.sh; the evebuild CLI is the user-facing way to do this.

use evebuild_oci::Store;
use evebuild_pkgbuild::{AllOptions, BuildOptions, build_all, pkgs::Quiet};
use std::path::Path;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (root, store) = (Path::new(&args[1]), Path::new(&args[2]));
    std::fs::create_dir_all(store).expect("store dir");
    let store = Store::open(store).expect("store");
    let o = AllOptions {
        build: BuildOptions {
            force: args.iter().any(|a| a == "--force"),
            arches: Some(vec![evebuild_pkgbuild::package::host_arch()]),
            ..Default::default()
        },
        jobs: 2,
        exclude: vec![],
    };
    let s = build_all(&store, root, &o, &Quiet).expect("pkgs");
    for (n, e) in &s.failed {
        eprintln!("{n}: {e}");
    }
    println!(
        "built {} failed {} skipped {}",
        s.built.len(),
        s.failed.len(),
        s.skipped.len()
    );
}
