//! Property-based tests (proptest, fixed case counts so CI time is bounded) of every reader of
//! outside input: the data-set decoders, the pickle reader, the state-dict import, the genotype
//! parser, configuration files and λ histories (the checkpoint reader's are in checkpoints.rs).
//! Structure-aware: valid inputs are generated and must read back exactly; valid files are then
//! mutated (bytes changed, inserted, cut, header fields rewritten) and must give a result or an
//! error naming the input — never a panic, a hang or an allocation beyond the stated bounds.

use proptest::prelude::*;
use rdarts_core::data::DataKind;
use rdarts_core::formats::pickle::{self, EXPANSION, SLACK, Value};
use rdarts_core::formats::{decode_cifar_bin, decode_cifar_py, decode_idx, svhn_dataset};
use rdarts_core::genotype::Genotype;
use rdarts_core::interop::{TensorFile, infer_config};
use rdarts_core::search::SearchConfig;
use rdarts_core::space::{Primitive, SpaceId};
use rdarts_tests::Scratch;

use crate::alloc;

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

fn fixture(dir: &str, name: &str) -> Vec<u8> {
    let p = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(dir).join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A change to a valid file: what the mutation strategies produce.
#[derive(Clone, Debug)]
enum Mutation {
    /// Byte `at` (a fraction of the length) xor `x`.
    Flip(prop::sample::Index, u8),
    /// Bytes inserted at `at`.
    Insert(prop::sample::Index, Vec<u8>),
    /// Cut to a fraction of the length.
    Truncate(prop::sample::Index),
    /// A little-endian or big-endian u32 written over the header region (lengths, dimensions).
    Field(prop::sample::Index, u32, bool),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<prop::sample::Index>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        (any::<prop::sample::Index>(), prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), any::<u32>(), any::<bool>()).prop_map(|(i, v, be)| Mutation::Field(i, v, be)),
    ]
}

fn apply(mut b: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        if b.is_empty() {
            break;
        }
        match m {
            Mutation::Flip(i, x) => {
                let i = i.index(b.len());
                b[i] ^= x;
            }
            Mutation::Insert(i, bytes) => {
                let i = i.index(b.len());
                b.splice(i..i, bytes.iter().copied());
            }
            Mutation::Truncate(i) => b.truncate(i.index(b.len())),
            Mutation::Field(i, v, be) => {
                let header = b.len().min(256);
                if header >= 4 {
                    let i = i.index(header - 3);
                    b[i..i + 4].copy_from_slice(&if *be { v.to_be_bytes() } else { v.to_le_bytes() });
                }
            }
        }
    }
    b
}

// ---- pickle -------------------------------------------------------------------------------

/// Pickle values of the kinds data sets use, nested up to 4 deep.
fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::None),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<f64>().prop_filter("NaN ≠ NaN", |f| !f.is_nan()).prop_map(Value::Float),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(Value::Bytes),
        "[a-z_é ]{0,12}".prop_map(Value::Str),
    ];
    leaf.prop_recursive(4, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::List),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Tuple),
            prop::collection::vec(("[a-z]{1,6}".prop_map(Value::Str), inner), 0..5).prop_map(Value::Dict),
        ]
    })
}

