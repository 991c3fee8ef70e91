//! What the writer refuses, and how it says so: each error names the entry and the limit.

use evebuild_squashfs::{Error, Options, SquashfsWriter};
use evebuild_tree::{Entry, EntryPath, Kind, Sink};
use std::io::Cursor;

fn p(s: &str) -> EntryPath {
    EntryPath::new(s).unwrap()
}

fn writer() -> SquashfsWriter<Cursor<Vec<u8>>> {
    let opts = Options {
        threads: 1,
        ..Options::default()
    };
    SquashfsWriter::new(Cursor::new(Vec::new()), opts).unwrap()
}

fn add(w: &mut SquashfsWriter<Cursor<Vec<u8>>>, e: Entry, data: &[u8]) -> Result<(), Error> {
    w.add(&e, &mut &data[..])
}

#[test]
fn xattrs_outside_the_kept_namespaces_are_refused() {
    let mut w = writer();
    let mut e = Entry::file(p("etc/acl"), 1, 0o644, 0);
    e.xattrs = vec![(b"system.posix_acl_access".to_vec(), vec![2, 0, 0, 0])];
    let err = add(&mut w, e, b"x").unwrap_err().to_string();
    assert!(
        err.contains("/etc/acl")
            && err.contains("system.posix_acl_access")
            && err.contains("user.*"),
        "{err}"
    );
}

#[test]
fn more_than_65536_ids_are_refused() {
    let mut w = writer();
    for uid in 1..65536u32 {
        let mut e = Entry::new(p(&format!("f{uid}")), Kind::Fifo, 0o600, 0);
        e.uid = uid;
        add(&mut w, e, b"").unwrap();
    }
    let mut e = Entry::new(p("one-too-many"), Kind::Fifo, 0o600, 0);
    e.uid = 65536;
    let err = add(&mut w, e, b"").unwrap_err().to_string();
    assert!(
        err.contains("/one-too-many") && err.contains("65536"),
        "{err}"
    );
}

#[test]
fn broken_streams_are_refused() {
    let mut w = writer();
    add(&mut w, Entry::file(p("a"), 1, 0o644, 0), b"a").unwrap();
    add(&mut w, Entry::dir(p("d"), 0o755, 0), b"").unwrap();
    assert!(matches!(
        add(&mut w, Entry::file(p("a"), 1, 0o644, 0), b"a"),
        Err(Error::Duplicate(_))
    ));
    let link = |t: &str| Entry::new(p("l"), Kind::Hardlink { target: p(t) }, 0o644, 0);
    assert!(matches!(
        add(&mut w, link("missing"), b""),
        Err(Error::Hardlink { .. })
    ));
    assert!(matches!(
        add(&mut w, link("d"), b""),
        Err(Error::Hardlink { .. })
    ));
    let err = add(&mut w, Entry::file(p("a/under-a-file"), 0, 0o644, 0), b"").unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
    let err = add(&mut w, Entry::file(p("short"), 10, 0o644, 0), b"abc").unwrap_err();
    assert!(
        matches!(
            err,
            Error::ShortData {
                expected: 10,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = add(&mut w, Entry::file(p("long"), 2, 0o644, 0), b"abc").unwrap_err();
    assert!(matches!(err, Error::ShortData { .. }), "{err}");
    let dev = Entry::new(
        p("dev"),
        Kind::CharDevice {
            major: 4096,
            minor: 0,
        },
        0o600,
        0,
    );
    assert!(
        add(&mut w, dev, b"")
            .unwrap_err()
            .to_string()
            .contains("4095")
    );
    let empty = Entry::symlink(p("empty-link"), "", 0);
    assert!(add(&mut w, empty, b"").is_err());
}

#[test]
fn bad_options_are_refused() {
    for opts in [
        Options {
            block_size: 100_000,
            ..Options::default()
        },
        Options {
            block_size: 2 << 20,
            ..Options::default()
        },
        Options {
            compression: evebuild_squashfs::Compression::Zstd { level: 40 },
            ..Options::default()
        },
    ] {
        assert!(SquashfsWriter::new(Cursor::new(Vec::new()), opts).is_err());
    }
}
