//! The JavaScript interface (wasm-bindgen): JSON in, JSON out, promises for anything that reads
//! back from the device (WebGPU's reads cannot block).

use std::cell::RefCell;
use std::rc::Rc;

use rdarts_core::backend::{Backend, BackendChoice};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::demo::Demo;

thread_local! {
    /// The backend [`select_backend`] chose; the CPU until it is called.
    static BACKEND: RefCell<Option<Backend>> = const { RefCell::new(None) };
}

/// The message of the latest Rust panic, recorded by the hook [`start`] installs: a panic in
/// WebAssembly reaches JavaScript only as "unreachable executed", so the worker asks for this
/// ([`take_panic`]) and shows the page the real message.
static LAST_PANIC: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

// The constructors of the whole module (wasm-ld synthesises this function; CubeCL's IR and pliron
// register their dialects and operations through `inventory`, whose constructors it runs).
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)]
unsafe extern "C" {
    fn __wasm_call_ctors();
}

/// How often the module's constructors have run: one of them is this counter's (registered like
/// `inventory`'s, through `.init_array`). 1 once the module is set up; more means the linker has
/// wrapped the exports again (see [`start`]), which the demo's end-to-end test would catch.
#[cfg(target_family = "wasm")]
static CONSTRUCTOR_RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[cfg(target_family = "wasm")]
#[allow(unsafe_code)]
#[used]
// SAFETY: a plain `extern "C" fn()` that only increments an atomic; `.init_array` entries are
// what wasm-ld's `__wasm_call_ctors` calls.
#[unsafe(link_section = ".init_array")]
static COUNT_CONSTRUCTOR_RUN: extern "C" fn() = {
    extern "C" fn count() {
        CONSTRUCTOR_RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    count
};

/// How often the module's constructors have run (1 when all is well; tests).
#[wasm_bindgen]
pub fn constructor_runs() -> u32 {
    #[cfg(target_family = "wasm")]
    return CONSTRUCTOR_RUNS.load(std::sync::atomic::Ordering::Relaxed);
    #[cfg(not(target_family = "wasm"))]
    0
}

/// Runs when the module is instantiated: runs the module's constructors, once, and installs the
/// panic hook (message recorded for [`take_panic`] and written to the console).
///
/// Why the constructors are run here: a module that never calls `__wasm_call_ctors` itself is
/// linked "command style", and wasm-ld then puts a call to it at the top of *every* exported
/// function, wasm-bindgen's glue included (`__externref_table_alloc`, called for each JavaScript
/// object handed to Rust). On the WebGPU backend a step crosses that boundary thousands of times, so
/// every step re-ran thousands of constructors: the worker spent 70 s of CPU per demo step, 80 % of
/// it there (a `perf` profile of the page on SwiftShader, BENCHMARKS.md). An explicit call, made
/// once before anything else runs, tells the linker not to wrap the exports.
#[wasm_bindgen(start)]
pub fn start() {
    #[cfg(target_family = "wasm")]
    #[allow(unsafe_code)]
    // SAFETY: called once, first, when the module is instantiated (wasm-bindgen runs the start
    // function before JavaScript can call any other export); the constructors it runs only
    // register static items (`inventory`'s, idempotent on wasm).
    unsafe {
        __wasm_call_ctors();
    }
    std::panic::set_hook(Box::new(|info| {
        let message = info.to_string();
        console_error(&format!("rdarts panicked: {message}"));
        *LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }));
}

/// The message of the latest panic, once (`undefined` if there was none since the last call).
/// After a panic the module's state is undefined: the page should reload it.
#[wasm_bindgen]
pub fn take_panic() -> Option<String> {
    LAST_PANIC.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Panics with `message`: the end-to-end test's way of checking that a panic reaches the page as
/// a readable error (nothing else calls it).
#[wasm_bindgen]
pub fn raise_panic(message: String) {
    panic!("{message}");
}

fn backend() -> Backend {
    BACKEND.with(|b| b.borrow().clone()).unwrap_or_else(rdarts_core::backend::cpu)
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn json(value: &impl Serialize) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(js_error)
}

#[derive(Serialize)]
struct BackendInfo {
    /// `wgpu` (WebGPU) or `cpu`.
    kind: BackendChoice,
    /// What it is, and why the CPU if it is the CPU.
    description: String,
    /// Whether the mixed operations run on rdarts' own WGSL kernels there.
    wgsl_kernels: bool,
}

/// Chooses where the demo computes, once per page: `auto` takes WebGPU when the browser offers an
/// adapter and the CPU otherwise; `cpu` skips WebGPU; `wgpu` insists on it. Resolves to the JSON
/// `{kind, description}`; demos made afterwards run there.
#[wasm_bindgen]
pub async fn select_backend(choice: String) -> Result<String, JsError> {
    let choice: BackendChoice = choice.parse().map_err(js_error)?;
    let chosen = rdarts_core::backend::select_async(choice).await.map_err(js_error)?;
    let wgsl_kernels = rdarts_core::kernels::uses_wgsl_kernels(rdarts_core::kernels::Kernels::Auto, &chosen.device);
    let info = BackendInfo { kind: chosen.kind, description: chosen.description.clone(), wgsl_kernels };
    BACKEND.with(|b| *b.borrow_mut() = Some(chosen));
    json(&info)
}

/// A demo search, driven from JavaScript. Await each call before the next: a call in progress
/// holds the search.
#[wasm_bindgen]
pub struct WasmDemo {
    demo: Rc<RefCell<Demo>>,
}

#[wasm_bindgen]
impl WasmDemo {
    /// A fresh search on the selected backend; `settings` is the JSON of [`crate::demo::DemoSettings`].
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<WasmDemo, JsError> {
        let settings = Demo::settings_from_json(settings).map_err(js_error)?;
        let demo = Demo::new(&settings, &backend().device).map_err(js_error)?;
        Ok(WasmDemo { demo: Rc::new(RefCell::new(demo)) })
    }

    /// One search step or the end of an epoch; resolves to the JSON of [`crate::demo::Update`].
    pub fn advance(&self) -> js_sys::Promise {
        let demo = self.demo.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut demo = demo.try_borrow_mut().map_err(|_| JsError::new("the demo is busy: await the previous call"))?;
            let update = demo.advance().await.map_err(js_error)?;
            Ok(JsValue::from_str(&json(&update)?))
        })
    }

    /// Resolves to the JSON of [`crate::demo::DemoState`].
    pub fn state(&self) -> js_sys::Promise {
        let demo = self.demo.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let demo = demo.try_borrow().map_err(|_| JsError::new("the demo is busy: await the previous call"))?;
            Ok(JsValue::from_str(&json(&demo.state().await)?))
        })
    }

    /// Whether the search is over.
    pub fn finished(&self) -> bool {
        self.demo.try_borrow().map(|d| d.finished()).unwrap_or(false)
    }
}

/// How many golden traces there are (`rdarts_core::golden::cases`).
#[wasm_bindgen]
pub fn golden_cases() -> usize {
    rdarts_core::golden::cases().len()
}

/// Golden trace `index` replayed on the selected backend (see [`select_backend`]); resolves to the
/// JSON of `rdarts_core::golden::Trace`. The tests compare it with `tests/golden/traces.json`.
#[wasm_bindgen]
pub async fn golden_trace(index: usize) -> Result<String, JsError> {
    let (space, order) = *rdarts_core::golden::cases().get(index).ok_or_else(|| JsError::new("no such golden trace"))?;
    let trace = rdarts_core::golden::run_trace(space, order, &backend().device).await.map_err(js_error)?;
    json(&trace)
}
