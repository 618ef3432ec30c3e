//! `ConversationDataset`: loss masks, the held-out split, batch shapes,
//! windows of long conversations, the held-out loss and the errors.

use aigc_gpt::{Gpt, GptConfig};
use aigc_nn::{sparse_categorical_crossentropy, IGNORE_INDEX};
use aigc_tensor::{Rng, Tensor};
use aigc_tokenizer::{ChatTemplate, Conversation, Message, Role, Tokenizer};
use aigc_train::chat_dataset::ConversationDataset;
use aigc_train::{BatchSource, TrainError};

fn exchange(user: &str, assistant: &str) -> Conversation {
    vec![Message::new(Role::User, user), Message::new(Role::Assistant, assistant)]
}

/// `count` conversations of different lengths, some with a system message
/// and two assistant turns.
fn conversations(count: usize) -> Vec<Conversation> {
    (0..count)
        .map(|i| {
            let mut conversation = Vec::new();
            if i % 3 == 0 {
                conversation.push(Message::new(Role::System, "be brief"));
            }
            conversation.extend(exchange(&format!("question {i}{}", "?".repeat(i % 5)), &format!("answer {i}")));
            if i % 2 == 0 {
                conversation.extend(exchange("and then?", "done"));
            }
            conversation
        })
        .collect()
}

/// The (x, y) rows a short conversation must become, unpadded.
fn expected_rows(tokenizer: &Tokenizer, conversation: &Conversation) -> (Vec<f32>, Vec<f32>) {
    let (ids, mask) = ChatTemplate::new(tokenizer).render_for_training(conversation).unwrap();
    let x = ids[..ids.len() - 1].iter().map(|&id| id as f32).collect();
    let y = (1..ids.len()).map(|t| if mask[t] { ids[t] as f32 } else { IGNORE_INDEX }).collect();
    (x, y)
}

fn rows(t: &Tensor) -> Vec<Vec<f32>> {
    let width = t.shape()[1];
    t.to_vec().chunks(width).map(<[f32]>::to_vec).collect()
}

#[test]
fn targets_are_ignored_except_on_assistant_tokens() {
    let tokenizer = Tokenizer::byte_level();
    let all = conversations(12);
    let mut data = ConversationDataset::new(&tokenizer, &all, 128, 4, 0.5, 7).unwrap();
    let heldout = data.heldout_conversations().to_vec();
    assert_eq!(heldout.len(), 6);

    let batches = data.validation_batches(&mut Rng::seed(0)).unwrap();
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for (x, y) in &batches {
        xs.extend(rows(x));
        ys.extend(rows(y));
    }
    assert_eq!(xs.len(), heldout.len(), "one row per short conversation");
    let pad = tokenizer.pad_id() as f32;
    for (i, conversation) in heldout.iter().enumerate() {
        let (x, y) = expected_rows(&tokenizer, conversation);
        assert_eq!(xs[i][..x.len()], x[..], "inputs of conversation {i}");
        assert_eq!(ys[i][..y.len()], y[..], "targets of conversation {i}");
        assert!(xs[i][x.len()..].iter().all(|&id| id == pad), "inputs are padded with <|pad|>");
        assert!(ys[i][y.len()..].iter().all(|&target| target == IGNORE_INDEX), "padding targets are −1");
    }
}

#[test]
fn learned_targets_are_the_assistant_replies() {
    let tokenizer = Tokenizer::byte_level();
    let all = vec![exchange("hi", "yo"), exchange("hey", "hello")];
    let mut data = ConversationDataset::new(&tokenizer, &all, 64, 2, 0.5, 0).unwrap();
    let (_, y) = data.validation_batches(&mut Rng::seed(0)).unwrap().remove(0);
    let learned: Vec<u32> = y.to_vec().into_iter().filter(|&t| t != IGNORE_INDEX).map(|t| t as u32).collect();
    let reply = tokenizer.decode(&learned).unwrap();
    let expected = format!("{}<|end|>", data.heldout_conversations()[0][1].content);
    assert_eq!(reply, expected, "only the reply and its closing <|end|> are learned");
}

