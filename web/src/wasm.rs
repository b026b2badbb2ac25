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

/// Runs when the module is instantiated: installs the panic hook (message recorded for
/// [`take_panic`] and written to the console).
#[wasm_bindgen(start)]
pub fn start() {
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
