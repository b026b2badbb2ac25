//! The JavaScript interface (wasm-bindgen): JSON in, JSON out.

use wasm_bindgen::prelude::*;

use crate::demo::Demo;

/// A demo search, driven from JavaScript.
#[wasm_bindgen]
pub struct WasmDemo {
    demo: Demo,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl WasmDemo {
    /// A fresh search; `settings` is the JSON of [`crate::demo::DemoSettings`].
    #[wasm_bindgen(constructor)]
    pub fn new(settings: &str) -> Result<WasmDemo, JsError> {
        let settings = Demo::settings_from_json(settings).map_err(js_error)?;
        Ok(WasmDemo { demo: Demo::new(&settings).map_err(js_error)? })
    }

    /// One search step or the end of an epoch; the JSON of [`crate::demo::Update`].
    pub fn advance(&mut self) -> Result<String, JsError> {
        let update = self.demo.advance().map_err(js_error)?;
        serde_json::to_string(&update).map_err(js_error)
    }

    /// The JSON of [`crate::demo::DemoState`].
    pub fn state(&self) -> Result<String, JsError> {
        serde_json::to_string(&self.demo.state()).map_err(js_error)
    }

    /// Whether the search is over.
    pub fn finished(&self) -> bool {
        self.demo.finished()
    }
}

/// How many golden traces there are (`rdarts_core::golden::cases`).
#[wasm_bindgen]
pub fn golden_cases() -> usize {
    rdarts_core::golden::cases().len()
}

/// Golden trace `index` replayed here (the CPU backend in wasm), as the JSON of
/// `rdarts_core::golden::Trace`; the tests compare it with `tests/golden/traces.json`.
#[wasm_bindgen]
pub fn golden_trace(index: usize) -> Result<String, JsError> {
    let (space, order) = *rdarts_core::golden::cases().get(index).ok_or_else(|| JsError::new("no such golden trace"))?;
    let trace = rdarts_core::golden::run_trace(space, order, &rdarts_core::backend::cpu().device).map_err(js_error)?;
    serde_json::to_string(&trace).map_err(js_error)
}
