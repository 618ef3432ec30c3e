//! Output buffers that a kernel overwrites completely, so zeroing them first is wasted work.

/// Returns a vector of `len` elements written by `write`, without zeroing
/// the memory first: a `vec![0.0; len]` costs an extra pass over memory
/// (a memset) that a kernel writing every element makes useless.
///
/// # Safety
/// `write` must write every element of the slice it receives and must not
/// read an element before writing it. If `write` panics, the returned
/// memory is never exposed.
pub unsafe fn written_by(len: usize, write: impl FnOnce(&mut [f32])) -> Vec<f32> {
    let mut out: Vec<f32> = Vec::with_capacity(len);
    // SAFETY: the capacity is `len` and f32 has no invalid bit patterns; the
    // caller promises that `write` reads no element before writing it.
    let slice = unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr(), len) };
    write(slice);
    // SAFETY: `write` has written all `len` elements (the caller's promise).
    unsafe { out.set_len(len) };
    out
}
