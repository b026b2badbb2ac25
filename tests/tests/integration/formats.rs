//! Data-set files in their real formats (fixtures written by tests/fixtures/formats/make_fixtures.py
//! with NumPy's pickler and scipy.io.savemat), read back exactly; bad files rejected with the file
//! and the problem named; and no decoder panics on arbitrary or mutated bytes.

use std::path::PathBuf;

use rdarts_core::data::DataKind;
use rdarts_core::formats::{decode_cifar_bin, decode_cifar_py, decode_idx, idx_dataset, svhn_dataset};
use rdarts_core::rng::Rng;

fn fixture(name: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/formats").join(name);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// (labels, row-major N×3×32×32 pixels) from a `.expected` file.
fn expected(name: &str) -> (Vec<u8>, Vec<u8>) {
    let b = fixture(&format!("{name}.expected"));
    let n = b.len() / 3073;
    assert_eq!(b.len(), n * 3073);
    (b[..n].to_vec(), b[n..].to_vec())
}

#[test]
fn cifar_python_pickles_of_every_protocol_read_exactly() {
    for (kind, stem) in [(DataKind::Cifar10, "cifar10"), (DataKind::Cifar100, "cifar100")] {
        for proto in ["py2", "p2", "p4", "p5"] {
            let name = format!("{stem}-{proto}.pkl");
            let (labels, pixels) = expected(&name);
            let (px, got) = decode_cifar_py(kind, &name, &fixture(&name)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(got, labels, "{name} labels");
            assert!(px == pixels, "{name} pixels differ");
        }
    }
}

#[test]
fn svhn_mat_files_read_exactly() {
    for name in ["svhn-compressed.mat", "svhn-plain.mat"] {
        let (labels, pixels) = expected(name);
        let ds = svhn_dataset(name, &fixture(name)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ds.labels, labels, "{name}: label 10 means digit 0");
        assert!(ds.pixels == pixels, "{name}: column-major X is transposed to N×C×H×W");
        assert_eq!((ds.channels, ds.size, ds.classes), (3, 32, 10));
        assert_eq!(ds.mean, DataKind::Svhn.stats().0);
    }
}

#[test]
fn bad_files_name_the_file_and_the_problem() {
    let p4 = fixture("cifar10-p4.pkl");
    let e = decode_cifar_py(DataKind::Cifar10, "data_batch_2", &p4[..p4.len() / 2]).unwrap_err().to_string();
    assert!(e.starts_with("data_batch_2: pickle: unexpected end of data"), "{e}");
    // A CIFAR-10 batch has no fine labels: read as CIFAR-100 it is refused.
    let e = decode_cifar_py(DataKind::Cifar100, "train", &p4).unwrap_err().to_string();
    assert!(e.contains("no 'fine_labels' entry"), "{e}");
    let e = decode_cifar_py(DataKind::Cifar10, "x", b"not a pickle").unwrap_err().to_string();
    assert!(e.starts_with("x: pickle: unsupported opcode"), "{e}");

    let mat = fixture("svhn-plain.mat");
    let e = svhn_dataset("train_32x32.mat", &mat[..mat.len() - 7]).unwrap_err().to_string();
    assert!(e.starts_with("train_32x32.mat: MAT-file:") && e.contains("needs"), "{e}");
    let e = svhn_dataset("train_32x32.mat", &mat[..100]).unwrap_err().to_string();
    assert!(e.contains("too short"), "{e}");
    let mut wrong = mat.clone();
    wrong[126..128].copy_from_slice(b"XX");
    assert!(svhn_dataset("t.mat", &wrong).unwrap_err().to_string().contains("not a level-5 MAT-file"));

    let e = decode_cifar_bin(DataKind::Cifar10, "test_batch.bin", &[0u8; 3000]).unwrap_err().to_string();
    assert!(e.starts_with("test_batch.bin:") && e.contains("3073-byte"), "{e}");
}

#[test]
fn idx_files_of_fashion_mnist_shape() {
    let mut img = vec![0, 0, 8, 3];
    for d in [3u32, 28, 28] {
        img.extend(d.to_be_bytes());
    }
    img.extend((0..3 * 784).map(|i| (i % 256) as u8));
    let mut lab = vec![0, 0, 8, 1];
    lab.extend(3u32.to_be_bytes());
    lab.extend([9, 0, 4]);
    let ds = idx_dataset(DataKind::FashionMnist, "train", &img, &lab).unwrap();
    assert_eq!(ds.labels, vec![9, 0, 4]);
    assert!(ds.flip, "clothes may be flipped, digits may not");
    assert!(!idx_dataset(DataKind::Mnist, "train", &img, &lab).unwrap().flip);
}

/// Every decoder, on arbitrary bytes and on valid files with random truncations and byte flips:
/// an error or a result, never a panic.
#[test]
fn decoders_never_panic_on_arbitrary_bytes() {
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("pkl", fixture("cifar10-py2.pkl")),
        ("pkl", fixture("cifar100-p2.pkl")),
        ("pkl", fixture("cifar10-p5.pkl")),
        ("mat", fixture("svhn-compressed.mat")),
        ("mat", fixture("svhn-plain.mat")),
    ];
    let mut idx = vec![0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 28, 0, 0, 0, 28];
    idx.extend(vec![7u8; 2 * 784]);
    seeds.push(("idx", idx));
    let mut bin = vec![3u8];
    bin.extend(vec![1u8; 3072]);
    seeds.push(("bin", bin));
    let mut rng = Rng::new(99);
    let mut runs = 0;
    for round in 0..1500 {
        let (kind, base) = &seeds[round % seeds.len()];
        let mut b = base.clone();
        match rng.below(4) {
            0 => b.truncate(rng.below(b.len() + 1)),
            1 => {
                for _ in 0..1 + rng.below(8) {
                    let i = rng.below(b.len());
                    b[i] = rng.next_u64() as u8;
                }
            }
            2 => {
                // Mutate the header region, where lengths and types live.
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(b.len().min(200));
                    b[i] = rng.next_u64() as u8;
                }
            }
            _ => b = (0..rng.below(600)).map(|_| rng.next_u64() as u8).collect(),
        }
        let _ = match *kind {
            "pkl" => decode_cifar_py(DataKind::Cifar10, "f", &b).map(|_| ()),
            "mat" => svhn_dataset("f", &b).map(|_| ()),
            "idx" => decode_idx("f", &b, 8, 3).map(|_| ()),
            _ => decode_cifar_bin(DataKind::Cifar100, "f", &b).map(|_| ()),
        };
        // The same bytes through every other decoder too.
        let _ = decode_cifar_py(DataKind::Cifar100, "f", &b);
        let _ = svhn_dataset("f", &b);
        let _ = decode_idx("f", &b, 8, 1);
        let _ = decode_cifar_bin(DataKind::Cifar10, "f", &b);
        runs += 1;
    }
    assert_eq!(runs, 1500);
}
