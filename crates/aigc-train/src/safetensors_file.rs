//! Reading and writing `model.safetensors`: named f32 tensors in the Hugging
//! Face safetensors format, through the `safetensors` crate.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aigc_tensor::Tensor;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};

use crate::error::{Result, TrainError};

fn tensor_bytes(t: &Tensor) -> Vec<u8> {
    t.to_vec().iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Encodes named tensors as safetensors bytes (f32, little-endian), with
/// `metadata` as the header's `__metadata__` object.
///
/// Equal tensors and metadata always give equal bytes: the `safetensors`
/// crate (0.4) writes the metadata from a `HashMap`, in an order that
/// changes from one map to the next, so the object is added here instead,
/// in key order.
pub fn encode_safetensors(tensors: &[(String, Tensor)], metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let buffers: Vec<(String, Vec<usize>, Vec<u8>)> =
        tensors.iter().map(|(name, t)| (name.clone(), t.shape().to_vec(), tensor_bytes(t))).collect();
    let mut views = Vec::with_capacity(buffers.len());
    for (name, shape, bytes) in &buffers {
        let view = TensorView::new(Dtype::F32, shape.clone(), bytes)
            .map_err(|e| TrainError::invalid("save", format!("tensor {name}: {e}")))?;
        views.push((name.clone(), view));
    }
    let bytes = safetensors::serialize(views, &None).map_err(|e| TrainError::invalid("save", e.to_string()))?;
    insert_metadata(bytes, metadata)
}

/// Adds `metadata` as the first entry of the JSON header of safetensors
/// `bytes` written without one. The layout is an 8-byte little-endian
/// header length, the header padded with spaces to a multiple of 8 bytes
/// (so the data stays aligned), then the data, whose offsets are relative
/// to its own start and so do not change.
fn insert_metadata(bytes: Vec<u8>, metadata: &BTreeMap<String, String>) -> Result<Vec<u8>> {
    let malformed = || TrainError::invalid("save", "the safetensors writer returned a malformed header");
    if metadata.is_empty() {
        return Ok(bytes);
    }
    let length = bytes.get(..8).ok_or_else(malformed)?;
    let length = usize::try_from(u64::from_le_bytes(length.try_into().map_err(|_| malformed())?)).map_err(|_| malformed())?;
    let header = bytes.get(8..8 + length).ok_or_else(malformed)?;
    let header = std::str::from_utf8(header).map_err(|_| malformed())?.trim_end_matches(' ');
    let entries = header.strip_prefix('{').ok_or_else(malformed)?;

    let metadata = serde_json::to_string(metadata).map_err(|e| TrainError::invalid("save", e.to_string()))?;
    let separator = if entries.starts_with('}') { "" } else { "," };
    let mut new_header = format!("{{\"__metadata__\":{metadata}{separator}{entries}");
    while new_header.len() % 8 != 0 {
        new_header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + new_header.len() + bytes.len() - 8 - length);
    out.extend_from_slice(&(new_header.len() as u64).to_le_bytes());
    out.extend_from_slice(new_header.as_bytes());
    out.extend_from_slice(&bytes[8 + length..]);
    Ok(out)
}

/// Decodes every tensor of a safetensors file into f32 tensors, by name.
pub fn decode_safetensors(path: &Path, bytes: &[u8]) -> Result<HashMap<String, Tensor>> {
    let file = SafeTensors::deserialize(bytes)
        .map_err(|e| TrainError::invalid_file(path, format!("not a valid safetensors file ({e}); the file may be truncated or corrupted")))?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TrainError::invalid_file(path, format!("tensor {name} has dtype {:?}; expected F32", view.dtype())));
        }
        let values: Vec<f32> =
            view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name.clone(), Tensor::from_vec(values, view.shape())?);
    }
    Ok(out)
}
