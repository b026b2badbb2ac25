//! A search is reproducible from its seed on the CPU backend.

use rdarts_core::architect::Order;
use rdarts_core::formats::embedded_digits;
use rdarts_core::network::NetConfig;
use rdarts_core::search::{HessianConfig, Search, SearchConfig};
use rdarts_core::space::SpaceId;
use rdarts_tests::cpu;

fn tiny_search(seed: u64, order: Order) -> (Vec<f32>, Vec<f32>) {
    let cfg = SearchConfig {
        net: NetConfig { space: SpaceId::S4, channels: 4, layers: 3, nodes: 2, ..NetConfig::default() },
        epochs: 1,
        batch_size: 8,
        seed,
        order,
        max_images: 48,
        eval_images: 16,
        drop_path_prob: 0.3,
        hessian: HessianConfig { every: 0, ..HessianConfig::default() },
        ..SearchConfig::default()
    };
    let mut s = Search::new(cfg, embedded_digits(), &cpu()).unwrap();
    rdarts_core::block_on(s.run_epoch(&mut |_| {})).unwrap();
    rdarts_core::block_on(s.alpha().read())
}

#[test]
fn same_seed_same_alpha() {
    // S4 has the noise op and drop-path is on: both draw from the seeded stream.
    for order in [Order::First, Order::Second] {
        let a = tiny_search(3, order);
        let b = tiny_search(3, order);
        assert_eq!(a, b, "{order:?}: two runs with the same seed differ");
        let c = tiny_search(4, order);
        assert_ne!(a, c, "{order:?}: a different seed gives the same α");
    }
}

/// Reading the steps' losses in groups (`read_every`, 10 by default on wgpu) changes only when
/// they reach the host: every step and epoch report, and α, are the same as when each step is
/// read as it is taken, and an epoch of n steps makes n − ⌈n/k⌉ fewer reads.
#[test]
fn steps_read_in_groups_give_the_same_search() {
    use rdarts_core::params::host_reads_on_this_thread as reads;
    use rdarts_core::search::SearchEvent;
    let run = |read_every: usize| {
        let cfg = SearchConfig {
            net: NetConfig { space: SpaceId::S2, channels: 4, layers: 3, nodes: 2, ..NetConfig::default() },
            epochs: 2,
            batch_size: 4,
            max_images: 64,
            eval_images: 16,
            hessian: HessianConfig { every: 1, lanczos_steps: 2, ..HessianConfig::default() },
            ..SearchConfig::default()
        };
        let mut s = Search::new(cfg, embedded_digits(), &cpu()).unwrap();
        s.set_read_every(read_every);
        let mut events = Vec::new();
        let before = reads();
        for _ in 0..2 {
            rdarts_core::block_on(s.run_epoch(&mut |e| {
                let mut e = e.clone();
                // Wall-clock times are the only part that may differ.
                if let SearchEvent::Epoch(r) = &mut e {
                    r.seconds = 0.0;
                    r.curvature.as_mut().expect("λ every epoch").seconds = 0.0;
                }
                events.push(e);
            }))
            .unwrap();
        }
        let steps = events.iter().filter(|e| matches!(e, SearchEvent::Step(_))).count();
        (events, rdarts_core::block_on(s.alpha().read()), reads() - before, steps)
    };
    let (events, alpha, reads_1, steps) = run(1);
    assert_eq!(steps, 16, "32 training images in batches of 4, 2 epochs");
    for k in [3, 8, 100] {
        let (grouped, grouped_alpha, reads_k, _) = run(k);
        assert_eq!(grouped, events, "read every {k} steps");
        assert_eq!(grouped_alpha, alpha, "read every {k} steps");
        let saved = 2 * (8 - 8usize.div_ceil(k));
        assert_eq!(reads_1 - reads_k, saved as u64, "read every {k} steps: {reads_1} against {reads_k} reads");
    }
}
