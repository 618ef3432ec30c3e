//! Supervised fine-tuning data: conversations rendered with the chat
//! template, with the loss on assistant tokens only.
//!
//! Each conversation becomes the ids of
//! [`ChatTemplate::render_for_training`]. Position `t` of a sequence has
//! input `ids[t]` and target `ids[t + 1]` when that token belongs to an
//! assistant reply (its content or closing `<|end|>`), and target −1, which
//! the loss ignores, otherwise. So the model learns to write replies and to
//! stop, but never to imitate the user.
//!
//! A conversation of `L` tokens gives `L − 1` (input, target) positions. When
//! that is more than `block_size`, it is cut into overlapping windows of
//! `block_size` positions, each starting `block_size / 2` positions after the
//! previous one, and the last one ending at the end of the conversation. A
//! target that an earlier window already predicts is set to −1 in the later
//! one, so every target counts exactly once, with at least `block_size / 2`
//! tokens of context after the first window. Nothing is truncated or
//! dropped, except windows whose every target is −1 (such as a window inside
//! a long user message) and conversations with no assistant message.
//!
//! The held-out part is chosen among distinct conversations. Corpora often
//! repeat a conversation word for word (the chatterbot tech-support file has
//! one exchange more than a hundred times), and a copy on each side of the
//! split would let the model be scored on replies it was trained on. So each
//! held-out conversation is kept once, and its other copies are used for
//! neither training nor validation. Training conversations keep all their
//! copies.
//!
//! Batches are padded with `<|pad|>` inputs and −1 targets to the longest
//! sequence in the batch rather than to `block_size`. With causal attention
//! the padding at the end of a row cannot change the logits before it, and
//! its targets are ignored, so the loss and gradients are those of padding
//! to `block_size`, for less work.

use std::collections::HashMap;

use aigc_autograd::{NoGradGuard, Var};
use aigc_nn::{sparse_categorical_crossentropy, Module, IGNORE_INDEX};
use aigc_tensor::{Rng, Tensor};
use aigc_tokenizer::{ChatTemplate, Conversation, Role, Tokenizer};

use crate::batches::BatchSource;
use crate::error::{Result, TrainError};

const OP: &str = "ConversationDataset";

/// One example: inputs and targets of the same length, at most `block_size`,
/// without padding.
#[derive(Debug, Clone, PartialEq)]
struct Sequence {
    inputs: Vec<u32>,
    /// The next token id, or −1 where the loss ignores the position.
    targets: Vec<f32>,
}

/// Conversations for supervised fine-tuning, split into training and
/// held-out conversations, served as (B, T) input ids and (B, T) targets
/// with −1 on every position whose next token is not an assistant token.
///
/// ```
/// use aigc_tensor::Rng;
/// use aigc_tokenizer::{Message, Role, Tokenizer};
/// use aigc_train::chat_dataset::ConversationDataset;
/// use aigc_train::BatchSource;
///
/// let tokenizer = Tokenizer::byte_level();
/// let conversations: Vec<_> = (0..10)
///     .map(|i| vec![Message::new(Role::User, format!("{i} + 1?")), Message::new(Role::Assistant, format!("{}", i + 1))])
///     .collect();
/// let mut data = ConversationDataset::new(&tokenizer, &conversations, 32, 4, 0.2, 0)?;
/// assert_eq!((data.train_len(), data.val_len()), (8, 2));
///
/// let (x, y) = data.next_batch(&mut Rng::seed(0))?;
/// assert_eq!(x.shape()[0], 4);
/// assert_eq!(x.shape(), y.shape());
/// # Ok::<(), aigc_train::TrainError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ConversationDataset {
    train: Vec<Sequence>,
    val: Vec<Sequence>,
    heldout: Vec<Conversation>,
    train_conversations: usize,
    without_reply: usize,
    heldout_copies: usize,
    block_size: usize,
    batch_size: usize,
    pad_id: u32,
    /// Non-padding input tokens of the last training batch.
    last_batch_tokens: usize,
}

/// The loss on held-out assistant tokens, from [`ConversationDataset::heldout_loss`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HeldoutLoss {
    /// Mean cross-entropy per assistant token, in nats.
    pub loss: f32,
    /// The number of assistant tokens the mean is over.
    pub tokens: usize,
}

