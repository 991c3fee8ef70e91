//! The decompressed-layer cache: what it serves is what `gzip -dc`/`zstd -dc` make of the blob,
//! damaged entries are rebuilt, concurrent readers agree, garbage collection drops entries of
//! layers no image has, and skopeo and umoci still read the store with the cache beside it.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::process::Command;

use common::*;
use evebuild_oci::{Compression, Digest, Image, Platform, Reference, Store};

/// Stores an image of two layers compressed with `compression`, tags it `name` and resolves it.
fn image(store: &Store, name: &str, compression: Compression, seed: u64) -> Image {
    let layers: Vec<Vec<(&str, Vec<u8>)>> = (0..2u64)
        .map(|i| {
            let data = noise(300_000 + i as usize * 1000, seed + i);
            let text = format!("layer {i} of {name}").repeat(2000);
            vec![("data/noise", data), ("etc/text", text.into_bytes())]
        })
        .collect();
    let platform = Platform::linux("amd64");
    let d = write_image_compressed(store, &platform, &layers, compression);
    let r = Reference::parse(name).unwrap();
    store.tag(&r, d).unwrap();
    store.resolve(&r, &platform).unwrap()
}

/// What the real decompressor makes of layer `i`'s blob.
fn oracle(store: &Store, img: &Image, i: usize) -> Vec<u8> {
    let desc = &img.layers()[i];
    let d = Digest::of_descriptor(desc).unwrap();
    let (tool_name, package) = if desc.media_type().to_string().ends_with("zstd") {
        ("zstd", "zstd")
    } else {
        ("gzip", "gzip")
    };
    let out = Command::new(tool(tool_name, package))
        .arg("-dc")
        .arg(store.blob_path(&d))
        .output()
        .unwrap();
    assert!(out.status.success(), "{tool_name} -dc failed");
    out.stdout
}

fn read_cached(store: &Store, img: &Image, i: usize) -> Vec<u8> {
    let mut out = Vec::new();
    img.open_layer_cached(store, i)
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn diff_id(img: &Image, i: usize) -> Digest {
    Digest::parse(&img.config.rootfs().diff_ids()[i]).unwrap()
}

fn temporaries(store: &Store) -> Vec<String> {
    std::fs::read_dir(store.layer_cache_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect()
}

#[test]
fn cached_layers_equal_the_decompressed_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (n, c) in [
        ("gz.local/a:1", Compression::Gzip),
        ("zst.local/a:1", Compression::Zstd),
    ] {
        let img = image(&store, n, c, 7);
        for i in 0..2 {
            let want = oracle(&store, &img, i);
            let entry = store.layer_cache_path(&diff_id(&img, i));
            assert!(!entry.exists());
            assert_eq!(read_cached(&store, &img, i), want, "{n} layer {i}, filling");
            // The entry is the plain tar plus a 32-byte trailer.
            let raw = std::fs::read(&entry).unwrap();
            assert_eq!(raw.len(), want.len() + 32);
            assert_eq!(&raw[..want.len()], &want[..]);
            assert_eq!(read_cached(&store, &img, i), want, "{n} layer {i}, cached");
        }
    }
    assert!(temporaries(&store).is_empty());

    // Plain layers are their own blobs: nothing is cached.
    let img = image(&store, "plain.local/a:1", Compression::None, 9);
    read_cached(&store, &img, 0);
    assert!(!store.layer_cache_path(&diff_id(&img, 0)).exists());

    // skopeo and umoci are not bothered by the cache directory.
    let skopeo = tool("skopeo", "skopeo");
    let out = run(Command::new(skopeo).args([
        "inspect",
        &format!("oci:{}:gz.local/a:1", dir.path().display()),
    ]));
    assert!(out.contains("\"Architecture\": \"amd64\""), "{out}");
    let (_bundle, rootfs) = umoci_unpack(dir.path(), "gz.local/a:1");
    assert!(rootfs.join("etc/text").is_file());
}

#[test]
fn damaged_entries_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "gz.local/damaged:1", Compression::Gzip, 3);
    let want = oracle(&store, &img, 0);
    let entry = store.layer_cache_path(&diff_id(&img, 0));
    assert_eq!(read_cached(&store, &img, 0), want);
    let good = std::fs::read(&entry).unwrap();

    // Truncated (as a crash before the data reached the disk can leave it).
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&entry)
        .unwrap();
    f.set_len(good.len() as u64 - 100).unwrap();
    drop(f);
    assert_eq!(read_cached(&store, &img, 0), want);
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        good,
        "rebuilt after truncation"
    );

    // Empty.
    std::fs::write(&entry, b"").unwrap();
    assert_eq!(read_cached(&store, &img, 0), want);
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        good,
        "rebuilt after emptying"
    );

    // One byte changed in place, trailer intact (the modification time moves, as any write
    // makes it; set it far back so it differs whatever the clock's granularity).
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&entry)
        .unwrap();
    f.seek(SeekFrom::Start(5000)).unwrap();
    f.write_all(&[good[5000] ^ 0x40]).unwrap();
    f.set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000))
        .unwrap();
    drop(f);
    assert_eq!(read_cached(&store, &img, 0), want);
    assert_eq!(
        std::fs::read(&entry).unwrap(),
        good,
        "rebuilt after corruption"
    );

    // A stream that stops early leaves no entry behind.
    std::fs::remove_file(&entry).unwrap();
    let mut r = img.open_layer_cached(&store, 0).unwrap();
    let mut head = [0u8; 1000];
    r.read_exact(&mut head).unwrap();
    drop(r);
    assert!(!entry.exists());
    assert!(temporaries(&store).is_empty());
}

