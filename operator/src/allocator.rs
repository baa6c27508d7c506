//! The process allocator's settings for the long-running operator.

/// Large buffers (profile bodies, parsed profiles over 1 MiB) get their own mappings, returned
/// to the system when freed.
///
/// glibc raises its mmap threshold to the size of the largest block freed so far (up to
/// 32 MiB, mallopt(3)); after the first multi-MiB body, later ones come from the heap arenas,
/// whose pages stay with the process: the soak with hostile targets sat at 330–370 MB RSS. With a
/// fixed 1 MiB threshold (which also turns the adjustment off) the same soak stays at 33–78 MiB
/// (bench/soak/README.md). musl, which the release image links, maps large blocks itself.
pub fn return_large_buffers() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it is called once, before other threads start.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}