impl ConversationDataset {
    /// Renders `conversations` with `tokenizer`'s chat template and holds
    /// out `val_fraction` of them for validation.
    ///
    /// Conversations without an assistant message are left out (see
    /// [`without_reply`](Self::without_reply)). `val_fraction` of the
    /// distinct conversations are held out, chosen by a shuffle seeded with
    /// `seed`, so the same inputs always give the same split. With
    /// `val_fraction > 0`, at least one distinct conversation is held out
    /// and at least one is kept for training.
    ///
    /// # Errors
    /// Fails when `block_size` or `batch_size` is 0, `val_fraction` is not in
    /// [0, 1), there are no conversations, none has an assistant message,
    /// the split would leave no training conversation, or the tokenizer
    /// fails to encode a message.
    pub fn new(
        tokenizer: &Tokenizer,
        conversations: &[Conversation],
        block_size: usize,
        batch_size: usize,
        val_fraction: f32,
        seed: u64,
    ) -> Result<ConversationDataset> {
        check_arguments(block_size, batch_size, val_fraction)?;
        if conversations.is_empty() {
            return Err(TrainError::invalid(OP, "there are no conversations; fine-tuning needs at least one with an assistant reply"));
        }
        let usable: Vec<&Conversation> =
            conversations.iter().filter(|c| c.iter().any(|m| m.role == Role::Assistant)).collect();
        if usable.is_empty() {
            return Err(TrainError::invalid(
                OP,
                format!("none of the {} conversations has an assistant message, so there is nothing to learn", conversations.len()),
            ));
        }

        let copies = group_copies(&usable);
        let (train_groups, val_groups) = split(copies.len(), val_fraction, seed)?;
        let mut train_indices: Vec<usize> = train_groups.iter().flat_map(|&group| copies[group].iter().copied()).collect();
        train_indices.sort_unstable();
        let val_indices: Vec<usize> = val_groups.iter().map(|&group| copies[group][0]).collect();
        let heldout_copies = val_groups.iter().map(|&group| copies[group].len() - 1).sum();
        let template = ChatTemplate::new(tokenizer);
        let render = |indices: &[usize]| -> Result<Vec<Sequence>> {
            let mut sequences = Vec::new();
            for &index in indices {
                let (ids, loss_mask) = template
                    .render_for_training(usable[index])
                    .map_err(|e| TrainError::invalid(OP, format!("failed to encode conversation {}: {e}", index + 1)))?;
                sequences.extend(windows(&ids, &loss_mask, block_size));
            }
            Ok(sequences)
        };
        let train = render(&train_indices)?;
        let val = render(&val_indices)?;
        let heldout = val_indices.iter().map(|&index| usable[index].clone()).collect();

        Ok(ConversationDataset {
            train,
            val,
            heldout,
            train_conversations: train_indices.len(),
            without_reply: conversations.len() - usable.len(),
            heldout_copies,
            block_size,
            batch_size,
            pad_id: tokenizer.pad_id(),
            last_batch_tokens: 0,
        })
    }

    /// Returns the held-out conversations, in the order they were given.
    pub fn heldout_conversations(&self) -> &[Conversation] {
        &self.heldout
    }

    /// Returns the number of training sequences: one per training
    /// conversation, more where a long conversation is cut into windows.
    pub fn train_len(&self) -> usize {
        self.train.len()
    }

    /// Returns the number of held-out sequences.
    pub fn val_len(&self) -> usize {
        self.val.len()
    }

    /// Returns the number of training conversations.
    pub fn train_conversations(&self) -> usize {
        self.train_conversations
    }

    /// Returns the number of conversations left out because they have no
    /// assistant message.
    pub fn without_reply(&self) -> usize {
        self.without_reply
    }

    /// Returns the number of extra copies of held-out conversations, which
    /// are used for neither training nor validation.
    pub fn heldout_copies(&self) -> usize {
        self.heldout_copies
    }

    /// Returns the maximum sequence length.
    pub fn block_size(&self) -> usize {
        self.block_size
    }

    /// Returns the number of sequences per training batch.
    pub fn batch_size(&self) -> usize {
        self.batch_size
    }

