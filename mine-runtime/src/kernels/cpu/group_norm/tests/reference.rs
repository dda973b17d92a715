//! Values and gradients against the f64 references on small, odd and model shapes; empty input.

use super::*;

#[test]
fn matches_reference_on_small_shapes() {
    let mut seed = 1;
    for n in [1, 3] {
        for c in [3, 16, 32] {
            for (h, w) in [(7, 5), (33, 17), (1, 1), (64, 64)] {
                for groups in [1, if c % 2 == 0 { 2 } else { 3 }, c] {
                    for relu in RELUS {
                        seed += 1;
                        check(
                            &Shape {
                                n,
                                c,
                                hw: h * w,
                                groups,
                            },
                            relu,
                            0.0,
                            seed,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn matches_reference_on_model_shapes() {
    // The full batch of 32 in optimised builds; a smaller one keeps debug runs quick.
    let n = if cfg!(debug_assertions) { 4 } else { 32 };
    for (c, hw) in [(16, 64 * 64), (32, 32 * 32), (32, 16 * 16)] {
        for relu in RELUS {
            check(
                &Shape {
                    n,
                    c,
                    hw,
                    groups: 1,
                },
                relu,
                0.0,
                7 + c as u64,
            );
        }
    }
    check(
        &Shape {
            n: 32,
            c: 32,
            hw: 17 * 9,
            groups: 32,
        },
        Relus::on_output(true),
        0.0,
        99,
    );
}

#[test]
fn empty_batch_is_a_no_op() {
    let (mut mean, mut rstd) = (vec![], vec![]);
    group_norm_forward(
        &[],
        &[1.0; 4],
        &[0.0; 4],
        0,
        4,
        16,
        2,
        1e-5,
        Relus::on_output(true),
        &mut [],
        &mut mean,
        &mut rstd,
    );
    let (mut dg, mut db) = (vec![1.0; 4], vec![1.0; 4]);
    group_norm_backward(
        &[],
        &[],
        &[],
        &[1.0; 4],
        &[],
        &[],
        0,
        4,
        16,
        2,
        Relus::on_output(true),
        &mut [],
        None,
        &mut dg,
        &mut db,
    );
    assert_eq!((dg, db), (vec![0.0; 4], vec![0.0; 4]));
}
