//! Gathering and masking.

use aigc_tensor::{Result, Tensor};

use crate::Var;

impl Var {
    /// Embedding lookup: rows of this 2-D table at `ids` (shape S → S + [columns]).
    /// The ids are constants; only the table receives a gradient.
    pub fn gather_rows(&self, ids: &Tensor) -> Result<Var> {
        let value = self.value().gather_rows(ids)?;
        let rows = self.shape()[0];
        let ids = ids.clone();
        // each looked-up row receives the gradient of every position that used it
        Ok(Var::from_op("gather_rows", value, &[self], move |g| Ok(vec![Some(g.scatter_add_rows(&ids, rows)?)])))
    }

    /// Replaces elements with `value` where `mask` is non-zero (the mask broadcasts).
    pub fn masked_fill(&self, mask: &Tensor, value: f32) -> Result<Var> {
        let out = self.value().masked_fill(mask, value)?;
        let mask = mask.clone();
        // filled positions are constants: their gradient is 0
        Ok(Var::from_op("masked_fill", out, &[self], move |g| Ok(vec![Some(g.masked_fill(&mask, 0.0)?)])))
    }
}
