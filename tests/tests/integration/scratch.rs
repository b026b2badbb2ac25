//! The tests' scratch folders (`rdarts_tests::Scratch`): removed when the test passes, kept when it
//! fails.

use rdarts_tests::Scratch;

#[test]
fn a_scratch_folder_goes_when_its_test_passes_and_stays_when_it_fails() {
    let passed = Scratch::dir("scratch", "passed");
    std::fs::write(passed.join("file"), "x").unwrap();
    let path = passed.to_path_buf();
    drop(passed);
    assert!(!path.exists(), "{} should be removed", path.display());

    let failed = std::thread::spawn(|| {
        let dir = Scratch::dir("scratch", "failed");
        std::fs::write(dir.join("file"), "x").unwrap();
        let path = dir.to_path_buf();
        std::panic::panic_any(path);
    })
    .join()
    .expect_err("the thread panics");
    let path = failed.downcast::<std::path::PathBuf>().unwrap();
    assert!(path.join("file").exists(), "{} should be kept for inspection", path.display());
    // A new scratch of the same name starts empty (whatever a failed run left is removed).
    let again = Scratch::new("scratch", "failed");
    assert!(!again.exists());
}
