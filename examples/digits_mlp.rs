//! Classifies the UCI handwritten digits (8×8 images, 10 classes) with a
//! two-layer MLP, trained through the Keras-style API.
//!
//! ```text
//! cargo run --release --example digits_mlp
//! ```
//!
//! The data is `digits.csv` (1 797 rows of 64 pixel values 0..16, then the
//! label) in the directory named by `AIGC_DATA`, or in `../shared/data` next
//! to the workspace when `AIGC_DATA` is not set.

use std::path::PathBuf;
use std::process::ExitCode;

use aigc::layers::{Dense, ReLU};
use aigc::models::Sequential;
use aigc::train::datasets::load_digits;
use aigc::train::FitOptions;
use aigc::{Rng, Tensor};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    // 1. Load: x (1797, 64) pixels scaled to [0, 1], y (1797,) class ids.
    let path = digits_path();
    if !path.is_file() {
        return Err(
            format!("{} not found; set AIGC_DATA to the directory that contains digits.csv", path.display()).into()
        );
    }
    let (x, y) = load_digits(&path)?;

    // 2. Shuffle with a fixed seed, then split 80 % training, 20 % test.
    let (x, y) = shuffle_rows(&x, &y, 42)?;
    let rows = x.shape()[0];
    let train_rows = rows * 8 / 10;
    let (x_train, y_train) = (x.narrow(0, 0, train_rows)?, y.narrow(0, 0, train_rows)?);
    let test_rows = rows - train_rows;
    let (x_test, y_test) = (x.narrow(0, train_rows, test_rows)?, y.narrow(0, train_rows, test_rows)?);
    println!("{train_rows} training and {test_rows} test images");

    // 3. Model: 64 → 128 → ReLU → 10 logits.
    let mut rng = Rng::seed(0);
    let mut model =
        Sequential::new().add(Dense::new(64, 128, true, &mut rng)).add(ReLU).add(Dense::new(128, 10, true, &mut rng));
    model.compile("adam", "sparse_categorical_crossentropy", &["accuracy"])?;

    // 4. Train, holding out the last 10 % of the training rows for validation.
    let options = FitOptions::new(30, 32).validation_split(0.1).seed(0);
    let history = model.fit_with(&x_train, &y_train, options)?;
    if let Some(val_accuracy) = history.last("val_accuracy") {
        println!("final validation accuracy {val_accuracy:.4}");
    }

    // 5. Evaluate on the test rows the model never saw.
    let (test_loss, test_accuracy) = model.evaluate(&x_test, &y_test)?;
    println!("test loss {test_loss:.4}, test accuracy {test_accuracy:.4}");
    Ok(())
}

/// `$AIGC_DATA/digits.csv`, or `<workspace>/../shared/data/digits.csv`.
fn digits_path() -> PathBuf {
    let dir = match std::env::var_os("AIGC_DATA").filter(|value| !value.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data"),
    };
    dir.join("digits.csv")
}

/// The rows of x (N, F) and y (N,) in one random order drawn from `seed`.
fn shuffle_rows(x: &Tensor, y: &Tensor, seed: u64) -> aigc::tensor::Result<(Tensor, Tensor)> {
    let rows = x.shape()[0];
    let mut order: Vec<usize> = (0..rows).collect();
    Rng::seed(seed).shuffle(&mut order);
    let ids = Tensor::from_vec(order.iter().map(|&i| i as f32).collect(), &[rows])?;
    let x = x.gather_rows(&ids)?;
    let y = y.reshape(&[rows, 1])?.gather_rows(&ids)?.reshape(&[rows])?;
    Ok((x, y))
}
