//! Reverse-mode differentiation: walk the graph backwards from one output.

use std::collections::{HashMap, HashSet};

use aigc_tensor::{Error, Result, Tensor};

use crate::Var;

impl Var {
    /// Back-propagates from this scalar: fills `.grad()` of every leaf that
    /// requires a gradient, adding to gradients already stored there.
    ///
    /// Fails unless the value has exactly one element.
    pub fn backward(&self) -> Result<()> {
        let shape = self.shape();
        if shape.iter().product::<usize>() != 1 {
            return Err(Error::invalid(
                "backward",
                format!("backward() needs a scalar output, got shape {shape:?}; use backward_with(grad) for others"),
            ));
        }
        self.backward_with(Tensor::ones(&shape))
    }

    /// Back-propagates `grad`, the gradient of some scalar with respect to
    /// this node (same shape as the value).
    pub fn backward_with(&self, grad: Tensor) -> Result<()> {
        if grad.shape() != self.shape().as_slice() {
            return Err(Error::shape("backward_with", &self.shape(), grad.shape(), "the gradient must have the value's shape"));
        }
        if !self.requires_grad() {
            return Err(Error::invalid(
                "backward",
                "this value does not require a gradient: no input was a parameter, or it was computed under no_grad",
            ));
        }
        let order = topological_order(self);
        let mut grads: HashMap<usize, Tensor> = HashMap::new();
        grads.insert(self.id(), grad);

        // Children come after their parents in `order`, so walking it in
        // reverse visits every node after all the nodes that use it.
        for var in order.iter().rev() {
            let Some(grad) = grads.remove(&var.id()) else { continue };
            let Some(node) = &var.0.node else {
                var.accumulate_grad(grad)?;
                continue;
            };
            let parent_grads = (node.backward)(&grad)?;
            if parent_grads.len() != node.parents.len() {
                return Err(Error::invalid(
                    node.op,
                    format!("backward returned {} gradients for {} inputs", parent_grads.len(), node.parents.len()),
                ));
            }
            for (parent, parent_grad) in node.parents.iter().zip(parent_grads) {
                let Some(parent_grad) = parent_grad else { continue };
                if !parent.requires_grad() {
                    continue;
                }
                if parent_grad.shape() != parent.shape().as_slice() {
                    return Err(Error::shape(
                        node.op,
                        &parent.shape(),
                        parent_grad.shape(),
                        "backward produced a gradient whose shape differs from its input's",
                    ));
                }
                match grads.get_mut(&parent.id()) {
                    Some(existing) => existing.add_scaled_inplace(&parent_grad, 1.0)?,
                    None => {
                        grads.insert(parent.id(), parent_grad);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The nodes reachable from `root` that require a gradient, each after all of
/// its parents. Iterative, so deep graphs cannot overflow the stack.
fn topological_order(root: &Var) -> Vec<Var> {
    let mut order = Vec::new();
    let mut visited = HashSet::new();
    // (node, whether its parents have been pushed already)
    let mut stack = vec![(root.clone(), false)];
    while let Some((var, parents_done)) = stack.pop() {
        if parents_done {
            order.push(var);
            continue;
        }
        if !visited.insert(var.id()) {
            continue;
        }
        stack.push((var.clone(), true));
        if let Some(node) = &var.0.node {
            for parent in &node.parents {
                if parent.requires_grad() && !visited.contains(&parent.id()) {
                    stack.push((parent.clone(), false));
                }
            }
        }
    }
    order
}
