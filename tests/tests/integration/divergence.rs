//! Divergence is caught where it appears (issue 11, item 2): a NaN or an infinity anywhere in a
//! search's state or in what an epoch reports stops the search before the epoch is reported,
//! recorded or checkpointed, with one message naming the epoch; a checkpoint file holding one is
//! refused as corrupt. Tiny CPU searches on the embedded digits.

use rdarts_core::block_on;
use rdarts_core::error::CoreError;
use rdarts_core::formats::embedded_digits;
use rdarts_core::search::{HessianConfig, Search, SearchConfig, SearchEvent, Snapshot};
use rdarts_core::space::SpaceId;
use rdarts_tests::{cpu, tiny_search};

fn search() -> Search {
    let config = SearchConfig { hessian: HessianConfig { every: 1, lanczos_steps: 2, ..HessianConfig::default() }, ..tiny_search(SpaceId::S2) };
    Search::new(config, embedded_digits(), &cpu()).unwrap()
}

/// `search` with its state replaced by `edit` applied to its snapshot.
fn edited(search: &mut Search, edit: impl FnOnce(&mut Snapshot)) {
    let mut snap = block_on(search.snapshot());
    edit(&mut snap);
    search.resume_from(&snap, Vec::new()).unwrap();
}

#[test]
fn the_state_check_names_every_non_finite_part() {
    let mut s = search();
    assert!(block_on(s.non_finite_parts()).is_empty(), "a fresh search is finite");
    edited(&mut s, |snap| snap.bn_var[0][0] = f32::NAN);
    assert_eq!(block_on(s.non_finite_parts()), ["BatchNorm running statistics"]);
    edited(&mut s, |snap| {
        snap.weights[3][1] = f32::INFINITY;
        snap.alpha.1[0] = f32::NEG_INFINITY;
        snap.adam.v[0][0] = f32::NAN;
    });
    assert_eq!(block_on(s.non_finite_parts()), ["weights", "α", "Adam's moments of α", "BatchNorm running statistics"]);
}

#[test]
fn divergence_at_the_end_of_an_epoch_stops_before_the_epoch_is_reported() {
    let mut s = search();
    block_on(s.run_epoch(&mut |_| {})).unwrap();
    // Running statistics are used only in evaluation, so every step stays finite; an overflowed
    // running variance even leaves the validation loss finite (x / √∞ = 0). The state check
    // catches it.
    edited(&mut s, |snap| snap.bn_var[2][1] = f32::INFINITY);
    let mut epochs = 0;
    let err = block_on(s.run_epoch(&mut |e| epochs += matches!(e, SearchEvent::Epoch(_)) as usize)).unwrap_err();
    let CoreError::Numerical(message) = &err else { panic!("expected a numerical failure, got {err}") };
    assert!(message.contains("end of epoch 1") && message.contains("not finite: BatchNorm running statistics"), "{message}");
    assert_eq!(epochs, 0, "the failed epoch is not reported");
    assert_eq!(s.epoch(), 1, "the failed epoch does not count");

    // A NaN there reaches the validation loss, which is named first.
    let mut s = search();
    block_on(s.run_epoch(&mut |_| {})).unwrap();
    edited(&mut s, |snap| snap.bn_var[2][1] = f32::NAN);
    let err = block_on(s.run_epoch(&mut |_| {})).unwrap_err().to_string();
    assert!(err.contains("the validation loss became NaN at the end of epoch 1"), "{err}");
}

/// A step whose loss is not finite stops the search with its epoch and step named, also when the
/// steps are read in groups (the first bad step of the group is named, and none of the group is
/// reported).
#[test]
fn a_non_finite_step_is_named_when_its_group_is_read() {
    for read_every in [1, 3] {
        let mut s = search();
        s.set_read_every(read_every);
        block_on(s.run_epoch(&mut |_| {})).unwrap();
        // A NaN in the stem's convolution reaches every logit, so the next epoch's first step fails.
        edited(&mut s, |snap| snap.weights[0][0] = f32::NAN);
        let mut steps = 0;
        let err = block_on(s.run_epoch(&mut |e| steps += matches!(e, SearchEvent::Step(_)) as usize)).unwrap_err();
        let CoreError::Numerical(message) = &err else { panic!("expected a numerical failure, got {err}") };
        assert!(message.contains("loss became NaN") && message.contains("at epoch 1, step 0"), "read every {read_every}: {message}");
        assert_eq!(steps, 0, "read every {read_every}: a failed step is not reported");
        assert_eq!(s.epoch(), 1, "the failed epoch does not count");
    }
}

#[test]
fn a_checkpoint_holding_a_nan_is_refused_as_corrupt() {
    let mut s = search();
    block_on(s.run_epoch(&mut |_| {})).unwrap();
    let mut snap = block_on(s.snapshot());
    assert_eq!(snap.non_finite_part(), None);
    let good = Snapshot::from_bytes("good", &snap.to_bytes()).unwrap();
    assert_eq!(good, snap);
    snap.momentum[1][0] = f32::NAN;
    let err = Snapshot::from_bytes("bad.safetensors", &snap.to_bytes()).unwrap_err().to_string();
    assert!(err.contains("bad.safetensors") && err.contains("the momentum buffers"), "{err}");
}
