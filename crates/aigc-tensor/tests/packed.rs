//! `PackedMatrix::linear` equals the AVX2 GEMM kernel's `x·Wᵀ` bit for bit,
//! across depth blocks (k > 512) and for one and several rows.

mod common;

use aigc_tensor::gemm::Avx2Kernel;
use aigc_tensor::packed::PackedMatrix;
use common::random;

#[test]
fn packed_linear_equals_avx2_matmul() {
    if !Avx2Kernel::is_supported() {
        return; // elsewhere the AVX2 kernel is matrixmultiply, with its own rounding
    }
    let kernel = Avx2Kernel;
    for (outputs, inputs) in [(65, 1100), (384, 128), (130, 513), (7, 3)] {
        let weight = random(&[outputs, inputs], 1);
        let packed = PackedMatrix::pack(&weight).unwrap();
        for rows in [1, 5] {
            let x = random(&[rows, inputs], 2);
            let expected = x.matmul_with(&weight.t().unwrap(), &kernel).unwrap();
            let mut y = vec![0.0; rows * outputs];
            packed.linear(&x.to_vec(), rows, &mut y).unwrap();
            assert_eq!(y, expected.to_vec(), "{rows} rows × {inputs} inputs → {outputs} outputs");
        }
    }
}
