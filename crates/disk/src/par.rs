//! Ordered parallel map: items are processed on worker threads and handed to a sink in input
//! order, so parallel compression gives the same bytes as serial compression.
//!
//! Workers pull items from the input themselves (under a lock), so reading keeps going while
//! the calling thread waits for a CPU; the calling thread only runs the sink (the writes). At
//! most `IN_FLIGHT_PER_THREAD × threads` items are taken and not yet sunk, which bounds memory.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};

/// Items a worker may run ahead of the sink, per worker thread.
const IN_FLIGHT_PER_THREAD: usize = 8;

/// The number of worker threads to use by default: the available parallelism.
pub(crate) fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Free slots for items in flight.
struct Slots {
    free: Mutex<usize>,
    changed: Condvar,
}

impl Slots {
    /// Takes a slot; false if the run is over (`free` set to `usize::MAX` means stop).
    fn take(&self) -> bool {
        let mut free = self.free.lock().expect("slot lock");
        while *free == 0 {
            free = self.changed.wait(free).expect("slot lock");
        }
        if *free == usize::MAX {
            return false;
        }
        *free -= 1;
        true
    }

    fn give(&self) {
        let mut free = self.free.lock().expect("slot lock");
        if *free != usize::MAX {
            *free += 1;
        }
        self.changed.notify_one();
    }

    fn stop(&self) {
        *self.free.lock().expect("slot lock") = usize::MAX;
        self.changed.notify_all();
    }
}

/// Runs `work` (with per-thread state from `init`) over `input` on `threads` workers and calls
/// `sink` with the results in input order. Stops at the first error from `input` or `sink`.
pub(crate) fn ordered_map<T, R, S, E>(
    input: impl Iterator<Item = Result<T, E>> + Send,
    threads: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, T) -> R + Sync,
    mut sink: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    R: Send,
    E: Send,
{
    let threads = threads.max(1);
    let input = Mutex::new((0u64, input.fuse()));
    let slots = Slots {
        free: Mutex::new(threads * IN_FLIGHT_PER_THREAD),
        changed: Condvar::new(),
    };
    std::thread::scope(|scope| {
        let (res_tx, res_rx) = mpsc::channel::<(u64, Result<R, E>)>();
        for _ in 0..threads {
            let res_tx = res_tx.clone();
            let (init, work, input, slots) = (&init, &work, &input, &slots);
            scope.spawn(move || {
                let mut state = init();
                while slots.take() {
                    let (seq, item) = {
                        let mut guard = input.lock().expect("input lock");
                        let (next_seq, iter) = &mut *guard;
                        let Some(item) = iter.next() else {
                            slots.give();
                            break;
                        };
                        *next_seq += 1;
                        (*next_seq - 1, item)
                    };
                    let result = item.map(|item| work(&mut state, item));
                    if res_tx.send((seq, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(res_tx);

        let mut pending = BTreeMap::new();
        let mut done = 0u64;
        let outcome = (|| {
            // Ends when every worker has dropped its sender: the input is exhausted.
            for (seq, result) in res_rx.iter() {
                pending.insert(seq, result);
                while let Some(result) = pending.remove(&done) {
                    sink(result?)?;
                    done += 1;
                    slots.give();
                }
            }
            Ok(())
        })();
        slots.stop();
        outcome
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
    fn stops_on_sink_and_input_errors() {
        let r = ordered_map(
            (0..100u64).map(Ok),
            2,
            || (),
            |_, x| x,
            |x| if x == 5 { Err(x) } else { Ok(()) },
        );
        assert_eq!(r, Err(5));
        let input = (0..100u64).map(|x| if x == 50 { Err(x) } else { Ok(x) });
        let mut seen = 0;
        let r = ordered_map(
            input,
            3,
            || (),
            |_, x| x,
            |_| {
                seen += 1;
                Ok(())
            },
        );
        assert_eq!((r, seen), (Err(50), 50));
    }
}
