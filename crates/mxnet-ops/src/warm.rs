//! Keeping the pool's other threads awake during a forward pass.
//!
//! A forward pass is a sequence of short parallel sections (one per layer,
//! often well under a millisecond) separated by serial work. Rayon's idle
//! workers yield a few dozen times and then sleep on a condition variable,
//! so each section can start by waking a sleeping thread, which on a
//! virtual machine costs tens of microseconds: at batch 1 that was a good
//! part of the pass. OpenMP runtimes (MXNet's oneDNN) spin between
//! sections instead. [`WarmWorkers`] does the same on top of rayon: it
//! parks a spinner job on the other workers that keeps stealing work (so a
//! new section is picked up at once) until the pass ends.
//!
//! A spinner gives up after [`MAX_IDLE`] without finding work (a pass that
//! is waiting on something else, or a spinner that ended up on top of a
//! suspended job), so the worst case is a short stall, never a hang; the
//! pass re-arms it at its next step. Only one pass keeps workers warm at a
//! time (a nested or concurrent pass runs without).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How long a spinner polls without finding work before it lets its
/// thread sleep.
pub(crate) const MAX_IDLE: Duration = Duration::from_millis(2);

/// Whether some pass holds a [`WarmWorkers`].
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Shared between a pass and its spinners.
struct State {
    /// Set when the pass ends.
    done: AtomicBool,
    /// Spinner jobs spawned and not yet returned.
    alive: AtomicUsize,
}

/// While alive, up to `threads − 1` workers of the current pool poll for
/// work instead of sleeping. See the module docs.
pub(crate) struct WarmWorkers {
    state: Arc<State>,
    /// The worker running the pass (a spinner landing there returns).
    home: usize,
    threads: usize,
}

impl WarmWorkers {
    /// Starts keeping workers warm: `None` outside a rayon pool, with one
    /// thread, or while another pass keeps them warm.
    pub(crate) fn start() -> Option<WarmWorkers> {
        let home = rayon::current_thread_index()?;
        let threads = rayon::current_num_threads();
        if threads < 2 || ACTIVE.swap(true, Ordering::AcqRel) {
            return None;
        }
        let warm = WarmWorkers {
            state: Arc::new(State {
                done: AtomicBool::new(false),
                alive: AtomicUsize::new(0),
            }),
            home,
            threads,
        };
        warm.rearm();
        Some(warm)
    }

    /// Spawns spinners again if some have given up (call between steps).
    pub(crate) fn rearm(&self) {
        while self.state.alive.load(Ordering::Acquire) < self.threads - 1 {
            self.state.alive.fetch_add(1, Ordering::AcqRel);
            let state = Arc::clone(&self.state);
            let home = self.home;
            rayon::spawn(move || spin(&state, home));
        }
    }
}

impl Drop for WarmWorkers {
    fn drop(&mut self) {
        self.state.done.store(true, Ordering::Release);
        ACTIVE.store(false, Ordering::Release);
    }
}

/// A spinner: runs whatever work it can steal until the pass ends or
/// nothing turns up for [`MAX_IDLE`].
fn spin(state: &State, home: usize) {
    if rayon::current_thread_index() != Some(home) {
        let mut idle_since: Option<Instant> = None;
        let mut polls = 0u32;
        while !state.done.load(Ordering::Acquire) {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => idle_since = None,
                _ => {
                    polls = polls.wrapping_add(1);
                    if polls.is_multiple_of(64) {
                        let since = *idle_since.get_or_insert_with(Instant::now);
                        if since.elapsed() > MAX_IDLE {
                            break;
                        }
                    }
                    std::hint::spin_loop();
                }
            }
        }
    }
    state.alive.fetch_sub(1, Ordering::AcqRel);
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn spinners_end_with_the_pass_and_work_still_gets_done() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        pool.install(|| {
            let state = {
                let warm = WarmWorkers::start().expect("inside a 2-thread pool");
                assert!(WarmWorkers::start().is_none(), "one warm pass at a time");
                for _ in 0..100 {
                    let s: u64 = (0..10_000u64).into_par_iter().sum();
                    assert_eq!(s, 49_995_000);
                    warm.rearm();
                }
                Arc::clone(&warm.state)
            };
            let t = Instant::now();
            while state.alive.load(Ordering::Acquire) > 0 {
                assert!(
                    t.elapsed() < Duration::from_secs(5),
                    "spinners still running"
                );
                std::thread::yield_now();
            }
            assert!(WarmWorkers::start().is_some(), "free again after the pass");
        });
        assert!(WarmWorkers::start().is_none(), "not inside a pool");
    }
}
