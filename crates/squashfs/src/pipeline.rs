//! Parallel block compression with a fixed output order.
//!
//! Blocks are numbered as they are submitted; worker threads compress them in any order, and
//! results are handed back strictly in submission order, so what is written (and where) never
//! depends on thread timing. The number of blocks in flight is bounded, which bounds memory.
//! With one thread no workers are started and blocks are compressed as they are submitted.

use crate::compress::{Bcj, Compression, Compressor, Packed};
use crossbeam_channel::{Receiver, Sender};
use std::collections::BTreeMap;
use std::io;
use std::thread::JoinHandle;

/// One block to compress.
pub struct Job {
    /// The uncompressed bytes.
    pub data: Vec<u8>,
    /// xz branch filter for this block.
    pub filter: Option<Bcj>,
    /// Store an all-zero block as a hole instead of compressing it.
    pub detect_sparse: bool,
}

/// A compressed block.
pub enum Done {
    /// All zeros, `n` bytes long: nothing is written.
    Sparse(usize),
    /// Compressed (or stored) bytes.
    Packed(Packed),
}

fn run(c: &mut Compressor, job: Job) -> io::Result<Done> {
    if job.detect_sparse && job.data.iter().all(|b| *b == 0) {
        return Ok(Done::Sparse(job.data.len()));
    }
    c.data_block(job.data, job.filter).map(Done::Packed)
}

/// The compression stage: submit blocks, take results back in order.
pub struct Pipeline {
    inline: Option<Compressor>,
    jobs: Option<Sender<(u64, Job)>>,
    results: Receiver<(u64, io::Result<Done>)>,
    workers: Vec<JoinHandle<()>>,
    submitted: u64,
    next: u64,
    ready: BTreeMap<u64, io::Result<Done>>,
    max_in_flight: usize,
}

impl Pipeline {
    /// Starts `threads` compression workers (none when `threads` is 1).
    pub fn new(compression: &Compression, block_size: u32, threads: usize) -> io::Result<Self> {
        let (res_tx, results) = crossbeam_channel::unbounded();
        let mut p = Pipeline {
            inline: None,
            jobs: None,
            results,
            workers: Vec::new(),
            submitted: 0,
            next: 0,
            ready: BTreeMap::new(),
            max_in_flight: 4 * threads + 2,
        };
        if threads <= 1 {
            p.inline = Some(Compressor::new(compression, block_size)?);
            return Ok(p);
        }
        let (job_tx, job_rx) = crossbeam_channel::unbounded::<(u64, Job)>();
        for i in 0..threads {
            let mut c = Compressor::new(compression, block_size)?;
            let rx = job_rx.clone();
            let tx = res_tx.clone();
            let handle = std::thread::Builder::new()
                .name(format!("squashfs-compress-{i}"))
                .spawn(move || {
                    for (seq, job) in rx {
                        if tx.send((seq, run(&mut c, job))).is_err() {
                            break;
                        }
                    }
                })?;
            p.workers.push(handle);
        }
        p.jobs = Some(job_tx);
        Ok(p)
    }

    /// Blocks submitted and not yet taken back.
    pub fn in_flight(&self) -> usize {
        (self.submitted - self.next) as usize
    }

    /// True when the caller should take results back before submitting more.
    pub fn full(&self) -> bool {
        self.in_flight() >= self.max_in_flight
    }

    /// Queues a block; results come back from [`Pipeline::next_done`] in submission order.
    pub fn submit(&mut self, job: Job) {
        let seq = self.submitted;
        self.submitted += 1;
        match (&mut self.inline, &self.jobs) {
            (Some(c), _) => {
                let r = run(c, job);
                self.ready.insert(seq, r);
            }
            (None, Some(tx)) => tx
                .send((seq, job))
                .expect("compression workers live as long as the pipeline"),
            (None, None) => unreachable!("a pipeline has workers or compresses inline"),
        }
    }

    /// The next result in submission order: waits for it when `wait`, else only if it is
    /// already there. `None` when nothing is in flight (or not ready and not waiting).
    pub fn next_done(&mut self, wait: bool) -> Option<io::Result<Done>> {
        if self.in_flight() == 0 {
            return None;
        }
        loop {
            if let Some(r) = self.ready.remove(&self.next) {
                self.next += 1;
                return Some(r);
            }
            let got = if wait {
                self.results.recv().ok()
            } else {
                self.results.try_recv().ok()
            };
            match got {
                Some((seq, r)) => {
                    self.ready.insert(seq, r);
                }
                None if wait => {
                    return Some(Err(io::Error::other("a compression thread stopped")));
                }
                None => return None,
            }
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
