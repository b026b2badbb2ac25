//! rdarts in the browser: the DARTS teaching demo.
//!
//! [`demo`] is the demo's search in plain Rust (it also runs natively, where the tests check the
//! browser's numbers against it); `wasm` (wasm32 only) exposes it to JavaScript. The page in
//! `web/www/` runs it in a Web Worker, so the page never waits on a search step.

pub mod demo;
#[cfg(target_family = "wasm")]
mod wasm;