#[test]
fn heldout_split_is_deterministic() {
    let tokenizer = Tokenizer::byte_level();
    let all = conversations(40);
    let first = ConversationDataset::new(&tokenizer, &all, 128, 4, 0.1, 42).unwrap();
    let again = ConversationDataset::new(&tokenizer, &all, 128, 4, 0.1, 42).unwrap();
    let other_seed = ConversationDataset::new(&tokenizer, &all, 128, 4, 0.1, 43).unwrap();

    assert_eq!(first.heldout_conversations(), again.heldout_conversations(), "same seed, same split");
    assert_ne!(first.heldout_conversations(), other_seed.heldout_conversations(), "another seed, another split");
    assert_eq!(first.heldout_conversations().len(), 4, "10 % of 40");
    assert_eq!(first.train_conversations(), 36);
    assert_eq!((first.train_len(), first.val_len()), (36, 4));
    for conversation in first.heldout_conversations() {
        assert!(all.contains(conversation), "held-out conversations come from the input");
    }
    // Held-out conversations keep the input order.
    let positions: Vec<usize> =
        first.heldout_conversations().iter().map(|c| all.iter().position(|a| a == c).unwrap()).collect();
    assert!(positions.windows(2).all(|pair| pair[0] < pair[1]), "positions {positions:?}");
}

#[test]
fn small_fraction_holds_out_at_least_one() {
    let tokenizer = Tokenizer::byte_level();
    let data = ConversationDataset::new(&tokenizer, &conversations(5), 128, 4, 0.01, 0).unwrap();
    assert_eq!(data.heldout_conversations().len(), 1);
    assert_eq!(data.train_conversations(), 4);

    let data = ConversationDataset::new(&tokenizer, &conversations(5), 128, 4, 0.0, 0).unwrap();
    assert!(data.heldout_conversations().is_empty(), "val_fraction 0 holds out nothing");
    assert_eq!(data.val_len(), 0);
}

#[test]
fn batches_have_documented_shapes() {
    let tokenizer = Tokenizer::byte_level();
    let mut data = ConversationDataset::new(&tokenizer, &conversations(30), 128, 4, 0.2, 1).unwrap();
    let mut rng = Rng::seed(3);
    for _ in 0..5 {
        let (x, y) = data.next_batch(&mut rng).unwrap();
        assert_eq!(x.shape(), y.shape());
        assert_eq!(x.shape()[0], 4, "batch_size rows");
        assert!(x.shape()[1] <= 128, "at most block_size columns, got {:?}", x.shape());
        let real_tokens = x.to_vec().iter().filter(|&&id| id != tokenizer.pad_id() as f32).count();
        assert_eq!(data.tokens_per_batch(), real_tokens, "throughput counts the tokens that are not padding");
    }

    let batches = data.validation_batches(&mut Rng::seed(0)).unwrap();
    assert_eq!(data.val_len(), 6);
    let shapes: Vec<usize> = batches.iter().map(|(x, _)| x.shape()[0]).collect();
    assert_eq!(shapes, vec![4, 2], "every held-out sequence, in batches of batch_size");
    let again = data.validation_batches(&mut Rng::seed(99)).unwrap();
    for ((x1, y1), (x2, y2)) in batches.iter().zip(&again) {
        assert_eq!((x1.to_vec(), y1.to_vec()), (x2.to_vec(), y2.to_vec()), "validation batches do not depend on the generator");
    }
}

#[test]
fn long_conversation_is_cut_into_windows() {
    let tokenizer = Tokenizer::byte_level();
    let all: Vec<Conversation> =
        ["abcdefghij", "klmnopqrst", "uvwxyz0123"].iter().map(|letters| exchange("spell it", &letters.repeat(10))).collect();
    let mut data = ConversationDataset::new(&tokenizer, &all, 16, 8, 0.5, 5).unwrap();
    let heldout = data.heldout_conversations().to_vec();
    assert_eq!(heldout.len(), 2);

    let mut learned_expected = Vec::new();
    for conversation in &heldout {
        let (_, y) = expected_rows(&tokenizer, conversation);
        learned_expected.extend(y.into_iter().filter(|&t| t != IGNORE_INDEX));
    }
    let mut learned = Vec::new();
    for (x, y) in data.validation_batches(&mut Rng::seed(0)).unwrap() {
        assert_eq!(x.shape()[1], 16, "windows of a long conversation fill block_size: {:?}", x.shape());
        learned.extend(y.to_vec().into_iter().filter(|&t| t != IGNORE_INDEX));
    }
    assert_eq!(learned, learned_expected, "every assistant target appears once, in order, with nothing cut off");
    assert!(data.val_len() > 2 * 6, "each 113-token conversation needs several 16-token windows, got {}", data.val_len());
}

