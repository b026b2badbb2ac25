//! Choosing where tensors live: a GPU through wgpu when there is one, else the CPU (the best backend available).

use std::fmt;
use std::str::FromStr;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::error::CoreError;

/// What the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum BackendChoice {
    /// A hardware GPU adapter through wgpu if there is one, else the CPU.
    #[default]
    Auto,
    /// The pure-Rust CPU backend.
    Cpu,
    /// wgpu on whatever adapter it finds, software ones (lavapipe) included.
    Wgpu,
}

impl FromStr for BackendChoice {
    type Err = CoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(BackendChoice::Auto),
            "cpu" => Ok(BackendChoice::Cpu),
            "wgpu" | "gpu" => Ok(BackendChoice::Wgpu),
            _ => Err(CoreError::invalid("backend", format!("expected auto, cpu or wgpu, found '{s}'"))),
        }
    }
}

/// The chosen device and a sentence saying what it is and why it was chosen.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Plain (non-autodiff) device.
    pub device: Device,
    /// `cpu` or `wgpu`.
    pub kind: BackendChoice,
    /// Human-readable description, e.g. `wgpu (Vulkan): NVIDIA H200 [DiscreteGpu]`.
    pub description: String,
}

impl Backend {
    /// Search steps to queue between two reads from the device, by default: 1 on the CPU backend
    /// (it computes as it is called, so a read waits for nothing), 10 on wgpu (each read waits for
    /// the device's queue to drain; 10 steps leave a GPU busy while the progress shown still moves
    /// every second or so at the paper's search shape).
    pub fn read_every(&self) -> usize {
        match self.kind {
            BackendChoice::Cpu | BackendChoice::Auto => 1,
            BackendChoice::Wgpu => 10,
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description)
    }
}

/// The CPU backend.
pub fn cpu() -> Backend {
    Backend { device: Device::flex(), kind: BackendChoice::Cpu, description: "cpu (Burn flex backend)".into() }
}

/// The wgpu device of this process, initialised once (a wgpu runtime can be registered only once
/// per process): the device, its description, and whether it is a hardware adapter.
#[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
fn wgpu_device() -> &'static Result<(Device, String, bool), String> {
    use burn::tensor::wgpu::wgpu::DeviceType;
    static WGPU: std::sync::OnceLock<Result<(Device, String, bool), String>> = std::sync::OnceLock::new();
    WGPU.get_or_init(|| {
        let (device, setup) = Device::wgpu_options().init_with_setup().map_err(|e| e.to_string())?;
        let info = setup.adapter.get_info();
        let description = format!("wgpu ({:?}): {} [{:?}]", info.backend, info.name, info.device_type);
        let hardware = !matches!(info.device_type, DeviceType::Cpu | DeviceType::Other);
        Ok((device, description, hardware))
    })
}

/// Selects a backend. `Auto` takes wgpu only on a hardware adapter (discrete, integrated or
/// virtual GPU); a software adapter such as lavapipe is slower than the CPU backend, so `Auto`
/// then says so and uses the CPU.
#[cfg(all(feature = "wgpu", not(target_family = "wasm")))]
pub fn select(choice: BackendChoice) -> Result<Backend, CoreError> {
    if choice == BackendChoice::Cpu {
        return Ok(cpu());
    }
    match (choice, wgpu_device()) {
        (_, Ok((device, description, hardware))) => {
            if choice == BackendChoice::Wgpu || *hardware {
                Ok(Backend { device: device.clone(), kind: BackendChoice::Wgpu, description: description.clone() })
            } else {
                let mut b = cpu();
                b.description = format!("{} — wgpu found only a software adapter ({description})", b.description);
                Ok(b)
            }
        }
        (BackendChoice::Wgpu, Err(e)) => Err(CoreError::Backend(format!("no wgpu adapter: {e}"))),
        (_, Err(e)) => {
            let mut b = cpu();
            b.description = format!("{} — no wgpu adapter ({e})", b.description);
            Ok(b)
        }
    }
}

/// Selects a backend without blocking, as a browser requires, by the rule of [`select`]: `Auto`
/// takes WebGPU (Burn's wgpu backend, with our WGSL kernels) when the browser offers a hardware
/// adapter, and the CPU backend when it offers none or only a software fallback (such as
/// SwiftShader, far slower than the CPU backend), saying why; `Wgpu` takes any WebGPU adapter.
/// WebGPU is set up once per page and its device kept (a second set-up would fail).
#[cfg(all(feature = "wgpu", target_family = "wasm"))]
pub async fn select_async(choice: BackendChoice) -> Result<Backend, CoreError> {
    use burn::tensor::wgpu::wgpu::DeviceType;
    use std::cell::RefCell;
    thread_local! {
        static WEBGPU: RefCell<Option<Result<(Device, String, bool), String>>> = const { RefCell::new(None) };
    }
    if choice == BackendChoice::Cpu {
        return Ok(cpu());
    }
    let known = WEBGPU.with(|w| w.borrow().clone());
    let webgpu = match known {
        Some(r) => r,
        None => {
            let r = match Device::wgpu_options().init_with_setup_async().await {
                Ok((device, setup)) => {
                    let info = setup.adapter.get_info();
                    // In a browser wgpu knows only this: `Cpu` marks a fallback (software) adapter.
                    let hardware = info.device_type != DeviceType::Cpu;
                    let kind = if hardware { "hardware adapter" } else { "software fallback adapter" };
                    let description = match info.name.as_str() {
                        "" => format!("WebGPU: {kind}"),
                        name => format!("WebGPU: {name}, {kind}"),
                    };
                    Ok((device, description, hardware))
                }
                Err(e) => Err(e.to_string()),
            };
            WEBGPU.with(|w| *w.borrow_mut() = Some(r.clone()));
            r
        }
    };
    match webgpu {
        Ok((device, description, hardware)) if hardware || choice == BackendChoice::Wgpu => {
            Ok(Backend { device, kind: BackendChoice::Wgpu, description })
        }
        Ok((_, description, _)) => {
            let mut b = cpu();
            b.description = format!("{} — the browser's WebGPU offers only a software fallback adapter ({description})", b.description);
            Ok(b)
        }
        Err(e) if choice == BackendChoice::Wgpu => Err(CoreError::Backend(format!("no WebGPU adapter: {e}"))),
        Err(e) => {
            let mut b = cpu();
            b.description = format!("{} — no WebGPU adapter ({e})", b.description);
            Ok(b)
        }
    }
}

/// Selects a backend without blocking; outside the browser the same as [`select`].
#[cfg(not(all(feature = "wgpu", target_family = "wasm")))]
pub async fn select_async(choice: BackendChoice) -> Result<Backend, CoreError> {
    select(choice)
}

/// Without the `wgpu` feature only the CPU exists.
#[cfg(not(all(feature = "wgpu", not(target_family = "wasm"))))]
pub fn select(choice: BackendChoice) -> Result<Backend, CoreError> {
    match choice {
        BackendChoice::Wgpu => Err(CoreError::Backend("this build has no wgpu support".into())),
        _ => Ok(cpu()),
    }
}