/// Writes `v` with protocol-2/4 opcodes (memoising every container when `memo`), the way
/// CPython's pickler does.
fn encode(v: &Value, memo: bool, out: &mut Vec<u8>, next_memo: &mut u32) {
    let put = |out: &mut Vec<u8>, next: &mut u32| {
        if memo {
            out.push(b'r');
            out.extend(next.to_le_bytes());
            *next += 1;
        }
    };
    match v {
        Value::None => out.push(b'N'),
        Value::Bool(b) => out.push(if *b { 0x88 } else { 0x89 }),
        Value::Int(i) => {
            if let Ok(small) = i32::try_from(*i) {
                out.push(b'J');
                out.extend(small.to_le_bytes());
            } else {
                out.extend([0x8a, 8]);
                out.extend(i.to_le_bytes());
            }
        }
        Value::Float(f) => {
            out.push(b'G');
            out.extend(f.to_be_bytes());
        }
        Value::Bytes(b) => {
            out.push(b'B');
            out.extend((b.len() as u32).to_le_bytes());
            out.extend(b);
        }
        Value::Str(s) => {
            out.push(b'X');
            out.extend((s.len() as u32).to_le_bytes());
            out.extend(s.as_bytes());
        }
        Value::List(items) => {
            out.push(b']');
            put(out, next_memo);
            if !items.is_empty() {
                out.push(b'(');
                for x in items {
                    encode(x, memo, out, next_memo);
                }
                out.push(b'e');
            }
        }
        Value::Tuple(items) => {
            out.push(b'(');
            for x in items {
                encode(x, memo, out, next_memo);
            }
            out.push(b't');
            put(out, next_memo);
        }
        Value::Dict(items) => {
            out.push(b'}');
            put(out, next_memo);
            if !items.is_empty() {
                out.push(b'(');
                for (k, x) in items {
                    encode(k, memo, out, next_memo);
                    encode(x, memo, out, next_memo);
                }
                out.push(b'u');
            }
        }
        other => unreachable!("not generated: {other:?}"),
    }
}

fn pickled(v: &Value, memo: bool) -> Vec<u8> {
    let mut out = vec![0x80, 2];
    encode(v, memo, &mut out, &mut 0);
    out.push(b'.');
    out
}

proptest! {
    #![proptest_config(config(256))]

    /// Generated values read back exactly, memoised or not.
    #[test]
    fn pickles_read_back_exactly(v in value(), memo in any::<bool>()) {
        let bytes = pickled(&v, memo);
        prop_assert_eq!(pickle::decode("p", &bytes).unwrap(), v);
    }

    /// Mutated pickles: an error naming the file or a value, never a panic, and never more memory
    /// than the stated bound.
    #[test]
    fn mutated_pickles_are_bounded(v in value(), muts in prop::collection::vec(mutation(), 1..6)) {
        let bytes = apply(pickled(&v, true), &muts);
        let (r, peak) = alloc::peak_during(|| pickle::decode("p.pkl", &bytes));
        if let Err(e) = r {
            prop_assert!(e.to_string().starts_with("p.pkl: pickle: "), "{}", e);
        }
        prop_assert!(peak <= EXPANSION * bytes.len() + SLACK + (1 << 20), "peak {} for {} bytes", peak, bytes.len());
    }
}

// ---- data-set files -----------------------------------------------------------------------

fn idx_file(dims: &[u32], payload: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v.extend(payload);
    v
}

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

