//! The weight format of KV-cache decoding.

use std::fmt;
use std::str::FromStr;

use aigc_tensor::Error;

/// The storage format of the linear layers' and the LM head's weights in decoding.
///
/// [`Quantization::F32`] keeps them exact: cached logits equal those of the
/// full forward pass. [`Quantization::Q8`] stores 8-bit weights with an f32
/// scale per block of 32 inputs and quantises each layer's input the same
/// way (see [`aigc_tensor::packed::Q8Matrix`]): a quarter of the weight
/// traffic, with logits that differ slightly from f32. Embeddings,
/// LayerNorms, attention and the residual stream stay f32 in both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Quantization {
    /// f32 weights, exact (the default).
    #[default]
    F32,
    /// 8-bit weights and activations in blocks of 32.
    Q8,
}

impl Quantization {
    /// The names [`Quantization::from_str`] accepts, as listed in errors.
    pub const NAMES: &'static str = "f32 (or none), q8";

    /// Returns the canonical name: `f32` or `q8`.
    pub fn name(self) -> &'static str {
        match self {
            Quantization::F32 => "f32",
            Quantization::Q8 => "q8",
        }
    }
}

impl fmt::Display for Quantization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Quantization {
    type Err = Error;

    /// Parses `f32` or `none` (no quantisation) and `q8`, ignoring case.
    fn from_str(text: &str) -> Result<Quantization, Error> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f32" | "none" => Ok(Quantization::F32),
            "q8" => Ok(Quantization::Q8),
            _ => Err(Error::invalid("quantization", format!("unknown weight format {text:?}; valid values: {}", Quantization::NAMES))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for quantization in [Quantization::F32, Quantization::Q8] {
            assert_eq!(quantization.name().parse::<Quantization>().unwrap(), quantization);
        }
        assert_eq!("none".parse::<Quantization>().unwrap(), Quantization::F32);
        assert_eq!(" Q8 ".parse::<Quantization>().unwrap(), Quantization::Q8);
    }

    #[test]
    fn unknown_name_lists_valid_values() {
        let error = "q4".parse::<Quantization>().unwrap_err().to_string();
        assert!(error.contains("unknown weight format \"q4\""), "{error}");
        assert!(error.contains("valid values: f32 (or none), q8"), "{error}");
    }
}