#[test]
fn a_layer_that_does_not_match_its_diff_id_is_an_error_and_not_cached() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "gz.local/lying:1", Compression::Gzip, 5);
    let wrong = Digest::of(b"not this layer");
    let err = {
        let mut r = store.open_layer_cached(&img.layers()[0], &wrong).unwrap();
        r.read_to_end(&mut Vec::new()).unwrap_err()
    };
    assert!(err.to_string().contains(wrong.as_str()), "{err}");
    assert!(!store.layer_cache_path(&wrong).exists());
    assert!(temporaries(&store).is_empty());
}

#[test]
fn concurrent_readers_agree_and_leave_one_good_entry() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "gz.local/busy:1", Compression::Gzip, 11);
    let want = oracle(&store, &img, 1);
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| read_cached(&store, &img, 1)))
            .collect();
        for h in handles {
            assert!(
                h.join().unwrap() == want,
                "a concurrent reader got other bytes"
            );
        }
    });
    // A second store handle on the same directory (as another process would have) sees a
    // complete entry.
    let other = Store::open(dir.path()).unwrap();
    let raw = std::fs::read(other.layer_cache_path(&diff_id(&img, 1))).unwrap();
    assert_eq!(&raw[..want.len()], &want[..]);
    assert_eq!(raw.len(), want.len() + 32);
    assert!(temporaries(&store).is_empty());
}

#[test]
fn gc_drops_entries_of_layers_no_image_has() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let keep = image(&store, "gz.local/keep:1", Compression::Gzip, 21);
    let drop_ = image(&store, "gz.local/drop:1", Compression::Gzip, 31);
    for i in 0..2 {
        read_cached(&store, &keep, i);
        read_cached(&store, &drop_, i);
    }
    let stray = store.layer_cache_dir().join("not-a-digest");
    std::fs::write(&stray, b"x").unwrap();
    store.gc().unwrap();
    for i in 0..2 {
        assert!(store.layer_cache_path(&diff_id(&keep, i)).exists());
        assert!(store.layer_cache_path(&diff_id(&drop_, i)).exists());
    }
    assert!(!stray.exists());

    let report = store
        .remove(&Reference::parse("gz.local/drop:1").unwrap())
        .unwrap();
    for i in 0..2 {
        assert!(store.layer_cache_path(&diff_id(&keep, i)).exists());
        assert!(!store.layer_cache_path(&diff_id(&drop_, i)).exists());
    }
    // The freed bytes count the cache entries too (each over 300 kB, beyond its blob).
    let blobs: u64 = drop_.layers().iter().map(|l| l.size()).sum();
    assert!(report.freed > blobs + 600_000, "{report:?}");
    assert_eq!(read_cached(&store, &keep, 0), oracle(&store, &keep, 0));
}

/// Collects the names of the entries and the contents of `etc/text`, skipping other contents.
struct Skim {
    names: Vec<String>,
    text: Vec<u8>,
}

impl evebuild_tree::Sink for Skim {
    fn add(
        &mut self,
        e: &evebuild_tree::Entry,
        data: &mut dyn Read,
    ) -> Result<(), evebuild_tree::Error> {
        let name = e.path.to_string();
        if name == "/etc/text" {
            data.read_to_end(&mut self.text).unwrap();
        }
        self.names.push(name);
        Ok(())
    }
}

#[test]
fn skipping_contents_reads_the_same_entries_and_still_fills_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let img = image(&store, "gz.local/skim:1", Compression::Gzip, 41);
    let want = oracle(&store, &img, 0);
    let mut plain = Skim {
        names: Vec::new(),
        text: Vec::new(),
    };
    evebuild_tree::tar::read_tar(&want[..], &mut plain).unwrap();
    assert_eq!(plain.names, ["/data/noise", "/etc/text"]);
    let entry = store.layer_cache_path(&diff_id(&img, 0));
    for pass in ["filling", "cached"] {
        let mut r = img.open_layer_cached(&store, 0).unwrap();
        let mut skim = Skim {
            names: Vec::new(),
            text: Vec::new(),
        };
        evebuild_tree::tar::read_tar_seekable(&mut r, &mut skim).unwrap();
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(skim.names, plain.names, "{pass}");
        assert_eq!(skim.text, plain.text, "{pass}");
        assert_eq!(
            &std::fs::read(&entry).unwrap()[..want.len()],
            &want[..],
            "{pass}"
        );
    }
}
