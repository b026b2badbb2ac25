//! Every registered shader, with its placeholders filled as the core fills them, parses and
//! validates under naga (the WGSL front end wgpu and browsers' WebGPU implementations share), and
//! stays within WebGPU's default limits, so the same source runs natively and in a browser.
//! Needs no GPU.

use naga::valid::{Capabilities, ValidationFlags, Validator};
use naga::{AddressSpace, ShaderStage, TypeInner};
use rdarts_shaders::{MAX_STORAGE_BUFFERS, SHADERS};

/// WebGPU's default `maxComputeWorkgroupStorageSize`, in bytes.
const MAX_WORKGROUP_STORAGE: u32 = 16_384;
/// WebGPU's default `maxComputeInvocationsPerWorkgroup`.
const MAX_INVOCATIONS: u32 = 256;

#[test]
fn every_shader_validates_within_webgpu_limits() {
    assert!(!SHADERS.is_empty());
    for shader in SHADERS {
        for workgroup in [32u32, 64, 128, 256] {
            let size = workgroup.to_string();
            let source = shader.fill(&[("elem", "f32"), ("workgroup_size", &size)]).unwrap();
            let module = naga::front::wgsl::parse_str(&source)
                .unwrap_or_else(|e| panic!("{} (workgroup {workgroup}): {}", shader.name, e.emit_to_string(&source)));
            // No optional capabilities: what every WebGPU implementation must accept.
            let info = Validator::new(ValidationFlags::all(), Capabilities::empty())
                .validate(&module)
                .unwrap_or_else(|e| panic!("{} (workgroup {workgroup}): {}", shader.name, e.emit_to_string(&source)));
            let _ = info;

            let entry = module.entry_points.iter().find(|e| e.name == "main").expect("entry point main");
            assert_eq!(entry.stage, ShaderStage::Compute, "{}", shader.name);
            assert_eq!(entry.workgroup_size, [workgroup, 1, 1], "{}", shader.name);
            assert!(workgroup <= MAX_INVOCATIONS);

            let storage = module
                .global_variables
                .iter()
                .filter(|(_, v)| matches!(v.space, AddressSpace::Storage { .. }))
                .count();
            assert!(storage <= MAX_STORAGE_BUFFERS, "{}: {storage} storage buffers", shader.name);

            let shared: u32 = module
                .global_variables
                .iter()
                .filter(|(_, v)| v.space == AddressSpace::WorkGroup)
                .map(|(_, v)| module.types[v.ty].inner.size(module.to_ctx()))
                .sum();
            assert!(shared <= MAX_WORKGROUP_STORAGE, "{}: {shared} bytes of workgroup memory", shader.name);
            if let Some((_, v)) = module.global_variables.iter().find(|(_, v)| v.space == AddressSpace::WorkGroup) {
                assert!(matches!(module.types[v.ty].inner, TypeInner::Array { .. }));
            }
        }
    }
}

#[test]
fn a_broken_shader_is_rejected() {
    // The check above can fail: a type error in a filled source does not validate.
    let bad = rdarts_shaders::NODE_SUM_FORWARD
        .fill(&[("elem", "f32"), ("workgroup_size", "64")])
        .unwrap()
        .replace("var acc: f32 = 0.0;", "var acc: u32 = 0.0;");
    let parsed = naga::front::wgsl::parse_str(&bad);
    let rejected = match parsed {
        Err(_) => true,
        Ok(m) => Validator::new(ValidationFlags::all(), Capabilities::empty()).validate(&m).is_err(),
    };
    assert!(rejected);
}