#[test]
fn heldout_loss_ignores_padding() {
    let tokenizer = Tokenizer::byte_level();
    let config = GptConfig { vocab_size: tokenizer.vocab_size(), n_layer: 1, n_head: 2, n_embd: 16, block_size: 64, dropout: 0.0, bias: true };
    let gpt = Gpt::with_seed(config, 11).unwrap();
    let data = ConversationDataset::new(&tokenizer, &conversations(20), 64, 4, 0.4, 2).unwrap();
    let heldout = data.heldout_loss(&gpt).unwrap();

    // The same loss one conversation at a time, with no padding at all.
    let (mut nats, mut tokens) = (0.0f64, 0usize);
    for conversation in data.heldout_conversations() {
        let (x, y) = expected_rows(&tokenizer, conversation);
        let counted = y.iter().filter(|&&t| t != IGNORE_INDEX).count();
        let len = x.len();
        let logits = gpt.logits(&Tensor::from_vec(x, &[1, len]).unwrap()).unwrap();
        let loss = sparse_categorical_crossentropy(&logits, &Tensor::from_vec(y, &[1, len]).unwrap()).unwrap();
        nats += f64::from(loss.value().item().unwrap()) * counted as f64;
        tokens += counted;
    }
    assert_eq!(heldout.tokens, tokens);
    let unpadded = (nats / tokens as f64) as f32;
    assert!((heldout.loss - unpadded).abs() < 1e-4, "batched {} vs one by one {unpadded}", heldout.loss);
}

fn expect_invalid(result: Result<ConversationDataset, TrainError>, needle: &str) {
    match result {
        Err(error) => assert!(error.to_string().contains(needle), "expected {needle:?} in: {error}"),
        Ok(_) => panic!("expected an error containing {needle:?}"),
    }
}

#[test]
fn invalid_inputs_are_rejected() {
    let tokenizer = Tokenizer::byte_level();
    let some = conversations(10);
    expect_invalid(ConversationDataset::new(&tokenizer, &[], 64, 4, 0.1, 0), "there are no conversations");
    let users_only = vec![vec![Message::new(Role::User, "hello?")]; 3];
    expect_invalid(ConversationDataset::new(&tokenizer, &users_only, 64, 4, 0.1, 0), "none of the 3 conversations has an assistant message");
    expect_invalid(ConversationDataset::new(&tokenizer, &some, 0, 4, 0.1, 0), "block_size is 0");
    expect_invalid(ConversationDataset::new(&tokenizer, &some, 64, 0, 0.1, 0), "batch_size is 0");
    expect_invalid(ConversationDataset::new(&tokenizer, &some, 64, 4, 1.0, 0), "val_fraction 1 is invalid");
    expect_invalid(ConversationDataset::new(&tokenizer, &some, 64, 4, f32::NAN, 0), "val_fraction NaN is invalid");
    expect_invalid(ConversationDataset::new(&tokenizer, &some[..1], 64, 4, 0.1, 0), "leaving none for training");

    let no_heldout = ConversationDataset::new(&tokenizer, &some, 64, 4, 0.0, 0).unwrap();
    let config = GptConfig { vocab_size: tokenizer.vocab_size(), n_layer: 1, n_head: 2, n_embd: 16, block_size: 64, dropout: 0.0, bias: true };
    let error = no_heldout.heldout_loss(&Gpt::with_seed(config, 0).unwrap()).unwrap_err();
    assert!(error.to_string().contains("no conversation is held out"), "{error}");
}

#[test]
fn conversations_without_reply_are_counted() {
    let tokenizer = Tokenizer::byte_level();
    let mut all = conversations(6);
    all.push(vec![Message::new(Role::User, "anyone?")]);
    let data = ConversationDataset::new(&tokenizer, &all, 64, 2, 0.2, 0).unwrap();
    assert_eq!(data.without_reply(), 1);
    assert_eq!(data.train_conversations() + data.heldout_conversations().len(), 6);
}

#[test]
fn copies_never_cross_the_split() {
    let tokenizer = Tokenizer::byte_level();
    let distinct = conversations(10);
    // Every conversation three times, the copies far apart.
    let all: Vec<Conversation> = (0..3).flat_map(|_| distinct.iter().cloned()).collect();
    let mut data = ConversationDataset::new(&tokenizer, &all, 128, 8, 0.2, 4).unwrap();

    let heldout = data.heldout_conversations().to_vec();
    assert_eq!(heldout.len(), 2, "20 % of the 10 distinct conversations, each once");
    assert_ne!(heldout[0], heldout[1]);
    assert_eq!(data.heldout_copies(), 4, "the other two copies of each held-out conversation");
    assert_eq!(data.train_conversations(), 24, "training keeps every copy of its conversations");

    let heldout_rows: Vec<Vec<f32>> = heldout.iter().map(|c| expected_rows(&tokenizer, c).0).collect();
    let pad = tokenizer.pad_id() as f32;
    let mut rng = Rng::seed(0);
    for _ in 0..50 {
        let (x, _) = data.next_batch(&mut rng).unwrap();
        for row in rows(&x) {
            let unpadded: Vec<f32> = row.into_iter().filter(|&id| id != pad).collect();
            assert!(!heldout_rows.contains(&unpadded), "a held-out conversation was drawn for training");
        }
    }
}
