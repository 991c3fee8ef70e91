//! Ordered parallel map: items are processed on worker threads and handed to a sink in input
//! order, so parallel compression gives the same bytes as serial compression.
//!
//! The calling thread reads the input and runs the sink (the I/O); workers run the CPU work.
//! At most `2 × threads` items are in flight, which bounds memory.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

/// The number of worker threads to use by default: the available parallelism.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `work` (with per-thread state from `init`) over `input` on `threads` workers and calls
/// `sink` with the results in input order. Stops at the first error from `input` or `sink`.
pub(crate) fn ordered_map<T, R, S, E>(
    input: impl Iterator<Item = Result<T, E>>,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    T: Send,
    R: Send,
{
    let threads = threads.max(1);
    let limit = threads * 2;
    std::thread::scope(|scope| {
        let (job_tx, job_rx) = mpsc::sync_channel::<(u64, T)>(limit);
        let job_rx = Arc::new(Mutex::new(job_rx));
        let (res_tx, res_rx) = mpsc::channel::<(u64, R)>();
        for _ in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let res_tx = res_tx.clone();
            let (init, work) = (&init, &work);
            scope.spawn(move || {
                let mut state = init();
                loop {
                    let job = job_rx.lock().expect("job queue lock").recv();
                    let Ok((seq, item)) = job else { break };
                    if res_tx.send((seq, work(&mut state, item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);

        let mut input = input;
        let mut job_tx = Some(job_tx);
        let (mut sent, mut done) = (0u64, 0u64);
        let mut pending = BTreeMap::new();
        loop {
            while sent - done < limit as u64 {
                let Some(tx) = &job_tx else { break };
                match input.next() {
                    Some(item) => {
                        tx.send((sent, item?))
                            .expect("workers outlive the job queue");
                        sent += 1;
                    }
                    None => job_tx = None,
                }
            }
            if sent == done {
                return Ok(());
            }
            let (seq, result) = res_rx.recv().expect("a worker holds a result sender");
            pending.insert(seq, result);
            while let Some(result) = pending.remove(&done) {
                sink(result)?;
                done += 1;
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_input_order() {
        let mut out = Vec::new();
        ordered_map(
            (0..1000u64).map(Ok::<_, ()>),
            3,
            || (),
            |_, x| {
                if x % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_micros(200));
                }
                x * 2
            },
            |r| {
                out.push(r);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(out, (0..1000u64).map(|x| x * 2).collect::<Vec<_>>());
    }

    #[test]
    fn stops_on_sink_error() {
        let r = ordered_map(
            (0..100u64).map(Ok),
            2,
            || (),
            |_, x| x,
            |x| if x == 5 { Err(x) } else { Ok(()) },
        );
        assert_eq!(r, Err(5));
    }
}
