//! A fixed team of threads for jobs of a few microseconds each: the
//! products of one decoding step.
//!
//! Decoding one token of a small model runs about twenty products of a few
//! microseconds each, so a job must start on every thread within a fraction
//! of that. Handing each product to the rayon pool made decoding slower than
//! one thread, because a sleeping worker takes longer to wake than the
//! product takes. A [`ThreadTeam`]'s helpers therefore spin between jobs for
//! [`SPIN`] and only then sleep.
//!
//! A job is cut into one part per thread: part 0 belongs to the calling
//! thread and part `k` to helper `k`. Every handover moves a cache line
//! between cores, and a round trip of one line took from 60 ns to over
//! 400 ns on one virtual machine, depending on where the host placed its
//! two cores. So the critical path of a job has only two such moves: the
//! caller's post of the job reaching the helper, and the helper's "done"
//! reaching the caller. A helper that
//! has not claimed its part when the caller finishes its own (its core is
//! busy with another program, or it is asleep) loses that part to the
//! caller.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper spins before it sleeps. Decoding steps follow
/// one another within microseconds, so helpers sleep only between requests.
pub const SPIN: Duration = Duration::from_millis(1);

/// Jobs with fewer multiply-adds than this run on the calling thread. An
/// estimate: products of 128 × 128 weights (this size) still gained from a
/// split on a 2-core Zen 4 machine, and smaller ones are untested.
pub const MIN_SPLIT_WORK: usize = 1 << 14;

/// Multiply-adds a job needs per nanosecond of measured handover
/// ([`ThreadTeam::measure_handover`]) to be split. An estimate from one
/// 2-core virtual machine, whose handover took 160-210 ns or, when the host
/// placed its cores far apart, about 500 ns. At 500 ns, splitting the tiny
/// preset's products of 65,536 multiply-adds made decoding slower than on one
/// thread. At 200 ns, splitting those of 32,768 and more made it 1.35× faster.
pub const WORK_PER_HANDOVER_NS: usize = 150;

/// Handovers that [`ThreadTeam::measure_handover`] times.
const HANDOVER_SAMPLES: usize = 15;

/// How long [`ThreadTeam::measure_handover`] waits for the helper before it
/// runs the helper's empty part itself.
const HANDOVER_TIMEOUT: Duration = Duration::from_micros(100);

/// Most threads of a team: the part count has 16 bits of the posted word.
const MAX_THREADS: usize = u16::MAX as usize;

/// The function that runs one part of a job, borrowed from
/// [`ThreadTeam::run`]'s caller.
type PartFn<'a> = &'a (dyn Fn(usize) + Sync);

/// A value on cache lines of its own, so that writing it does not take
/// its neighbours away from other cores. 128 bytes, because some CPUs fetch
/// 64-byte lines in pairs.
#[repr(align(128))]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The current job, written by the caller only.
struct Posted {
    /// `epoch << 16 | parts`: the job's number and its part count.
    word: AtomicU64,
    /// The function that runs a part of the current job, on the caller's stack.
    job: AtomicPtr<PartFn<'static>>,
    shutdown: AtomicBool,
}

/// The progress of one helper's part, written by the helper, and by the
/// caller when it takes the part over.
struct Slot {
    /// Epoch of the last job whose part was claimed, by the helper or the caller.
    claimed: AtomicU64,
    /// Epoch of the last job whose part the helper finished.
    done: AtomicU64,
    /// Set when a task of the helper's last part panicked.
    panicked: AtomicBool,
}

