//! Handing memory the gateway freed back to the system.
//!
//! A cold load of a large snapshot (the format's log replay) and the first pruned query on it
//! (the statistics build) allocate and free several times what the cache then keeps. glibc's
//! malloc keeps freed pages mapped in its arenas, so without this the process's resident
//! memory stays at the peak of the largest load it ever did, and an operator cannot tell what
//! the caches hold from what the allocator kept. `malloc_trim` returns the free pages of every
//! arena (not only the top of the heap). It holds each arena's lock while it walks it, so it
//! runs on a blocking thread, one at a time, and only after work large enough to matter.

use std::sync::atomic::{AtomicBool, Ordering};

/// Files below which a load or a statistics build is not worth a trim.
const WORTH_A_TRIM: usize = 10_000;

static TRIMMING: AtomicBool = AtomicBool::new(false);

/// Returns freed memory to the system in the background if work over `files` files just
/// finished; a trim already under way covers this one too.
pub fn release_after(files: usize) {
    if files < WORTH_A_TRIM || TRIMMING.swap(true, Ordering::AcqRel) {
        return;
    }
    let trim = || {
        trim();
        TRIMMING.store(false, Ordering::Release);
    };
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => drop(runtime.spawn_blocking(trim)),
        Err(_) => trim(),
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn trim() {
    // SAFETY: malloc_trim takes no pointers and only changes how much of the heap is mapped.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn trim() {}
