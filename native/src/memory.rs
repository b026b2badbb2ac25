//! How the process's allocator treats the memory a search step frees.
//!
//! A step on the CPU backend allocates and frees hundreds of activation-sized buffers (1–16 MiB
//! each at the paper's shape). glibc's malloc serves blocks of that size with `mmap` and hands them
//! back with `munmap` on free, so every new buffer is fresh pages that the kernel faults in and
//! zeroes on first touch: ~3 million page faults in a short `rdarts bench` of S2 at the paper's
//! shape (4 steps, 4 λmax measurements). Raising the mmap threshold (and the trim threshold, so the
//! heap's top is not returned either) makes freed buffers reusable. Measured side by side
//! (BENCHMARKS.md, 2026-12-01, four alternating pairs of runs): page faults 5× fewer, S2
//! first-order step medians 13–34 % lower, peak resident memory unchanged. The cost: memory freed
//! after the peak stays with the process until it exits.

/// The largest block glibc still serves from its heap: bigger ones (rare: a whole S5 node's
/// stacked inputs) keep going to `mmap`.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MMAP_THRESHOLD: i32 = 1 << 30;

/// Tells glibc's malloc to keep the pages it frees (see the module docs); call once, first thing
/// in `main`, before other threads exist. Returns whether glibc took both settings. Elsewhere
/// (musl, macOS, Windows, wasm) the platform's allocator is left as it is and this returns false.
pub fn keep_freed_pages() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    // SAFETY: `mallopt` only changes two allocator parameters; it is called before any other
    // thread exists, and with values glibc range-checks itself (it returns 0 for one it refuses).
    unsafe {
        let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
            || libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20) == 1;
        let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, MMAP_THRESHOLD) == 1;
        mmap && trim
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// Memory the system can give this process without swapping (Linux's `MemAvailable`); `None`
/// where it cannot be read.
pub fn available_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Environment variable that turns the check of [`ensure_fits`] off (`RDARTS_MEMORY_CHECK=off`),
/// for a machine whose swap or overcommit the user trusts.
pub const CHECK_VAR: &str = "RDARTS_MEMORY_CHECK";

/// Refuses to start `what` when its estimated peak (`rdarts_core::memory`) exceeds the memory
/// available, on the CPU backend (host memory; a GPU's memory cannot be queried through wgpu).
pub fn ensure_fits(what: &str, estimate: u64, backend: &rdarts_core::backend::Backend) -> anyhow::Result<()> {
    use rdarts_core::memory::human;
    if backend.kind != rdarts_core::backend::BackendChoice::Cpu || std::env::var(CHECK_VAR).is_ok_and(|v| v == "off") {
        return Ok(());
    }
    match available_bytes() {
        Some(available) if estimate > available => anyhow::bail!(
            "{what} needs about {} of memory at its peak (estimated from its configuration), and {} is available; use a \
             smaller --batch-size, --init-channels or --layers (or {CHECK_VAR}=off to try anyway)",
            human(estimate),
            human(available)
        ),
        _ => Ok(()),
    }
}
