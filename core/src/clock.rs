//! A wall clock that works natively and in browsers (for the seconds reported per epoch).

use std::sync::OnceLock;

/// Seconds since an arbitrary origin fixed at the first call.
pub fn now_seconds() -> f64 {
    static START: OnceLock<web_time::Instant> = OnceLock::new();
    START.get_or_init(web_time::Instant::now).elapsed().as_secs_f64()
}