    /// Computes the mean cross-entropy of `net` on every held-out assistant
    /// token, without recording gradients. Each token counts once, unlike
    /// the `val_loss` of [`crate::Model::fit_batches`], which averages the
    /// batch means.
    ///
    /// Put the network in evaluation mode first (a [`crate::Model`] is,
    /// outside `fit`), or dropout makes the result random.
    ///
    /// # Errors
    /// Fails when nothing is held out or the network rejects a batch.
    pub fn heldout_loss<N: Module + ?Sized>(&self, net: &N) -> Result<HeldoutLoss> {
        if self.val.is_empty() {
            return Err(TrainError::invalid(OP, "no conversation is held out (val_fraction 0), so there is no held-out loss"));
        }
        let _no_grad = NoGradGuard::new();
        let mut total_nats = 0.0f64;
        let mut tokens = 0usize;
        for (x, y) in self.batches(&self.val)? {
            let counted = y.to_vec().iter().filter(|&&target| target != IGNORE_INDEX).count();
            let logits = net.forward(&Var::new(x))?;
            let loss = sparse_categorical_crossentropy(&logits, &y)?.value().item()?;
            total_nats += f64::from(loss) * counted as f64;
            tokens += counted;
        }
        Ok(HeldoutLoss { loss: (total_nats / tokens as f64) as f32, tokens })
    }

    /// Cuts `sequences` into consecutive batches of at most `batch_size`, in order.
    fn batches(&self, sequences: &[Sequence]) -> Result<Vec<(Tensor, Tensor)>> {
        sequences.chunks(self.batch_size).map(|chunk| pad_batch(chunk.iter(), self.pad_id)).collect()
    }
}

impl BatchSource for ConversationDataset {
    /// Draws `batch_size` training sequences uniformly at random, with
    /// replacement: inputs and targets (B, T), T the longest of them.
    fn next_batch(&mut self, rng: &mut Rng) -> Result<(Tensor, Tensor)> {
        let chosen: Vec<&Sequence> = (0..self.batch_size).map(|_| &self.train[rng.below(self.train.len())]).collect();
        self.last_batch_tokens = chosen.iter().map(|s| s.inputs.len()).sum();
        pad_batch(chosen.into_iter(), self.pad_id)
    }

    /// Returns every held-out sequence, in order, in batches of `batch_size`.
    fn validation_batches(&mut self, _rng: &mut Rng) -> Result<Vec<(Tensor, Tensor)>> {
        self.batches(&self.val)
    }

    /// Returns the number of input tokens, padding excluded, of the last
    /// training batch.
    fn tokens_per_batch(&self) -> usize {
        self.last_batch_tokens
    }
}

fn check_arguments(block_size: usize, batch_size: usize, val_fraction: f32) -> Result<()> {
    if block_size == 0 {
        return Err(TrainError::invalid(OP, "block_size is 0; it must be at least 1"));
    }
    if batch_size == 0 {
        return Err(TrainError::invalid(OP, "batch_size is 0; it must be at least 1"));
    }
    if !(0.0..1.0).contains(&val_fraction) {
        return Err(TrainError::invalid(OP, format!("val_fraction {val_fraction} is invalid; it must be in [0, 1)")));
    }
    Ok(())
}

/// Groups the indices of identical conversations, in order of first
/// occurrence: `groups[g]` lists the copies of one conversation in ascending order.
fn group_copies(conversations: &[&Conversation]) -> Vec<Vec<usize>> {
    let mut group_of: HashMap<Vec<(Role, &str)>, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (index, conversation) in conversations.iter().enumerate() {
        let key = conversation.iter().map(|m| (m.role, m.content.as_str())).collect();
        let group = *group_of.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[group].push(index);
    }
    groups
}

/// Splits `0..count` into training and held-out indices, each in ascending
/// order, after a shuffle seeded with `seed`.
fn split(count: usize, val_fraction: f32, seed: u64) -> Result<(Vec<usize>, Vec<usize>)> {
    let mut order: Vec<usize> = (0..count).collect();
    Rng::seed(seed).shuffle(&mut order);
    let held_out = if val_fraction > 0.0 { ((count as f64 * f64::from(val_fraction)).round() as usize).max(1) } else { 0 };
    if held_out >= count {
        return Err(TrainError::invalid(
            OP,
            format!(
                "val_fraction {val_fraction} holds out {held_out} of the {count} distinct conversations with an assistant reply, leaving none for training; use more conversations or a smaller val_fraction"
            ),
        ));
    }
    let mut val = order[..held_out].to_vec();
    let mut train = order[held_out..].to_vec();
    val.sort_unstable();
    train.sort_unstable();
    Ok((train, val))
}

