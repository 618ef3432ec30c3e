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
//! Each job is a number of tasks that threads claim one at a time. The
//! calling thread claims tasks too, so a helper that starts late (another
//! program runs on its core) delays the job by at most the tasks it claimed.

use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long an idle helper spins before it sleeps. Decoding steps follow
/// one another within microseconds, so helpers sleep only between requests.
pub const SPIN: Duration = Duration::from_millis(1);

/// Most threads of a team: the part counter has 16 bits.
const MAX_THREADS: usize = u16::MAX as usize;

/// A job's parts, borrowed from [`ThreadTeam::run`]'s caller.
type Task<'a> = &'a (dyn Fn(usize) + Sync);

/// The state the caller and the helpers share.
struct Shared {
    /// `epoch << 32 | parts << 16 | next`: the job's number, its part count
    /// and the next unclaimed part, changed together so that a claim
    /// cannot reach a later job.
    state: AtomicU64,
    /// Points to the function that runs one part of the current job, on
    /// the caller's stack.
    job: AtomicPtr<Task<'static>>,
    /// Parts of the current job finished so far.
    done: AtomicUsize,
    /// Set when a task of the current job panicked.
    panicked: AtomicBool,
    shutdown: AtomicBool,
    /// Helpers asleep or about to sleep on `wake`.
    sleepers: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
}

fn pack(epoch: u32, parts: usize, next: usize) -> u64 {
    (u64::from(epoch) << 32) | ((parts as u64) << 16) | next as u64
}

fn epoch_of(state: u64) -> u32 {
    (state >> 32) as u32
}

impl Shared {
    /// Claims the next part of job `epoch`, or returns `None` when that job
    /// has no part left or is no longer the current one.
    fn claim(&self, epoch: u32) -> Option<usize> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let (parts, next) = ((state >> 16) as u16 as usize, state as u16 as usize);
            if epoch_of(state) != epoch || next >= parts {
                return None;
            }
            match self.state.compare_exchange_weak(state, state + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(next),
                Err(current) => state = current,
            }
        }
    }

    /// Runs parts of job `epoch` until none is left to claim.
    fn work(&self, epoch: u32) {
        while let Some(part) = self.claim(epoch) {
            // SAFETY: a claim succeeds only while the job is unfinished, and
            // the caller keeps the function alive until every claimed part
            // is done. The claim's acquire ordering makes this job's pointer
            // visible.
            let run_part: Task = unsafe { *self.job.load(Ordering::Acquire) };
            if panic::catch_unwind(AssertUnwindSafe(|| run_part(part))).is_err() {
                self.panicked.store(true, Ordering::Relaxed);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }

    /// Waits until a job after `seen` starts and returns its epoch, or
    /// `None` when the team shuts down.
    fn next_job(&self, seen: u32) -> Option<u32> {
        let started = Instant::now();
        let mut spins = 0u32;
        loop {
            if self.shutdown.load(Ordering::Acquire) {
                return None;
            }
            let epoch = epoch_of(self.state.load(Ordering::Acquire));
            if epoch != seen {
                return Some(epoch);
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(1024) && started.elapsed() > SPIN {
                self.sleep(seen);
            } else {
                std::hint::spin_loop();
            }
        }
    }

    /// Sleeps until a job after `seen` starts or the team shuts down.
    fn sleep(&self, seen: u32) {
        let mut guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.sleepers.fetch_add(1, Ordering::SeqCst);
        while epoch_of(self.state.load(Ordering::SeqCst)) == seen && !self.shutdown.load(Ordering::SeqCst) {
            guard = self.wake.wait(guard).unwrap_or_else(PoisonError::into_inner);
        }
        self.sleepers.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every sleeping helper. Called after a store to `state` or
    /// `shutdown`: a helper that registered as a sleeper before that store
    /// is woken here, and one that registers after it reads the new value.
    fn wake_sleepers(&self) {
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.wake.notify_all();
        }
    }
}

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
    /// Held by the caller whose job is running.
    busy: Mutex<u32>,
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
        let shared = Arc::new(Shared {
            state: AtomicU64::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            shutdown: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
        });
        let helpers = (1..threads.clamp(1, MAX_THREADS))
            .map(|index| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("aigc-team-{index}"))
                    .spawn(move || {
                        let mut seen = 0;
                        while let Some(epoch) = shared.next_job(seen) {
                            shared.work(epoch);
                            seen = epoch;
                        }
                    })
                    .expect("failed to spawn a thread-team helper")
            })
            .collect();
        ThreadTeam { shared, helpers, busy: Mutex::new(0) }
    }

    /// Number of threads that share a job, the caller included.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
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
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        };
        let Some(mut epoch) = busy.filter(|_| tasks > 1 && !self.helpers.is_empty()) else {
            (0..tasks).for_each(task);
            return;
        };
        let shared = &*self.shared;
        *epoch = epoch.wrapping_add(1);
        // One part per thread: a claim moves a cache line between cores, so
        // threads claim contiguous runs of tasks rather than single tasks. A
        // helper that starts late finds its part taken by a faster thread.
        let parts = tasks.min(self.threads());
        let part_task = |part: usize| (part * tasks / parts..(part + 1) * tasks / parts).for_each(task);
        let part_task: Task = &part_task;
        // SAFETY of the lifetime change: helpers read the task only through
        // claims of this epoch, and this function returns after all of them.
        let job: *const Task = &part_task;
        shared.job.store(job.cast_mut().cast(), Ordering::Release);
        shared.done.store(0, Ordering::Relaxed);
        shared.panicked.store(false, Ordering::Relaxed);
        shared.state.store(pack(*epoch, parts, 0), Ordering::SeqCst);
        shared.wake_sleepers();

        shared.work(*epoch);
        let mut spins = 0u32;
        while shared.done.load(Ordering::Acquire) < parts {
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                // A helper was preempted inside a task; let it run.
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        if shared.panicked.load(Ordering::Relaxed) {
            panic!("a task of a ThreadTeam job panicked");
        }
    }
}

impl Drop for ThreadTeam {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, Ordering::SeqCst);
        self.shared.wake_sleepers();
        for helper in self.helpers.drain(..) {
            // A helper catches its tasks' panics, so joining cannot fail.
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
}
