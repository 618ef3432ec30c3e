//! Every instruction set's packed kernels against the naive references, bit
//! for bit, on odd, zero-size and multi-block shapes, on the calling thread
//! and split across a thread team.

use super::*;
use crate::Rng;

const ISAS: [Isa; 3] = [Isa::Avx512, Isa::Avx2, Isa::Portable];

/// Outputs: empty, a sliver, around one panel, several panels with a partial last one.
const OUTPUTS: [usize; 7] = [0, 1, 5, 63, 64, 65, 200];
/// Inputs: empty, around one Q8 block, and 513 and 1100, which take 2 and 3 depth blocks.
const INPUTS: [usize; 8] = [0, 1, 3, 31, 32, 33, 513, 1100];
/// Rows: none, one (decoding), and around the four-row tiles.
const ROWS: [usize; 5] = [0, 1, 3, 4, 9];

fn random(len: usize, seed: u64) -> Vec<f32> {
    Tensor::randn(&[len], 0.0, 1.0, &mut Rng::seed(seed)).to_vec()
}

fn available(kind: KernelKind) -> Vec<Isa> {
    ISAS.into_iter().filter(|isa| isa.available(kind)).collect()
}

/// No team, and a team of three threads, so that panels land on every thread.
fn teams() -> [Option<ThreadTeam>; 2] {
    [None, Some(ThreadTeam::new(3))]
}

#[test]
fn f32_kernels_match_naive_bit_for_bit() {
    for (isa, team) in available(KernelKind::F32).into_iter().flat_map(|isa| teams().map(|team| (isa, team))) {
        for (i, &outputs) in OUTPUTS.iter().enumerate() {
            for (j, &inputs) in INPUTS.iter().enumerate() {
                let weight = random(outputs * inputs, (10 * i + j) as u64);
                let packed = PackedMatrix::from_rows(&weight, outputs, inputs).unwrap();
                for &rows in &ROWS {
                    let x = random(rows * inputs, 1000 + rows as u64);
                    let mut expected = vec![0.0; rows * outputs];
                    naive_linear(&weight, outputs, inputs, &x, rows, &mut expected).unwrap();
                    let mut y = vec![f32::NAN; rows * outputs];
                    packed.linear_with(isa, team.as_ref(), &x, rows, &mut y).unwrap();
                    assert_eq!(y, expected, "{isa:?}, {team:?}: {rows} rows × {inputs} inputs → {outputs} outputs");
                }
            }
        }
    }
}

#[test]
fn q8_kernels_match_naive_bit_for_bit() {
    for (isa, team) in available(KernelKind::Q8).into_iter().flat_map(|isa| teams().map(|team| (isa, team))) {
        for (i, &outputs) in OUTPUTS.iter().enumerate() {
            for (j, &inputs) in INPUTS.iter().enumerate() {
                let weight = random(outputs * inputs, (10 * i + j) as u64);
                let matrix = Q8Matrix::from_rows(&weight, outputs, inputs).unwrap();
                for &rows in &ROWS {
                    let x = random(rows * inputs, 1000 + rows as u64);
                    let mut expected = vec![0.0; rows * outputs];
                    naive_q8_linear(&weight, outputs, inputs, &x, rows, &mut expected).unwrap();
                    let mut quantized = Q8Vector::new();
                    quantized.quantize(&x, rows, inputs).unwrap();
                    let mut y = vec![f32::NAN; rows * outputs];
                    matrix.linear_with(isa, team.as_ref(), &quantized, &mut y).unwrap();
                    assert_eq!(y, expected, "{isa:?}, {team:?}: {rows} rows × {inputs} inputs → {outputs} outputs");
                }
            }
        }
    }
}

#[test]
fn q8_dequantize_is_within_half_a_step() {
    let (outputs, inputs) = (70, 45);
    let weight = random(outputs * inputs, 3);
    let restored = Q8Matrix::from_rows(&weight, outputs, inputs).unwrap().dequantize();
    for (o, (row, restored_row)) in weight.chunks(inputs).zip(restored.chunks(inputs)).enumerate() {
        for (b, (block, restored_block)) in row.chunks(Q8_BLOCK).zip(restored_row.chunks(Q8_BLOCK)).enumerate() {
            let step = block.iter().fold(0.0f32, |m, v| m.max(v.abs())) / 127.0;
            for (&w, &r) in block.iter().zip(restored_block) {
                assert!((w - r).abs() <= 0.5 * step * 1.0001, "row {o} block {b}: {w} restored as {r} (step {step})");
            }
        }
    }
}

#[test]
fn q8_zero_block_has_zero_scale() {
    let mut quantized = Q8Vector::new();
    quantized.quantize(&[0.0; 40], 1, 40).unwrap();
    let (values, scale, excess) = quantized.block(0, 0);
    assert_eq!(scale, 0.0);
    assert_eq!(excess, 0);
    assert!(values.iter().all(|&q| q == 0));
}

#[test]
fn wrong_lengths_are_rejected() {
    let packed = PackedMatrix::from_rows(&[1.0; 6], 2, 3).unwrap();
    let mut y = [0.0; 2];
    let error = packed.linear(&[1.0; 4], 1, &mut y).unwrap_err().to_string();
    assert!(error.contains("PackedMatrix::linear"), "{error}");
    assert!(error.contains("x has 4 values, expected 1 × 3"), "{error}");
    let error = packed.linear(&[1.0; 3], 1, &mut [0.0; 3]).unwrap_err().to_string();
    assert!(error.contains("y has 3 values, expected 1 × 2"), "{error}");
    assert!(PackedMatrix::from_rows(&[1.0; 5], 2, 3).is_err());

    let matrix = Q8Matrix::from_rows(&[1.0; 6], 2, 3).unwrap();
    let mut quantized = Q8Vector::new();
    quantized.quantize(&[1.0; 4], 1, 4).unwrap();
    let error = matrix.linear(&quantized, &mut y).unwrap_err().to_string();
    assert!(error.contains("rows of 4 values, but W takes 3 inputs"), "{error}");
    assert!(quantized.quantize(&[1.0; 5], 2, 3).is_err());
}

#[test]
fn pack_takes_only_matrices() {
    let error = PackedMatrix::pack(&Tensor::zeros(&[2, 3, 4])).unwrap_err().to_string();
    assert!(error.contains("must be 2-D (out, in), got shape [2, 3, 4]"), "{error}");
    assert!(Q8Matrix::quantize(&Tensor::zeros(&[5])).is_err());
}

#[test]
fn q8_non_finite_input_gives_nan() {
    let matrix = Q8Matrix::from_rows(&random(3 * 64, 4), 3, 64).unwrap();
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        let mut x = random(64, 5);
        x[40] = bad;
        let mut quantized = Q8Vector::new();
        quantized.quantize(&x, 1, 64).unwrap();
        let mut y = [0.0; 3];
        matrix.linear(&quantized, &mut y).unwrap();
        assert!(y.iter().all(|v| v.is_nan()), "input {bad} gave {y:?}");
        assert!(quantized.block(0, 0).1.is_finite(), "the block without {bad} keeps its scale");
    }
}