/// Turns a rendered conversation into sequences of at most `block_size`
/// positions, as the module documentation describes.
fn windows(ids: &[u32], loss_mask: &[bool], block_size: usize) -> Vec<Sequence> {
    let positions = ids.len().saturating_sub(1);
    let target = |t: usize| if loss_mask[t + 1] { ids[t + 1] as f32 } else { IGNORE_INDEX };

    let stride = (block_size / 2).max(1);
    let mut sequences = Vec::new();
    // The first position whose target no earlier window has predicted.
    let mut predicted_up_to = 0;
    let mut start = 0;
    while predicted_up_to < positions {
        let start_clamped = start.min(positions.saturating_sub(block_size));
        let end = (start_clamped + block_size).min(positions);
        let targets: Vec<f32> =
            (start_clamped..end).map(|t| if t < predicted_up_to { IGNORE_INDEX } else { target(t) }).collect();
        if targets.iter().any(|&y| y != IGNORE_INDEX) {
            sequences.push(Sequence { inputs: ids[start_clamped..end].to_vec(), targets });
        }
        predicted_up_to = end;
        start += stride;
    }
    sequences
}

/// Stacks sequences into (B, T) inputs and targets, T the longest sequence,
/// padding inputs with `pad_id` and targets with −1.
fn pad_batch<'a>(sequences: impl Iterator<Item = &'a Sequence> + Clone, pad_id: u32) -> Result<(Tensor, Tensor)> {
    let rows = sequences.clone().count();
    let width = sequences.clone().map(|s| s.inputs.len()).max().unwrap_or(0);
    let mut x = Vec::with_capacity(rows * width);
    let mut y = Vec::with_capacity(rows * width);
    for sequence in sequences {
        let padding = width - sequence.inputs.len();
        x.extend(sequence.inputs.iter().map(|&id| id as f32));
        x.extend(std::iter::repeat(pad_id as f32).take(padding));
        y.extend_from_slice(&sequence.targets);
        y.extend(std::iter::repeat(IGNORE_INDEX).take(padding));
    }
    Ok((Tensor::from_vec(x, &[rows, width])?, Tensor::from_vec(y, &[rows, width])?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the counted (not −1) targets of all windows, in order.
    fn positions(sequences: &[Sequence]) -> Vec<f32> {
        sequences.iter().flat_map(|s| s.targets.iter().copied()).filter(|&y| y != IGNORE_INDEX).collect()
    }

    #[test]
    fn short_sequence_is_one_window() {
        let ids = [1, 2, 3, 4];
        let mask = [false, false, true, true];
        let sequences = windows(&ids, &mask, 8);
        assert_eq!(sequences, vec![Sequence { inputs: vec![1, 2, 3], targets: vec![-1.0, 3.0, 4.0] }]);
    }

    #[test]
    fn long_sequence_predicts_each_target_once() {
        let ids: Vec<u32> = (0..23).collect();
        let mask: Vec<bool> = (0..23).map(|i| i % 3 != 0).collect();
        let sequences = windows(&ids, &mask, 8);
        let expected: Vec<f32> = (1..23).filter(|i| i % 3 != 0).map(|i| i as f32).collect();
        assert_eq!(positions(&sequences), expected);
        for sequence in &sequences {
            assert_eq!(sequence.inputs.len(), 8, "every window of a long conversation is full");
        }
        assert_eq!(sequences.last().unwrap().inputs.last(), Some(&21), "the last window ends at the last input");
    }

    #[test]
    fn window_without_targets_is_dropped() {
        let ids: Vec<u32> = (0..30).collect();
        let mask: Vec<bool> = (0..30).map(|i| (10..12).contains(&i)).collect();
        let sequences = windows(&ids, &mask, 8);
        assert_eq!(positions(&sequences), vec![10.0, 11.0]);
        assert_eq!(sequences.len(), 1, "only the window [4, 12) has a target to learn");
        assert_eq!(sequences[0].inputs, (4..12).collect::<Vec<u32>>());
    }

    #[test]
    fn block_size_one_still_covers_every_target() {
        let ids = [5, 6, 7];
        let mask = [false, true, true];
        let sequences = windows(&ids, &mask, 1);
        assert_eq!(positions(&sequences), vec![6.0, 7.0]);
    }
}