proptest! {
    #![proptest_config(config(256))]

    /// Generated IDX files, plain and gzipped, read back exactly.
    #[test]
    fn idx_files_read_back_exactly(dims in prop::collection::vec(1u32..6, 1..4), seed in any::<u8>(), gz in any::<bool>()) {
        let n: u32 = dims.iter().product();
        let payload: Vec<u8> = (0..n).map(|i| (i as u8).wrapping_mul(seed)).collect();
        let file = idx_file(&dims, &payload);
        let file = if gz { gzip(&file) } else { file };
        let (got_dims, got) = decode_idx("f", &file, 8, dims.len()).unwrap();
        prop_assert_eq!(got_dims, dims.iter().map(|&d| d as usize).collect::<Vec<_>>());
        prop_assert_eq!(got, payload);
    }

    /// Mutated IDX files (the gzip stream mutated too): bounded by the header's promise.
    #[test]
    fn mutated_idx_files_are_bounded(gz in any::<bool>(), muts in prop::collection::vec(mutation(), 1..6)) {
        let file = idx_file(&[3, 28, 28], &vec![9u8; 3 * 784]);
        let file = apply(if gz { gzip(&file) } else { file }, &muts);
        let (r, peak) = alloc::peak_during(|| decode_idx("f.idx", &file, 8, 3));
        match r {
            Ok((dims, data)) => prop_assert_eq!(dims.iter().product::<usize>(), data.len()),
            Err(e) => prop_assert!(e.to_string().starts_with("f.idx: "), "{}", e),
        }
        // What a gzip stream of this length can inflate to (deflate's ratio is below 1 032:1).
        prop_assert!(peak <= 1100 * file.len() + (1 << 20), "peak {} for {} bytes", peak, file.len());
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// The committed CIFAR pickles, SVHN MAT-files and a CIFAR binary record, mutated: each
    /// decoder gives a data set or an error naming the file.
    #[test]
    fn mutated_data_set_files_never_panic(which in 0usize..5, muts in prop::collection::vec(mutation(), 1..6)) {
        let (name, base) = [
            ("cifar10-p2.pkl", fixture("formats", "cifar10-p2.pkl")),
            ("cifar100-p5.pkl", fixture("formats", "cifar100-p5.pkl")),
            ("svhn-compressed.mat", fixture("formats", "svhn-compressed.mat")),
            ("svhn-plain.mat", fixture("formats", "svhn-plain.mat")),
            ("data_batch_1.bin", { let mut b = vec![3u8]; b.extend(vec![1u8; 3072]); b }),
        ][which].clone();
        let b = apply(base, &muts);
        let named = |r: Result<(), rdarts_core::CoreError>| r.map_err(|e| e.to_string()).err().is_none_or(|e| e.starts_with("f: "));
        let (ok, peak) = alloc::peak_during(|| {
            let results = [
                named(decode_cifar_py(DataKind::Cifar10, "f", &b).map(|_| ())),
                named(decode_cifar_py(DataKind::Cifar100, "f", &b).map(|_| ())),
                named(svhn_dataset("f", &b).map(|_| ())),
                named(decode_cifar_bin(DataKind::Cifar10, "f", &b).map(|_| ())),
            ];
            results.iter().all(|&x| x)
        });
        prop_assert!(ok, "{}: an error without the file's name", name);
        prop_assert!(peak <= 1100 * b.len() + (8 << 20), "{}: peak {} for {} bytes", name, peak, b.len());
    }

    /// The committed PyTorch state dict, mutated: parsed and its configuration inferred, or an
    /// error naming the file; an inferred configuration builds or is refused.
    #[test]
    fn mutated_state_dicts_never_panic(muts in prop::collection::vec(mutation(), 1..6)) {
        let b = apply(fixture("torch", "model.safetensors"), &muts);
        if let Ok(file) = TensorFile::parse("model.safetensors", &b) {
            match infer_config(&file, SpaceId::S5, 8) {
                Ok(config) => { let _ = rdarts_core::network::Supernet::new(&config); }
                Err(e) => prop_assert!(e.to_string().starts_with("model.safetensors: "), "{}", e),
            }
        }
    }
}

// ---- genotypes ----------------------------------------------------------------------------

const OPS: [Primitive; 8] = [
    Primitive::MaxPool3x3, Primitive::AvgPool3x3, Primitive::SkipConnect, Primitive::SepConv3x3,
    Primitive::SepConv5x5, Primitive::DilConv3x3, Primitive::DilConv5x5, Primitive::Noise,
];

/// A valid cell of 1–6 nodes: two (op, earlier state) pairs per node, a concatenation of
/// distinct states.
fn cell() -> impl Strategy<Value = (Vec<(Primitive, usize)>, Vec<usize>)> {
    (1usize..=6).prop_flat_map(|nodes| {
        let gene = (0..nodes)
            .map(|node| prop::collection::vec((prop::sample::select(&OPS[..]), 0..node + 2), 2))
            .collect::<Vec<_>>()
            .prop_map(|pairs| pairs.into_iter().flatten().collect::<Vec<_>>());
        let concat = prop::sample::subsequence((0..nodes + 2).collect::<Vec<_>>(), 1..=nodes + 2);
        (gene, concat)
    })
}

fn genotype() -> impl Strategy<Value = Genotype> {
    (cell(), cell()).prop_map(|((normal, normal_concat), (reduce, reduce_concat))| Genotype { normal, normal_concat, reduce, reduce_concat })
}

proptest! {
    #![proptest_config(config(256))]

    /// Text and JSON forms read back to the same genotype.
    #[test]
    fn genotypes_read_back_exactly(g in genotype()) {
        let text = g.to_string();
        prop_assert_eq!(text.parse::<Genotype>().unwrap(), g.clone());
        let json = serde_json::to_string(&g).unwrap();
        prop_assert_eq!(serde_json::from_str::<Genotype>(&json).unwrap(), g);
    }

    /// Edited genotype text (characters replaced, inserted, removed; Unicode included) parses to
    /// a valid genotype or gives an error, never a panic.
    #[test]
    fn edited_genotype_text_never_panics(
        g in genotype(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(prop::char::any())), 1..6),
    ) {
        let mut chars: Vec<char> = g.to_string().chars().collect();
        for (at, c) in edits {
            let i = at.index(chars.len() + 1);
            match c {
                Some(c) if i < chars.len() && (c as u32).is_multiple_of(2) => chars[i] = c,
                Some(c) => chars.insert(i, c),
                None if i < chars.len() => { chars.remove(i); }
                None => {}
            }
        }
        let text: String = chars.into_iter().collect();
        if let Ok(parsed) = text.parse::<Genotype>() {
            prop_assert!(parsed.validate(None).is_ok());
        }
    }
}

