//! Differentiable operations on [`crate::Var`], grouped by family. Each
//! operation's backward sits beside its forward, with the derivative in a comment.

mod binary;
mod index;
mod matmul;
mod reduce;
mod shape;
mod softmax;
mod unary;
