//! `rdarts bench`: time one search step (first and second order, S2 and S5), λmax by Lanczos, and
//! the process's peak memory, on one backend, with warm-up and repetitions; median and spread.
//! The data are random CIFAR-shaped images (timing does not depend on content).

use anyhow::Result;
use rdarts_core::architect::Order;
use rdarts_core::backend::{self, BackendChoice};
use rdarts_core::block_on;
use rdarts_core::hessian::{AlphaHessian, HessianAt};
use rdarts_core::params::host_reads;
use rdarts_core::search::Search;
use rdarts_core::space::SpaceId;

use crate::launches::{Launches, per_rep};
use crate::measure::{BenchArgs, peak_rss_mib, report, step_config, step_data, summarise, time_reps};

/// Runs `rdarts bench`.
pub fn bench(a: BenchArgs) -> Result<()> {
    let backend = backend::select(a.backend.into())?;
    if !a.json {
        println!("backend: {backend}");
        println!("shape: batch {}, C = {}, {} cells, {}×{}×3 images; {} warm-up + {} timed repetitions", a.batch_size, a.init_channels, a.layers, a.image_size, a.image_size, a.warmup, a.reps);
    }
    if a.kernels {
        return crate::bench_kernels::bench_kernels(&a, &backend);
    }
    let shape = [a.batch_size, a.init_channels, a.layers, a.image_size];
    // Every configuration is checked, and its memory estimated, before any data exist.
    for space in &a.spaces {
        let space: SpaceId = space.parse()?;
        for order in a.orders.iter().map(|&o| Order::from(o)) {
            let mut config = step_config(&a, space, order);
            (config.net.in_channels, config.net.image_size) = (3, a.image_size);
            config.validate()?;
            crate::memory::ensure_fits(&format!("a {space} {order:?}-order step"), rdarts_core::memory::search_bytes(&config), &backend)?;
        }
    }
    let (data, train, val) = step_data(&a);
    // Dispatches are counted over the timed repetitions only (the warm-up compiles and autotunes).
    let launches = (backend.kind == BackendChoice::Wgpu).then(Launches::watch);
    let timed_from = |rep: &mut usize| {
        if *rep == a.warmup
            && let Some(l) = &launches
        {
            l.take();
        }
        *rep += 1;
    };
    for space in &a.spaces {
        let space: SpaceId = space.parse()?;
        for order in a.orders.iter().map(|&o| Order::from(o)) {
            let mut search = Search::new(step_config(&a, space, order), data.clone(), &backend.device)?;
            let lr = search.config().lr;
            let before = host_reads();
            let mut rep = 0;
            let samples = time_reps(a.warmup, a.reps, || {
                timed_from(&mut rep);
                // Queued as an epoch queues it (the passes it returns are read in groups there).
                let _ = search.queue_step(&train, &val, lr, 0.0);
                block_on(search.sync());
                Ok::<_, rdarts_core::CoreError>(())
            })?;
            // Every repetition is one step and one read by `sync`, which waits for it.
            let reads = (host_reads() - before) / (a.warmup + a.reps) as u64 - 1;
            let m = summarise(format!("step {space} {order:?}-order").to_lowercase(), &backend.description, samples, shape);
            report(&m, a.json);
            if a.json {
                println!("{}", serde_json::json!({"case": format!("host reads per step {space} {order:?}-order").to_lowercase(), "value": reads}));
            } else {
                println!("{:<32} host reads per step: {reads} (each waits for the device)", "");
            }
            report_launches(launches.as_ref(), &format!("step {space} {order:?}-order").to_lowercase(), a.reps, a.json);
            if order == Order::First {
                let mut rep = 0;
                let mut found = None;
                let samples = time_reps(a.warmup, a.reps.min(3), || {
                    timed_from(&mut rep);
                    let at = HessianAt {
                        net: search.net(),
                        w: search.weights(),
                        alpha: search.alpha(),
                        batch: &val,
                        arch_weight_decay: search.config().arch_weight_decay,
                        drop_prob: 0.0,
                        rng: search.model_rng().clone(),
                    };
                    let mut h = block_on(AlphaHessian::new(at, &backend.device));
                    found = Some(block_on(h.extremes(a.lanczos_steps, a.lanczos_tol, 1)));
                    Ok::<_, rdarts_core::CoreError>(())
                })?;
                let case = format!("lambda_max {space} lanczos {}", a.lanczos_steps).to_lowercase();
                let m = summarise(case.clone(), &backend.description, samples, shape);
                report(&m, a.json);
                if let Some(e) = found {
                    // What the timed computation found: how many products the tolerance let it stop after.
                    let v = serde_json::json!({"case": format!("{case} result"), "lambda_max": e.max, "lambda_min": e.min, "products": e.products, "residual": e.residual, "residual_min": e.residual_min, "tol": a.lanczos_tol});
                    if a.json {
                        println!("{v}");
                    } else {
                        println!("{:<32} λmax {:.6}, λmin {:.6} after {} products (residual bound {:.2e}, tolerance {})", "", e.max, e.min, e.products, e.residual, a.lanczos_tol);
                    }
                }
                report_launches(launches.as_ref(), &case, a.reps.min(3), a.json);
            }
        }
    }
    let peak = peak_rss_mib();
    if a.json {
        println!("{}", serde_json::json!({"case": "peak_host_memory_mib", "value": peak, "device_memory": "not measured (wgpu exposes no allocator statistics)"}));
    } else {
        println!("peak host memory (VmHWM): {}", peak.map_or("not available".into(), |m| format!("{m:.0} MiB")));
        println!("device memory: not measured (wgpu exposes no allocator statistics)");
    }
    Ok(())
}

/// Prints the kernel launches per timed repetition of `case` since the last report (wgpu only):
/// the total and the most launched kernels.
fn report_launches(launches: Option<&Launches>, case: &str, reps: usize, json: bool) {
    let Some(launches) = launches else { return };
    let (total, by_kernel) = per_rep(&launches.take(), reps);
    const SHOWN: usize = 12;
    if json {
        let top: Vec<_> = by_kernel.iter().take(SHOWN).map(|(k, n)| serde_json::json!([k, n])).collect();
        println!("{}", serde_json::json!({"case": format!("kernel launches per repetition {case}"), "value": total, "kernels": by_kernel.len(), "most_launched": top}));
    } else {
        let top: Vec<String> = by_kernel.iter().take(6).map(|(k, n)| format!("{k} {n}")).collect();
        println!("{:<32} kernel launches per repetition: {total} over {} kernels (most: {})", "", by_kernel.len(), top.join(", "));
    }
}
