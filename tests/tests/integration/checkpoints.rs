//! Checkpoints are checked, not trusted (issue 11, item 4): a checksum catches any change to the
//! metadata or a tensor byte; a state whose configuration or tensor sizes do not continue the run
//! is refused with the reason, never loaded half-way or panicking.

use proptest::prelude::*;
use rdarts_core::block_on;
use rdarts_core::formats::embedded_digits;
use rdarts_core::search::{RobustConfig, RobustMode, Search, SearchConfig, Snapshot};
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, tiny_search};

fn config() -> SearchConfig {
    tiny_search(SpaceId::S2)
}

/// A search after one epoch and its snapshot.
fn one_epoch(config: SearchConfig) -> (Search, Snapshot) {
    let mut s = Search::new(config, embedded_digits(), &cpu()).unwrap();
    block_on(s.run_epoch(&mut |_| {})).unwrap();
    let snap = block_on(s.snapshot());
    (s, snap)
}

fn snapshot_bytes() -> &'static (Snapshot, Vec<u8>) {
    static BYTES: std::sync::OnceLock<(Snapshot, Vec<u8>)> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let (_, snap) = one_epoch(config());
        let bytes = snap.to_bytes();
        (snap, bytes)
    })
}

/// Where the tensor bytes start (after the 8-byte length and the JSON header).
fn data_start(bytes: &[u8]) -> usize {
    8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any change to a byte of the tensors is refused as a checksum mismatch (a low mantissa bit
    /// of a weight, which leaves every value finite, included).
    #[test]
    fn a_changed_tensor_byte_is_refused(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (_, bytes) = snapshot_bytes();
        let start = data_start(bytes);
        let i = start + pos.index(bytes.len() - start);
        let mut b = bytes.clone();
        b[i] ^= xor;
        let err = Snapshot::from_bytes("ckpt", &b).unwrap_err().to_string();
        prop_assert!(err.starts_with("ckpt: checksum mismatch"), "{}", err);
    }

    /// Any change to a header byte (names, shapes, offsets, the metadata and its checksum) is
    /// refused, or reads back the identical state (JSON whitespace changed to other whitespace).
    #[test]
    fn a_changed_header_byte_is_refused_or_harmless(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let (snap, bytes) = snapshot_bytes();
        let mut b = bytes.clone();
        b[pos.index(data_start(bytes))] ^= xor;
        match Snapshot::from_bytes("ckpt", &b) {
            Ok(back) => prop_assert!(back == *snap, "a changed header read back as another state"),
            Err(e) => prop_assert!(e.to_string().starts_with("ckpt: "), "{}", e),
        }
    }
}

/// A changed byte in the name of the last tensor of a numbered list (`bn.mean.00044` →
/// `bn.mean>00044`) left a valid file with one tensor fewer, which read back as a shorter state
/// (found by the property above in CI): the checksum covers the tensor table, so it is refused.
#[test]
fn a_renamed_last_tensor_is_refused() {
    let (snap, bytes) = snapshot_bytes();
    let last = |n: usize| format!("{:05}", n - 1);
    let names = [
        format!("weights.{}", last(snap.weights.len())),
        format!("momentum.{}", last(snap.momentum.len())),
        format!("bn.mean.{}", last(snap.bn_mean.len())),
        format!("bn.var.{}", last(snap.bn_var.len())),
        "adam.m.1".to_string(),
        "adam.v.1".to_string(),
    ];
    let header = &bytes[..data_start(bytes)];
    for name in names {
        let quoted = format!("\"{name}\"");
        let at = header.windows(quoted.len()).position(|w| w == quoted.as_bytes()).unwrap_or_else(|| panic!("{name} in the header"));
        let dot = at + quoted.rfind('.').unwrap();
        let mut b = bytes.clone();
        b[dot] ^= 16; // '.' → '>'
        let err = Snapshot::from_bytes("ckpt", &b).unwrap_err().to_string();
        assert!(err.starts_with("ckpt: checksum mismatch"), "{name}: {err}");
    }
}

#[test]
fn state_sizes_are_checked_before_anything_is_loaded() {
    let (mut s, snap) = one_epoch(config());
    let cases: Vec<(&str, Box<dyn Fn(&mut Snapshot)>, &str)> = vec![
        ("momentum", Box::new(|x: &mut Snapshot| x.momentum[3].pop().map(|_| ()).unwrap()), "the momentum of"),
        ("momentum count", Box::new(|x: &mut Snapshot| x.momentum.truncate(2)), "momentum buffers for"),
        ("adam", Box::new(|x: &mut Snapshot| x.adam.v[1].push(0.0)), "Adam's moments of α"),
        ("bn var", Box::new(|x: &mut Snapshot| x.bn_var[0].pop().map(|_| ()).unwrap()), "BatchNorm layer 0"),
        ("bn count", Box::new(|x: &mut Snapshot| x.bn_var.truncate(1)), "BatchNorm layers"),
    ];
    for (what, change, expect) in cases {
        let mut bad = snap.clone();
        change(&mut bad);
        let err = s.resume_from(&bad, Vec::new()).unwrap_err().to_string();
        assert!(err.contains(expect), "{what}: {err}");
        // Through the file form too: the reader does not trust the sizes either.
        let read = Snapshot::from_bytes("ckpt", &bad.to_bytes());
        assert!(read.is_err() || s.resume_from(&read.unwrap(), Vec::new()).is_err(), "{what} through a file");
    }
    // The intact snapshot still resumes.
    s.resume_from(&snap, Vec::new()).unwrap();
}

#[test]
fn a_checkpoint_carrying_another_configuration_is_refused_naming_the_field() {
    let (mut s, snap) = one_epoch(config());
    let mut other = snap.clone();
    other.meta.config.lr = 0.05;
    let err = s.resume_from(&other, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("differs from the run's in 'lr' (0.05 here, 0.025 in the run's)"), "{err}");
    let mut other = snap.clone();
    other.meta.config.net.channels = 8;
    let err = s.resume_from(&other, Vec::new()).unwrap_err().to_string();
    assert!(err.contains("'net.channels'"), "{err}");
    // What DARTS-ADA raises may differ (the configuration in effect is the checkpoint's).
    let ada = SearchConfig { robust: RobustConfig { mode: RobustMode::Ada, ..RobustConfig::default() }, ..config() };
    let (mut s, snap) = one_epoch(ada);
    let mut raised = snap.clone();
    raised.meta.config.raise_regularisation();
    assert!(raised.meta.config.weight_decay > snap.meta.config.weight_decay);
    s.resume_from(&raised, Vec::new()).unwrap();
    assert_eq!(s.config().weight_decay, raised.meta.config.weight_decay);
}

/// A training checkpoint whose tensors do not fit the network is refused naming the tensor, and
/// the trainer is left as it was (it used to panic when a momentum or BatchNorm tensor's size was
/// wrong); a damaged one is refused by its checksum.
#[test]
fn training_checkpoints_are_checked_before_anything_is_loaded() {
    use rdarts_core::evalnet::EvalConfig;
    use rdarts_core::train::{TRAIN_FORMAT, TRAIN_VERSION, TrainConfig, Trainer};
    const GENOTYPE: &str = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 0), ('sep_conv_3x3', 2)], \
        normal_concat=[2, 3], reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('max_pool_3x3', 1), ('skip_connect', 2)], reduce_concat=[2, 3])";
    let genotype = GENOTYPE.parse().unwrap();
    let config = TrainConfig {
        net: EvalConfig { channels: 4, layers: 3, auxiliary: false, ..EvalConfig::default() },
        epochs: 2,
        batch_size: 16,
        max_images: 32,
        test_images: 16,
        ..TrainConfig::default()
    };
    let data = embedded_digits();
    let mut t = Trainer::new(config, &genotype, data.clone(), data.clone().skip(9000), &cpu()).unwrap();
    block_on(t.run_epoch(&mut |_, _, _| {})).unwrap();
    let good = block_on(t.to_bytes(Default::default()));
    t.restore("good", &good).unwrap();

    // Rewrite one momentum buffer one value short, with a valid checksum.
    let (meta, file) = rdarts_core::checkpoint::unpack("good", &good, TRAIN_FORMAT, TRAIN_VERSION).unwrap();
    let named: Vec<(String, Vec<f32>)> = file
        .names()
        .iter()
        .map(|n| {
            let (mut v, _) = file.f32(n, None).unwrap();
            if n == "momentum.00002" || n == "bn.var.00000" {
                v.pop();
            }
            (n.to_string(), v)
        })
        .collect();
    let bad = rdarts_core::checkpoint::pack(&named, &meta);
    let err = t.restore("bad", &bad).unwrap_err().to_string();
    assert!(err.starts_with("bad: '") && err.contains("values, expected"), "{err}");
    assert_eq!(t.epoch, 1, "nothing changed");
    let mut flipped = good.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(t.restore("flipped", &flipped).unwrap_err().to_string().contains("checksum mismatch"));
}

