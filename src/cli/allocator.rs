//! Tuning of the C allocator for the allocation pattern of training.

/// Allocations up to this size come from the heap instead of their own
/// `mmap` (32 MiB, the largest threshold glibc accepts on 64-bit systems).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: libc::c_int = 32 << 20;

/// Freed memory at the top of the heap is returned to the kernel only
/// beyond this size (1 GiB).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const TRIM_THRESHOLD: libc::c_int = 1 << 30;

/// Makes glibc's `malloc` keep freed tensor buffers for reuse.
///
/// Every operation allocates its output, so one training step allocates
/// and frees hundreds of buffers between a few KiB and tens of MiB. By
/// default glibc serves blocks above 128 KiB with `mmap` and returns them
/// to the kernel on `free`, so the next step takes a page fault and a
/// zeroed page for every 4 KiB it touches again. Raising both thresholds
/// keeps that memory in the process: the tiny preset trained about 9 %
/// faster on one thread (CPU time per step, median of 3 alternating runs
/// on the machine of docs/benchmarks.md), and the small preset's peak RSS
/// grew by 5 %.
///
/// Buffers above 32 MiB (the small preset's logits and their gradient are
/// 64 MiB each) would still get their own `mmap`, so `mmap` is switched off
/// altogether and every block comes from the heap: page faults of a
/// small-preset benchmark run (1 warm-up and 3 timed steps, one thread) fell
/// from 282 k to 176 k, about the count that first touching the peak RSS
/// needs, and CPU time by 3 %.
///
/// Does nothing on other platforms and C libraries.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; it is called
    // before this process allocates any tensor.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
        libc::mallopt(libc::M_MMAP_MAX, 0);
    }
}