// ---- configuration files and λ histories ----------------------------------------------------

proptest! {
    #![proptest_config(config(128))]

    /// A configuration file with any field set to any number (or the wrong type) is read and
    /// validated or refused; a configuration that passes validation can be built and estimated.
    #[test]
    fn configuration_files_with_any_numbers_never_panic(field in any::<prop::sample::Index>(), value in prop_oneof![
        any::<u64>().prop_map(|v| serde_json::json!(v)),
        any::<f64>().prop_map(|v| serde_json::json!(v)),
        any::<i64>().prop_map(|v| serde_json::json!(v)),
        Just(serde_json::json!("text")),
        Just(serde_json::json!(null)),
    ]) {
        let mut doc = serde_json::to_value(SearchConfig::default()).unwrap();
        // Every numeric leaf, nested ones included, is a candidate.
        let mut paths = Vec::new();
        fn leaves(v: &serde_json::Value, path: Vec<String>, out: &mut Vec<Vec<String>>) {
            match v {
                serde_json::Value::Object(m) => for (k, x) in m { let mut p = path.clone(); p.push(k.clone()); leaves(x, p, out) },
                serde_json::Value::Number(_) => out.push(path),
                _ => {}
            }
        }
        leaves(&doc, Vec::new(), &mut paths);
        let path = &paths[field.index(paths.len())];
        let mut slot = &mut doc;
        for k in path {
            slot = slot.get_mut(k).unwrap();
        }
        *slot = value;
        let dir = Scratch::dir("properties", "config");
        let file = dir.join("config.json");
        std::fs::write(&file, doc.to_string()).unwrap();
        if let Ok(config) = rdarts::common::read_config_file_as::<SearchConfig>(&file)
            && config.validate().is_ok()
        {
            let _ = rdarts_core::memory::search_bytes(&config);
            prop_assert!(rdarts_core::network::Supernet::new(&config.net).is_ok());
        }
    }

    /// λ histories: generated ones read back; lines with any numbers are read or refused.
    #[test]
    fn lambda_histories_read_back_or_are_refused(
        values in prop::collection::vec(0.0f64..1e3, 1..40),
        junk in prop::collection::vec(prop_oneof![any::<f64>().prop_map(|v| v.to_string()), any::<u64>().prop_map(|v| v.to_string()), "[ -~]{0,12}"], 0..4),
    ) {
        let dir = Scratch::dir("properties", "history");
        let path = dir.join("history.txt");
        let text: String = values.iter().enumerate().map(|(i, v)| format!("{} {v}\n", 2 * i)).collect();
        std::fs::write(&path, &text).unwrap();
        let read = rdarts::curvature::read_history(&path, 2).unwrap();
        prop_assert_eq!(read, values.iter().enumerate().map(|(i, &v)| (2 * i, v)).collect::<Vec<_>>());
        std::fs::write(&path, format!("{text}{}\n", junk.join(" "))).unwrap();
        if let Err(e) = rdarts::curvature::read_history(&path, 2) {
            prop_assert!(format!("{e:#}").contains("history.txt"), "{:#}", e);
        }
    }
}
