//! rdarts' integration, cross-backend and end-to-end tests, as one test binary (each linked test
//! binary carries all of Burn and wgpu, so they share one). Run one group with
//! `cargo test -p rdarts-tests --test integration golden::`.

// Tests are written as tables of cases, whose element types clippy finds complex.
#![allow(clippy::type_complexity)]

/// Allocation counts per thread, for the bounds on what decoders allocate (see [`alloc`]).
#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

mod alloc;
mod batch_norm_kernel;
mod checkpoints;
mod cross_backend;
mod curvature;
mod depthwise_kernel;
mod determinism;
mod divergence;
mod formats;
mod golden;
mod gradients;
mod layering;
mod lm;
mod lm_search;
mod node_sum_kernel;
mod pointwise_kernel;
mod pool_kernel;
mod properties;
mod regularisers;
mod relu_kernel;
mod robust_search;
mod scratch;
mod sgd_kernel;
mod supernet_kernels;
mod torch_reference;
mod web_demo;
