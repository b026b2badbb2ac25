//! Data-set files in their real formats (fixtures written by tests/fixtures/formats/make_fixtures.py
//! with NumPy's pickler and scipy.io.savemat), read back exactly; bad files rejected with the file
//! and the problem named; and no decoder panics on arbitrary or mutated bytes.

use std::path::PathBuf;

use rdarts_core::data::DataKind;
use rdarts_core::formats::{decode_cifar_bin, decode_cifar_py, decode_idx, idx_dataset, svhn_dataset};
use rdarts_core::rng::Rng;

use crate::alloc;

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

fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zlib(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

const MIB: usize = 1 << 20;

/// Pickles whose copies (DUP, memo gets) or nesting would demand far more than the file holds are
/// refused before that memory is allocated; the reader's peak stays within the stated bound
/// (8× the file + 1 MiB, `pickle::EXPANSION` and `SLACK`).
#[test]
fn pickles_cannot_amplify() {
    use rdarts_core::formats::pickle::{self, EXPANSION, SLACK};
    let bound = |len: usize| EXPANSION * len + SLACK + MIB;
    // One 100 kB bytes object duplicated 1 000 times: 100 MB from 100 kB.
    let mut dup = vec![0x80, 3, b'B'];
    dup.extend(100_000u32.to_le_bytes());
    dup.extend(vec![7u8; 100_000]);
    dup.extend(vec![b'2'; 1000]);
    dup.push(b'.');
    let (r, peak) = alloc::peak_during(|| pickle::decode("dup.pkl", &dup));
    let e = r.unwrap_err().to_string();
    assert!(e.starts_with("dup.pkl: pickle: the pickle builds more than"), "{e}");
    assert!(peak < bound(dup.len()), "peak {peak} bytes for a {}-byte file", dup.len());

    // A list memoised, fetched twice into a tuple, memoised again, 64 times: 2^64 copies.
    let mut doubling = vec![0x80, 2, b']'];
    for _ in 0..64 {
        doubling.extend([b'q', 0, b'h', 0, b'h', 0, 0x86]);
    }
    doubling.push(b'.');
    let (r, peak) = alloc::peak_during(|| pickle::decode("memo.pkl", &doubling));
    assert!(r.unwrap_err().to_string().contains("builds more than"));
    assert!(peak < bound(doubling.len()), "peak {peak}");

    // Lists nested 1 000 deep (each appended into the one below): refused at depth 64, since
    // dropping a value recurses once per level.
    let mut deep = vec![0x80, 2];
    deep.extend(vec![b']'; 1000]);
    deep.extend(vec![b'a'; 999]);
    deep.push(b'.');
    let e = pickle::decode("deep.pkl", &deep).unwrap_err().to_string();
    assert!(e.contains("values nest more than 64 deep"), "{e}");
    // The same through MARK … LIST.
    let mut marked = vec![b'('; 1000];
    marked.extend(vec![b'l'; 1000]);
    marked.push(b'.');
    let e = pickle::decode("marked.pkl", &marked).unwrap_err().to_string();
    assert!(e.contains("values nest more than 64 deep"), "{e}");
    // A million levels: refused without exhausting the stack (the budget or the depth stops it).
    let mut million = vec![b'('; 1_000_000];
    million.extend(vec![b'l'; 1_000_000]);
    million.push(b'.');
    assert!(pickle::decode("million.pkl", &million).is_err());
}

/// A gzipped IDX file inflates only as far as its header promises: 64 MiB of zeros after the data
/// are never inflated into memory, and a header promising more than 4 GiB is refused before any
/// allocation.
#[test]
fn idx_files_inflate_only_what_their_header_promises() {
    let mut img = vec![0, 0, 8, 3];
    for d in [2u32, 28, 28] {
        img.extend(d.to_be_bytes());
    }
    img.extend(vec![5u8; 2 * 784]);
    let mut bomb = img.clone();
    bomb.extend(vec![0u8; 64 * MIB]);
    let bomb = gzip(&bomb);
    let (r, peak) = alloc::peak_during(|| decode_idx("bomb.gz", &bomb, 8, 3));
    let e = r.unwrap_err().to_string();
    assert!(e.starts_with("bomb.gz: IDX dimensions [2, 28, 28] need 1568 data bytes, the file has more"), "{e}");
    assert!(peak < MIB, "peak {peak} bytes inflating a bomb whose header promises 1 568");
    // The same file without the tail reads.
    assert_eq!(decode_idx("ok.gz", &gzip(&img), 8, 3).unwrap().1, vec![5u8; 1568]);

    let mut huge = vec![0, 0, 8, 3];
    for d in [100_000u32, 200, 300] {
        huge.extend(d.to_be_bytes());
    }
    let (r, peak) = alloc::peak_during(|| decode_idx("huge", &gzip(&huge), 8, 3));
    assert!(r.unwrap_err().to_string().contains("promise more than 4294967296 bytes"));
    assert!(peak < MIB, "peak {peak}");
    // A header promising 1 GiB with 10 bytes of data: an error, and only what arrived is held.
    let mut short = vec![0, 0, 8, 1];
    short.extend((1u32 << 30).to_be_bytes());
    short.extend([1u8; 10]);
    let (r, peak) = alloc::peak_during(|| decode_idx("short", &short, 8, 1));
    let e = r.unwrap_err().to_string();
    assert!(e.contains("needs 1073741824 bytes, found 10"), "{e}");
    assert!(peak < MIB, "peak {peak}");
}

/// A MAT-file's compressed element inflates only as far as its inner tag promises.
#[test]
fn mat_compressed_elements_inflate_only_what_they_promise() {
    fn element(ty: u32, data: &[u8]) -> Vec<u8> {
        let mut v = ty.to_le_bytes().to_vec();
        v.extend((data.len() as u32).to_le_bytes());
        v.extend(data);
        if ty != 15 {
            v.resize(v.len().div_ceil(8) * 8, 0); // miCOMPRESSED elements are not padded
        }
        v
    }
    let matrix = |name: &str, dims: [i32; 2], values: &[u8]| {
        let mut m = element(6, &[9, 0, 0, 0, 0, 0, 0, 0]); // miUINT32 flags: class 9 (uint8)
        m.extend(element(5, &dims.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<_>>()));
        m.extend(element(1, name.as_bytes()));
        m.extend(element(2, values));
        element(14, &m)
    };
    let mut header = vec![b' '; 128];
    header[124..128].copy_from_slice(&[0, 1, b'I', b'M']);
    let mut inner = matrix("y", [1, 4], &[1, 2, 3, 4]);
    inner.extend(vec![0u8; 64 * MIB]);
    let mut file = header.clone();
    file.extend(element(15, &zlib(&inner)));
    let (r, peak) = alloc::peak_during(|| rdarts_core::formats::mat::decode(&file));
    let arrays = r.unwrap();
    assert_eq!(arrays.len(), 1);
    assert_eq!((arrays[0].name.as_str(), arrays[0].dims.as_slice()), ("y", &[1usize, 4][..]));
    assert!(peak < MIB, "peak {peak} bytes for a compressed element promising {} bytes", inner.len() - 64 * MIB);
}
