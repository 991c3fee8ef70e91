//! Feeding one entry stream to two sinks (rootfs.tar and rootfs.img from one assembly).
//!
//! Each file's contents are read once from the producer and replayed to both sinks: held in
//! memory up to [`SPILL_AT`] bytes, in an unnamed temporary file beyond that, so memory stays
//! bounded whatever the file sizes. An entry only one of the sinks [wants](Sink::wants) goes
//! straight to that one, unstaged.

use crate::{Entry, Error, Sink};
use std::io::{Read, Seek, SeekFrom, Write};

/// Files larger than this are staged in a temporary file rather than in memory.
pub const SPILL_AT: u64 = 64 << 20;

/// A sink that forwards every entry (and annotation) to `first`, then to `second`.
pub struct Tee<'a> {
    first: &'a mut dyn Sink,
    second: &'a mut dyn Sink,
    buf: Vec<u8>,
}

impl<'a> Tee<'a> {
    /// A tee over two sinks.
    pub fn new(first: &'a mut dyn Sink, second: &'a mut dyn Sink) -> Self {
        Tee {
            first,
            second,
            buf: Vec::new(),
        }
    }
}

impl Sink for Tee<'_> {
    fn add(&mut self, entry: &Entry, data: &mut dyn Read) -> Result<(), Error> {
        // Only one of the sinks keeps this entry: hand it the contents directly.
        match (self.first.wants(entry), self.second.wants(entry)) {
            (true, false) => return self.first.add(entry, data),
            (false, true) => return self.second.add(entry, data),
            (false, false) => return Ok(()),
            (true, true) => {}
        }
        let size = entry.size();
        let ctx = || format!("staging the contents of {}", entry.path);
        if size == 0 {
            self.first.add(entry, &mut std::io::empty())?;
            return self.second.add(entry, &mut std::io::empty());
        }
        if size <= SPILL_AT {
            self.buf.clear();
            data.take(size)
                .read_to_end(&mut self.buf)
                .map_err(|e| Error::io(ctx(), e))?;
            self.first.add(entry, &mut &self.buf[..])?;
            return self.second.add(entry, &mut &self.buf[..]);
        }
        let mut f = tempfile::tempfile().map_err(|e| Error::io(ctx(), e))?;
        let mut copying = TeeReader {
            inner: data.take(size),
            copy: &mut f,
        };
        self.first.add(entry, &mut copying)?;
        // Whatever the first sink did not read still belongs in the copy.
        std::io::copy(&mut copying, &mut std::io::sink()).map_err(|e| Error::io(ctx(), e))?;
        f.seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(ctx(), e))?;
        self.second.add(entry, &mut f)
    }

    fn annotate(&mut self, records: &[(String, Vec<u8>)]) {
        self.first.annotate(records);
        self.second.annotate(records);
    }

    fn wants(&self, entry: &Entry) -> bool {
        self.first.wants(entry) || self.second.wants(entry)
    }
}

struct TeeReader<'a, R: Read> {
    inner: R,
    copy: &'a mut std::fs::File,
}

impl<R: Read> Read for TeeReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.copy.write_all(&buf[..n])?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EntryPath, MemTree};

    /// Keeps only `a/small`, and fails if handed anything else.
    struct Picky(MemTree);
    impl Sink for Picky {
        fn add(&mut self, e: &Entry, data: &mut dyn Read) -> Result<(), Error> {
            assert_eq!(
                e.path.to_string(),
                "/a/small",
                "an unwanted entry was passed on"
            );
            self.0.add(e, data)
        }
        fn wants(&self, e: &Entry) -> bool {
            e.path.to_string() == "/a/small"
        }
    }

    #[test]
    fn unwanted_entries_go_to_the_other_sink_only() {
        let mut src = MemTree::new();
        src.add_file("a/small", "x", 0o644, 1).unwrap();
        src.add_file("a/big", vec![1u8; 1000], 0o644, 1).unwrap();
        let (mut all, mut picky) = (MemTree::new(), Picky(MemTree::new()));
        src.replay(&mut Tee::new(&mut all, &mut picky)).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(picky.0.len(), 1);
    }

    #[test]
    fn both_sinks_get_every_entry_small_and_spilled() {
        let big = vec![7u8; (SPILL_AT + 3) as usize];
        let mut src = MemTree::new();
        src.add_file("a/small", "x", 0o644, 1).unwrap();
        src.add_file("a/big", big.clone(), 0o644, 1).unwrap();
        let (mut one, mut two) = (MemTree::new(), MemTree::new());
        src.replay(&mut Tee::new(&mut one, &mut two)).unwrap();
        for t in [&one, &two] {
            assert_eq!(t.len(), src.len());
            assert_eq!(
                t.get(&EntryPath::new("a/big").unwrap()).unwrap().1,
                &big[..]
            );
            assert_eq!(t.get(&EntryPath::new("a/small").unwrap()).unwrap().1, b"x");
        }
    }
}