impl Slot {
    /// Claims this slot's part of job `epoch`. Returns false when it was already claimed.
    fn claim(&self, epoch: u64) -> bool {
        let claimed = self.claimed.load(Ordering::Acquire);
        claimed < epoch && self.claimed.compare_exchange(claimed, epoch, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// The state the caller and the helpers share.
struct Shared {
    posted: Padded<Posted>,
    /// One per helper: `slots[k - 1]` belongs to helper `k` and part `k`.
    slots: Vec<Padded<Slot>>,
    /// Helpers asleep or about to sleep on `wake`.
    sleepers: Padded<AtomicUsize>,
    lock: Mutex<()>,
    wake: Condvar,
}

/// Runs `run_part(part)` and returns whether it completed without a panic.
fn run_caught(run_part: PartFn, part: usize) -> bool {
    panic::catch_unwind(AssertUnwindSafe(|| run_part(part))).is_ok()
}

impl Shared {
    /// The loop of the helper of `slots[index]`, which runs part
    /// `index + 1` of every job until the team shuts down.
    fn helper(&self, index: usize) {
        let (part, slot) = (index + 1, &*self.slots[index]);
        let mut seen = 0;
        while let Some(word) = self.next_job(seen) {
            let (epoch, parts) = (word >> 16, (word & 0xffff) as usize);
            seen = epoch;
            if part >= parts || !slot.claim(epoch) {
                continue;
            }
            // SAFETY: the caller does not return, nor post another job,
            // before this part's `done`, because its own claim of this part
            // failed. So the pointer, read after the claim, is this job's and
            // still points to live data.
            let run_part: PartFn = unsafe { *self.posted.job.load(Ordering::Acquire) };
            if !run_caught(run_part, part) {
                slot.panicked.store(true, Ordering::Relaxed);
            }
            slot.done.store(epoch, Ordering::Release);
        }
    }

    /// Waits until a job after epoch `seen` is posted and returns its word,
    /// or `None` when the team shuts down.
    fn next_job(&self, seen: u64) -> Option<u64> {
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if self.posted.shutdown.load(Ordering::Acquire) {
                return None;
            }
            let word = self.posted.word.load(Ordering::Acquire);
            if word >> 16 != seen {
                return Some(word);
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && started.elapsed() > SPIN {
                self.sleep(seen);
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Sleeps until a job after epoch `seen` is posted or the team shuts down.
    fn sleep(&self, seen: u64) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while self.posted.word.load(Ordering::SeqCst) >> 16 == seen && !self.posted.shutdown.load(Ordering::SeqCst) {
            guard = self.wake.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Posts job `epoch` of `parts` parts, each run by `run_part`, and wakes
    /// the sleeping helpers.
    ///
    /// The caller must keep `run_part` alive until every part it did not
    /// claim itself is done: a helper reads the pointer only after claiming
    /// its part of this job.
    fn post(&self, epoch: u64, parts: usize, run_part: &PartFn) {
        let job: *const PartFn = run_part;
        self.posted.job.store(job.cast_mut().cast(), Ordering::Relaxed);
        self.posted.word.store((epoch << 16) | parts as u64, Ordering::SeqCst);
        self.wake_sleepers();
    }

    /// Wakes every sleeping helper. Called after a store to `word` or
    /// `shutdown`: a helper that registered as a sleeper before that store
    /// is woken here, and one that registers after it reads the new value.
    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }

    /// Waits until `slot`'s helper has finished its part of job `epoch`,
    /// and returns whether the part completed without a panic.
    fn wait_for(slot: &Slot, epoch: u64) -> bool {
        let mut spins = 0u32;
        while slot.done.load(Ordering::Acquire) != epoch {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                // The helper was preempted inside its part; let it run.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        !slot.panicked.swap(false, Ordering::Relaxed)
    }
}

/// A pointer to an output that the tasks of one [`ThreadTeam`] job write
/// in disjoint places, such as the columns of a matrix that no slice split
/// can express. Dereferencing it is up to the tasks, in `unsafe` code that
/// shows why their places do not overlap.
#[derive(Debug, Clone, Copy)]
pub struct SharedOutput(*mut f32);

impl SharedOutput {
    /// Wraps `data`. The pointer does not borrow it, so the caller must not
    /// use `data` in other ways while tasks write through the pointer.
    pub fn new(data: &mut [f32]) -> SharedOutput {
        SharedOutput(data.as_mut_ptr())
    }

    /// Returns the pointer. A method rather than a public field, so that
    /// closures capture the whole `SharedOutput` (which is Sync).
    pub fn get(self) -> *mut f32 {
        self.0
    }
}

// SAFETY: the pointer is only dereferenced in unsafe code, whose tasks
// write disjoint places.
unsafe impl Send for SharedOutput {}
// SAFETY: as for Send.
unsafe impl Sync for SharedOutput {}

/// A calling thread and `threads - 1` helper threads that split jobs of
/// independent tasks between them.
///
/// One job runs at a time: a [`ThreadTeam::run`] that finds the team busy
/// with another caller's job runs its tasks on its own thread, so callers
/// on several threads never oversubscribe the cores.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use aigc_tensor::parallel::ThreadTeam;
/// let team = ThreadTeam::new(2);
/// let sum = AtomicUsize::new(0);
/// team.run(10, &|task| {
///     sum.fetch_add(task, Ordering::Relaxed);
/// });
/// assert_eq!(sum.into_inner(), 45);
/// ```
pub struct ThreadTeam {
    shared: Arc<Shared>,
    helpers: Vec<JoinHandle<()>>,
    /// The epoch of the last job, held by the caller whose job is running.
    busy: Mutex<u64>,
    /// The last [`ThreadTeam::measure_handover`], in nanoseconds.
    handover_ns: AtomicU64,
}

impl std::fmt::Debug for ThreadTeam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThreadTeam").field("threads", &self.threads()).finish()
    }
}

impl ThreadTeam {
    /// Starts a team of `threads` threads, the caller of [`ThreadTeam::run`]
    /// included: `threads - 1` helpers. With 0 or 1 there are no helpers
    /// and every job runs on the calling thread. At most 65,535 threads.
    pub fn new(threads: usize) -> ThreadTeam {
        let helpers = threads.clamp(1, MAX_THREADS) - 1;
        let slot = || Padded(Slot { claimed: AtomicU64::new(0), done: AtomicU64::new(0), panicked: AtomicBool::new(false) });
        let shared = Arc::new(Shared {
            posted: Padded(Posted { word: AtomicU64::new(0), job: AtomicPtr::new(std::ptr::null_mut()), shutdown: AtomicBool::new(false) }),
            slots: (0..helpers).map(|_| slot()).collect(),
            sleepers: Padded(AtomicUsize::new(0)),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let helpers = (0..helpers)
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("aigc-team-{}", index + 1))
                    .spawn(move || shared.helper(index))
                    .expect("failed to spawn a thread-team helper")
            })
            .collect();
        ThreadTeam { shared, helpers, busy: Mutex::new(0), handover_ns: AtomicU64::new(0) }
    }

    /// Number of threads that share a job, the caller included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Returns whether a job of `work` multiply-adds (or a similar unit of
    /// arithmetic) is worth splitting: at least [`MIN_SPLIT_WORK`], and at
    /// least [`WORK_PER_HANDOVER_NS`] per nanosecond of the last measured
    /// handover. Always false for a team of one thread.
    pub fn worth_splitting(&self, work: usize) -> bool {
        let handover_ns = self.handover_ns.load(Ordering::Relaxed) as usize;
        !self.helpers.is_empty() && work >= MIN_SPLIT_WORK.max(handover_ns.saturating_mul(WORK_PER_HANDOVER_NS))
    }

    /// Returns the handover measured last by [`ThreadTeam::measure_handover`]:
    /// zero before the first measurement and for a team of one thread.
    pub fn last_handover(&self) -> Duration {
        Duration::from_nanos(self.handover_ns.load(Ordering::Relaxed))
    }

    /// Measures how long an empty job takes to reach the first helper and
    /// come back (the median of 15), keeps it for
    /// [`ThreadTeam::worth_splitting`] and returns it. Takes a few
    /// microseconds. When the helper misses two handovers by over 100 µs
    /// (its core is busy), it stops there and returns the slow one, so no
    /// job of a decoding step is split until the next measurement.
    ///
    /// The cost depends on where the cores sit. On one 2-core virtual
    /// machine it moved between about 170 and 500 ns as the host moved its
    /// cores. So a program that splits small jobs measures again from time
    /// to time, and decoding does at the start of every sequence.
    pub fn measure_handover(&self) -> Duration {
        let Ok(mut epoch) = self.busy.try_lock() else {
            return self.last_handover();
        };
        let Some(slot) = self.shared.slots.first() else {
            return Duration::ZERO;
        };
        let nothing = |_: usize| {};
        let nothing: PartFn = &nothing;
        let mut times = Vec::with_capacity(HANDOVER_SAMPLES);
        let mut timeouts = 0;
        while times.len() < HANDOVER_SAMPLES {
            *epoch += 1;
            let started = Instant::now();
            // Post an empty job of two parts and wait for the helper's part.
            self.shared.post(*epoch, 2, &nothing);
            while slot.done.load(Ordering::Acquire) != *epoch {
                if started.elapsed() > HANDOVER_TIMEOUT && slot.claim(*epoch) {
                    break; // the helper is waking up, or its core is busy
                }
                std::hint::spin_loop();
            }
            let time = started.elapsed();
            if time > HANDOVER_TIMEOUT {
                // A first timeout may be a helper waking from sleep. A second
                // one means its core is busy: stop, and split nothing.
                timeouts += 1;
                if timeouts == 2 {
                    times = vec![time];
                    break;
                }
                continue;
            }
            times.push(time);
        }
        times.sort();
        let median = times[times.len() / 2];
        self.handover_ns.store(median.as_nanos() as u64, Ordering::Relaxed);
        median
    }

    /// Runs `task(i)` for every `i` in `0..tasks`, each exactly once, spread
    /// over the team and the calling thread, and returns when all are done.
    /// Tasks run in no fixed order, so each must write only its own part of
    /// any output.
    ///
    /// # Panics
    /// When a task panics. The tasks after it in its part are skipped, and
    /// the panic reaches the caller once the other parts have finished.
    pub fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let busy = match self.busy.try_lock() {
            Ok(busy) => Some(busy),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        };
        let Some(mut epoch) = busy.filter(|_| tasks > 1 && !self.helpers.is_empty()) else {
            (0..tasks).for_each(task);
            return;
        };
        *epoch += 1;
        let (epoch, shared) = (*epoch, &*self.shared);
        let parts = tasks.min(self.threads());
        let run_part = |part: usize| (part * tasks / parts..(part + 1) * tasks / parts).for_each(task);
        let run_part: PartFn = &run_part;

        // This function returns only after every claimed part is done, as
        // `post` requires.
        shared.post(epoch, parts, &run_part);

        // Run part 0, then each helper's part that its helper has not claimed,
        // and wait for the others.
        let mut completed = run_caught(run_part, 0);
        for (part, slot) in (1..parts).zip(&shared.slots) {
            completed &= if slot.claim(epoch) { run_caught(run_part, part) } else { Shared::wait_for(slot, epoch) };
        }
        if !completed {
            panic!("a task of a ThreadTeam job panicked");
        }
    }
}

impl Drop for ThreadTeam {
    fn drop(&mut self) {
        self.shared.posted.shutdown.store(true, Ordering::SeqCst);
        self.shared.wake_sleepers();
        for helper in self.helpers.drain(..) {
            // A helper catches its parts' panics, so joining cannot fail.
            let _ = helper.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicU32;

    use super::*;

    /// Runs jobs of several sizes and checks that each task ran exactly once.
    fn each_task_once(team: &ThreadTeam) {
        for tasks in [0, 1, 2, 3, 17, 256] {
            let counts: Vec<AtomicU32> = (0..tasks).map(|_| AtomicU32::new(0)).collect();
            team.run(tasks, &|task| {
                counts[task].fetch_add(1, Ordering::Relaxed);
            });
            let counts: Vec<u32> = counts.into_iter().map(AtomicU32::into_inner).collect();
            assert_eq!(counts, vec![1; tasks], "{tasks} tasks on {} threads", team.threads());
        }
    }

    #[test]
    fn every_task_runs_once() {
        for threads in [0, 1, 2, 3] {
            let team = ThreadTeam::new(threads);
            for _ in 0..200 {
                each_task_once(&team);
            }
        }
    }

    #[test]
    fn sleeping_helpers_wake_for_the_next_job() {
        let team = ThreadTeam::new(2);
        each_task_once(&team);
        std::thread::sleep(SPIN * 5);
        each_task_once(&team);
    }

    #[test]
    fn concurrent_callers_share_one_team() {
        let team = ThreadTeam::new(2);
        std::thread::scope(|scope| {
            for _ in 0..3 {
                scope.spawn(|| {
                    for _ in 0..100 {
                        each_task_once(&team);
                    }
                });
            }
        });
    }

    #[test]
    fn task_panic_reaches_the_caller() {
        let team = ThreadTeam::new(2);
        let finished = AtomicU32::new(0);
        let result = panic::catch_unwind(AssertUnwindSafe(|| {
            team.run(8, &|task| {
                assert_ne!(task, 5, "task five fails");
                finished.fetch_add(1, Ordering::Relaxed);
            })
        }));
        assert!(result.is_err());
        assert!(finished.into_inner() < 8, "task five did not finish");
        each_task_once(&team);
    }

    #[test]
    fn more_tasks_than_the_part_counter_holds() {
        let team = ThreadTeam::new(2);
        let count = AtomicU32::new(0);
        team.run(MAX_THREADS + 1, &|_| {
            count.fetch_add(1, Ordering::Relaxed);
        });
        assert_eq!(count.into_inner() as usize, MAX_THREADS + 1);
    }

    #[test]
    fn handover_decides_what_is_split() {
        let team = ThreadTeam::new(2);
        let handover = team.measure_handover();
        assert!(handover > Duration::ZERO, "handover {handover:?}");
        assert!(handover < Duration::from_millis(10), "handover {handover:?}");
        assert!(!team.worth_splitting(MIN_SPLIT_WORK - 1));
        assert!(team.worth_splitting(usize::MAX));

        let alone = ThreadTeam::new(1);
        assert_eq!(alone.measure_handover(), Duration::ZERO);
        assert!(!alone.worth_splitting(usize::MAX), "a team of one thread never splits");
    }
}
