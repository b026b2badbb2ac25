//! Values without bounds (issue 11, item 6): every size a command line, a configuration file, a
//! genotype, a λ history or a state dict may ask for is checked before anything is sized from it,
//! and a configuration whose estimated memory cannot fit is refused with the estimate. Each case
//! used to panic, overflow, hang or allocate without end; each now gets one `error:` line.

use std::path::Path;

use crate::{assert_clean_error, rdarts, run_tiny, scratch};

fn write(dir: &Path, name: &str, text: &str) -> String {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn huge_search_settings_are_refused_before_anything_is_sized() {
    let dir = scratch("bounds", "search");
    let out = dir.join("run").display().to_string();
    for (flags, needle) in [
        (&["--cutout", "100000"][..], "invalid augment.cutout: must be at most 1024, found 100000"),
        (&["--nodes", "1000"][..], "invalid nodes: must be at most 12, found 1000"),
        (&["--layers", "100000"][..], "invalid layers: must be at most 100, found 100000"),
        (&["--init-channels", "100000"][..], "invalid channels: must be at most 1024, found 100000"),
        (&["--rs-eval-batches", "1000000000"][..], "invalid rs_eval_batches: must be at most 1000000"),
        (&["--es-delta", "1000000000"][..], "invalid robust.delta: must be at most 1000000"),
        (&["--batch-size", "0"][..], "invalid batch_size: must be at least 1, found 0"),
    ] {
        let mut args = flags.to_vec();
        args.extend(["--out", &out]);
        assert_clean_error(&run_tiny(&args), needle);
        assert!(!Path::new(&out).exists(), "{flags:?}: nothing is created for a refused configuration");
    }
    // A configuration file's crop padding.
    let cfg = write(&dir, "config.json", r#"{"augment": {"crop_padding": 18446744073709551615}}"#);
    assert_clean_error(&run_tiny(&["--config", &cfg, "--out", &out]), "augment.crop_padding: must be at most 1024");
}

/// Within every limit but far beyond this machine: refused with the estimate, before the run
/// directory exists (the CPU backend's host memory is what is compared).
#[test]
fn a_search_that_cannot_fit_in_memory_is_refused_with_the_estimate() {
    let dir = scratch("bounds", "memory");
    let out = dir.join("run").display().to_string();
    let r = run_tiny(&["--init-channels", "1024", "--layers", "100", "--nodes", "12", "--batch-size", "65536", "--out", &out]);
    assert_clean_error(&r, "of memory at its peak (estimated from its configuration)");
    assert!(String::from_utf8_lossy(&r.stderr).contains(" is available"));
    assert!(!Path::new(&out).exists());
}

#[test]
fn bench_sizes_are_checked_before_data_exist() {
    for (flags, needle) in [
        (&["--batch-size", "0"][..], "invalid batch_size: must be at least 1, found 0"),
        (&["--batch-size", "100000"][..], "invalid batch_size: must be at most 65536"),
        (&["--image-size", "7"][..], "invalid image_size"),
        (&["--layers", "1000000"][..], "invalid layers: must be at most 100"),
    ] {
        let mut args = vec!["bench", "--backend", "cpu", "--json", "--reps", "1"];
        args.extend(flags);
        let out = rdarts(&args);
        // --json prints no banner: the one line on stderr is the error.
        assert_clean_error(&out, needle);
    }
}

#[test]
fn hostile_genotypes_and_histories_get_one_line() {
    let dir = scratch("bounds", "texts");
    let v2 = "Genotype(normal=[('sep_conv_3x3', 0), ('sep_conv_3x3', 1), ('sep_conv_3x3', 0), ('sep_conv_3x3', 1), \
              ('sep_conv_3x3', 1), ('skip_connect', 0), ('skip_connect', 0), ('dil_conv_3x3', 2)], normal_concat=CONCAT, \
              reduce=[('max_pool_3x3', 0), ('max_pool_3x3', 1), ('skip_connect', 2), ('max_pool_3x3', 1), ('max_pool_3x3', 0), \
              ('skip_connect', 2), ('skip_connect', 2), ('max_pool_3x3', 1)], reduce_concat=[2, 3, 4, 5])";
    for (concat, needle) in [
        ("range(0, 18446744073709551615)", "reaches past the 14 states"),
        ("[2, 3, 4, 99]", "concatenated state 99 does not exist"),
        ("[2, 3, 3, 5]", "state 3 is concatenated twice"),
        ("[]", "the concatenation is empty"),
    ] {
        let g = write(&dir, "g.txt", &v2.replace("CONCAT", concat));
        assert_clean_error(&rdarts(&["genotype", &g]), needle);
    }
    // Unicode white space (an em space, a no-break space) is white space, never a panic.
    let g = write(&dir, "g.txt", &v2.replace("CONCAT", "[2,\u{2003}3,\u{a0}4, 5]"));
    let out = rdarts(&["genotype", &g]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let g = write(&dir, "g.txt", &v2.replace("CONCAT", "[2, 3, 4,\u{200b}5]"));
    assert_clean_error(&rdarts(&["genotype", &g]), "expected a number");
    // λ histories with absurd epochs.
    for history in ["0 1.0\n2 1.5\n1e30 2.0\n", "{\"event\": \"epoch\", \"epoch\": 18446744073709551615, \"curvature\": {\"lambda_max\": 1.0}}\n"] {
        let h = write(&dir, "history.txt", history);
        assert_clean_error(&rdarts(&["early-stop", &h]), "is past the limit of 1000000");
    }
    assert_clean_error(&rdarts(&["early-stop", "--delta", "18446744073709551615", &write(&dir, "h.txt", "1.0\n2.0\n")]), "--delta must be at most");
}

/// Images whose side a reduction cell cannot halve evenly (an MNIST-format file of 31×31 digits,
/// which padding to 32 cannot centre) are refused with one line by `rdarts train`, not a panic in
/// FactorizedReduce.
#[test]
fn odd_image_sizes_are_refused_by_train() {
    let dir = scratch("bounds", "odd");
    let idx = |magic: [u8; 4], dims: &[u32], payload: &[u8]| {
        let mut v = magic.to_vec();
        dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
        v.extend(payload);
        v
    };
    std::fs::create_dir_all(&dir).unwrap();
    let n = 40u32;
    for (prefix, count) in [("train", n), ("t10k", n)] {
        std::fs::write(dir.join(format!("{prefix}-images-idx3-ubyte")), idx([0, 0, 8, 3], &[count, 31, 31], &vec![100u8; (count * 31 * 31) as usize])).unwrap();
        std::fs::write(dir.join(format!("{prefix}-labels-idx1-ubyte")), idx([0, 0, 8, 1], &[count], &(0..count).map(|i| (i % 10) as u8).collect::<Vec<_>>())).unwrap();
    }
    let genotype = "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1)], normal_concat=[2], reduce=[('max_pool_3x3', 0), ('skip_connect', 1)], reduce_concat=[2])";
    let out = dir.join("run").display().to_string();
    let r = rdarts(&["train", genotype, "--dataset", "mnist", "--data", dir.to_str().unwrap(), "--backend", "cpu", "--quiet", "--epochs", "1", "--out", &out]);
    assert_clean_error(&r, "image_size: must be a multiple of 4");
}
