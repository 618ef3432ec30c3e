//! `ChatSession`: stopping at `<|end|>`, stop strings, `max_tokens`,
//! streaming whole characters, seeding, history, dropping old turns,
//! too-long messages and `reset`.
//!
//! The model is a small byte-level GPT trained here to memorise a few short
//! conversations (one in Chinese, one with a system message, one of two
//! turns), so every greedy reply is known in advance.

use std::sync::OnceLock;

use aigc_gpt::{ChatOptions, ChatSession, FinishReason, Gpt, GptConfig, SamplingConfig};
use aigc_nn::Module;
use aigc_optim::{AdamW, Optimizer};
use aigc_tensor::Tensor;
use aigc_tokenizer::{ChatTemplate, Message, Role, Tokenizer};

/// The conversations the model learns, as (role, content) pairs.
const CONVERSATIONS: [&[(Role, &str)]; 5] = [
    &[(Role::User, "hi"), (Role::Assistant, "hello there, friend")],
    &[(Role::User, "你好"), (Role::Assistant, "你好！很高兴见到你。")],
    &[(Role::User, "bye"), (Role::Assistant, "see you soon")],
    &[(Role::System, "x"), (Role::User, "你好"), (Role::Assistant, "你好！很高兴见到你。")],
    &[(Role::User, "hi"), (Role::Assistant, "hello there, friend"), (Role::User, "bye"), (Role::Assistant, "see you soon")],
];

const BLOCK_SIZE: usize = 64;

fn config() -> GptConfig {
    let vocab_size = Tokenizer::byte_level().vocab_size();
    GptConfig { vocab_size, n_layer: 2, n_head: 4, n_embd: 64, block_size: BLOCK_SIZE, dropout: 0.0, bias: true }
}

/// Trains once per test binary and keeps the weights; each test builds its
/// own model from them.
fn trained_weights() -> &'static Vec<Tensor> {
    static WEIGHTS: OnceLock<Vec<Tensor>> = OnceLock::new();
    WEIGHTS.get_or_init(|| {
        let tokenizer = Tokenizer::byte_level();
        let template = ChatTemplate::new(&tokenizer);
        let model = Gpt::new(config()).unwrap();

        // One row per conversation: inputs, and next-token targets that
        // count only inside replies (−1 elsewhere and on padding).
        let (mut x, mut y) = (Vec::new(), Vec::new());
        for conversation in CONVERSATIONS {
            let messages: Vec<Message> = conversation.iter().map(|&(role, content)| Message::new(role, content)).collect();
            let (ids, mask) = template.render_for_training(&messages).unwrap();
            assert!(ids.len() <= BLOCK_SIZE + 1);
            for t in 0..BLOCK_SIZE {
                x.push(ids.get(t).map_or(tokenizer.pad_id() as f32, |&id| id as f32));
                let target = match (ids.get(t + 1), mask.get(t + 1)) {
                    (Some(&id), Some(true)) => id as f32,
                    _ => -1.0,
                };
                y.push(target);
            }
        }
        let rows = CONVERSATIONS.len();
        let x = Tensor::from_vec(x, &[rows, BLOCK_SIZE]).unwrap();
        let y = Tensor::from_vec(y, &[rows, BLOCK_SIZE]).unwrap();

        let params = model.parameters();
        let mut optimizer = AdamW::new(3e-3, 0.0);
        let mut loss_value = f32::INFINITY;
        for _ in 0..300 {
            params.iter().for_each(|p| p.var.zero_grad());
            let (_, loss) = model.forward_with_loss(&x, &y).unwrap();
            loss.backward().unwrap();
            optimizer.step(&params).unwrap();
            loss_value = loss.value().item().unwrap();
        }
        assert!(loss_value < 0.01, "the model did not memorise the conversations: loss {loss_value}");
        params.iter().map(|p| p.var.value()).collect()
    })
}

fn trained_model() -> Gpt {
    let model = Gpt::new(config()).unwrap();
    for (param, value) in model.parameters().iter().zip(trained_weights()) {
        param.var.set_value(value.clone()).unwrap();
    }
    model
}

fn greedy() -> ChatOptions {
    ChatOptions { sampling: SamplingConfig::greedy(), max_tokens: 40, ..ChatOptions::default() }
}

/// Sends `message` and returns the reply and the streamed chunks.
fn send(chat: &mut ChatSession<'_>, message: &str) -> (aigc_gpt::ChatReply, Vec<String>) {
    let mut chunks = Vec::new();
    let reply = chat.send(message, |chunk| chunks.push(chunk.to_string())).unwrap();
    (reply, chunks)
}

#[test]
fn reply_stops_at_end_token() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let mut chat = ChatSession::new(&model, &tokenizer, greedy()).unwrap();
    let (reply, chunks) = send(&mut chat, "hi");
    assert_eq!(reply.text, "hello there, friend");
    assert_eq!(reply.finish, FinishReason::EndOfTurn);
    assert_eq!(reply.tokens, "hello there, friend".len() + 1, "the reply's bytes and <|end|>");
    assert_eq!(chunks.concat(), reply.text, "the chunks add up to the reply");
    assert!(!reply.text.contains("<|end|>"));
    assert_eq!(reply.dropped_turns, 0);
    assert_eq!(reply.notice, None);
}

#[test]
fn chinese_reply_streams_whole_characters() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let mut chat = ChatSession::new(&model, &tokenizer, greedy()).unwrap();
    let (reply, chunks) = send(&mut chat, "你好");
    assert_eq!(reply.text, "你好！很高兴见到你。");
    assert_eq!(reply.finish, FinishReason::EndOfTurn);
    // Byte-level tokens split each character into three; the decoder joins them.
    assert_eq!(chunks.len(), reply.text.chars().count(), "one chunk per character: {chunks:?}");
    assert!(chunks.iter().all(|c| !c.contains('\u{FFFD}')), "a chunk held half a character: {chunks:?}");
}

#[test]
fn stop_string_ends_reply_before_it() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let options = ChatOptions { stop: vec!["there".into()], ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
    let (reply, chunks) = send(&mut chat, "hi");
    assert_eq!(reply.text, "hello ");
    assert_eq!(reply.finish, FinishReason::StopString);
    assert_eq!(chunks.concat(), "hello ", "no byte of the stop string is streamed");
    assert_eq!(chat.turns()[0].assistant, "hello ", "the history keeps the cut reply");
}

#[test]
fn chinese_stop_string() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let options = ChatOptions { stop: vec!["高兴".into()], ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
    let (reply, chunks) = send(&mut chat, "你好");
    assert_eq!(reply.text, "你好！很");
    assert_eq!(chunks.concat(), "你好！很");
    assert_eq!(reply.finish, FinishReason::StopString);
}

#[test]
fn max_tokens_limits_reply() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let options = ChatOptions { max_tokens: 5, ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
    let (reply, _) = send(&mut chat, "hi");
    assert_eq!(reply.text, "hello");
    assert_eq!(reply.tokens, 5);
    assert_eq!(reply.finish, FinishReason::MaxTokens);
}

#[test]
fn max_tokens_cutting_a_character_ends_with_replacement() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    // "你" is 3 bytes: 4 tokens are one character and a third.
    let options = ChatOptions { max_tokens: 4, ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
    let (reply, chunks) = send(&mut chat, "你好");
    assert_eq!(reply.text, "你\u{FFFD}");
    assert_eq!(chunks.concat(), reply.text);
}

#[test]
fn same_seed_gives_same_reply() {
    let model = trained_model();
    let tokenizer = Tokenizer::byte_level();
    let sampling = SamplingConfig { temperature: 2.0, top_k: None, top_p: None, repetition_penalty: 1.0 };
    let reply_with_seed = |seed: u64| {
        let options = ChatOptions { sampling: sampling.clone(), max_tokens: 30, stop: Vec::new(), seed };
        let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
        send(&mut chat, "hi").0.text
    };
    assert_eq!(reply_with_seed(7), reply_with_seed(7));
    let replies: Vec<String> = (0..4).map(reply_with_seed).collect();
    assert!(replies.windows(2).any(|pair| pair[0] != pair[1]), "hot sampling with 4 seeds gave one reply: {replies:?}");
}

#[test]
fn history_is_kept_and_rendered() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let options = ChatOptions { max_tokens: 20, ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
    send(&mut chat, "hi");
    assert_eq!(chat.turns().len(), 1);
    assert_eq!(chat.turns()[0].user, "hi");
    assert_eq!(chat.turns()[0].assistant, "hello there, friend");
    assert_eq!(chat.messages().len(), 2, "user, assistant");

    let prompt = chat.prompt("bye").unwrap();
    let expected = ChatTemplate::new(&tokenizer)
        .render_prompt(&[
            Message::new(Role::User, "hi"),
            Message::new(Role::Assistant, "hello there, friend"),
            Message::new(Role::User, "bye"),
        ])
        .unwrap();
    assert_eq!(prompt.ids, expected);
    assert_eq!(prompt.dropped_turns, 0);

    // The model learnt this reply only after the first turn.
    let (reply, _) = send(&mut chat, "bye");
    assert_eq!(reply.text, "see you soon");
    assert_eq!(reply.dropped_turns, 0);
    assert_eq!(chat.turns().len(), 2);
}

#[test]
fn oldest_turns_are_dropped_to_fit() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    // The Chinese reply is 30 byte tokens and <|end|>.
    let options = ChatOptions { max_tokens: 31, ..greedy() };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap().with_system("x");
    assert_eq!(chat.reply_room(), 31);

    // <|bos|> + system (4 tokens) + the Chinese turn (8 + 32) = 45, then
    // "hi" (6 with <|assistant|>) and 31 tokens of room make 82, over the
    // 64-token context.
    let (first, _) = send(&mut chat, "你好");
    assert_eq!(first.text, "你好！很高兴见到你。");
    let (second, _) = send(&mut chat, "hi");
    assert_eq!(second.dropped_turns, 1, "the Chinese turn no longer fits");
    assert_eq!(second.notice.as_deref(), Some("dropped 1 oldest turn to fit the 64-token context"));
    assert_eq!(chat.turns().len(), 1);
    assert_eq!(chat.turns()[0].user, "hi");
    assert_eq!(chat.system(), Some("x"), "the system message stays");

    let prompt = chat.prompt("bye").unwrap();
    assert!(prompt.ids.len() + chat.reply_room() <= BLOCK_SIZE);
    assert_eq!(&prompt.ids[..2], &[tokenizer.bos_id(), tokenizer.system_id()], "the prompt still opens with the system message");
}

#[test]
fn too_long_message_is_an_error() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let mut chat = ChatSession::new(&model, &tokenizer, greedy()).unwrap();
    send(&mut chat, "hi");
    let long = "a".repeat(BLOCK_SIZE);
    let error = chat.send(&long, |_| panic!("nothing is streamed")).unwrap_err().to_string();
    assert!(error.contains("message is too long"), "{error}");
    assert!(error.contains("64 tokens"), "the error names the message length: {error}");
    assert!(error.contains("context is 64 tokens"), "the error names the context: {error}");
    assert_eq!(chat.turns().len(), 1, "a failed send leaves the history as it was");

    // The session goes on.
    let (reply, _) = send(&mut chat, "bye");
    assert_eq!(reply.text, "see you soon");
}

#[test]
fn too_long_system_message_is_an_error() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let mut chat = ChatSession::new(&model, &tokenizer, greedy()).unwrap().with_system("s".repeat(60));
    let error = chat.send("hi", |_| {}).unwrap_err().to_string();
    assert!(error.contains("system message"), "{error}");
}

#[test]
fn reply_stops_when_context_fills() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let message = "q".repeat(28);
    let hot = SamplingConfig { temperature: 1.5, top_k: None, top_p: None, repetition_penalty: 1.0 };
    let mut context_full = 0;
    for seed in 0..8 {
        let options = ChatOptions { sampling: hot.clone(), max_tokens: 200, stop: Vec::new(), seed };
        let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap();
        // A 32-token prompt leaves 64 − 32 = 32 tokens, fewer than max_tokens 200.
        assert_eq!(chat.reply_room(), BLOCK_SIZE / 2);
        assert_eq!(chat.prompt(&message).unwrap().ids.len(), 32);
        let reply = chat.send(&message, |_| {}).unwrap();
        assert!(reply.tokens <= BLOCK_SIZE - 32, "seed {seed}: {} tokens overflow the context", reply.tokens);
        if reply.finish == FinishReason::ContextFull {
            assert_eq!(reply.tokens, BLOCK_SIZE - 32, "seed {seed}");
            context_full += 1;
        } else {
            assert_eq!(reply.finish, FinishReason::EndOfTurn, "seed {seed}");
        }
    }
    assert!(context_full > 0, "no seed of 8 ran into the end of the context");
}

#[test]
fn reset_forgets_turns_and_reseeds() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let sampling = SamplingConfig { temperature: 1.5, top_k: None, top_p: None, repetition_penalty: 1.0 };
    let options = ChatOptions { sampling, max_tokens: 20, stop: Vec::new(), seed: 3 };
    let mut chat = ChatSession::new(&model, &tokenizer, options).unwrap().with_system("sys");
    let first = send(&mut chat, "hi").0.text;
    send(&mut chat, "bye");
    chat.reset();
    assert!(chat.turns().is_empty());
    assert_eq!(chat.system(), Some("sys"));
    assert_eq!(send(&mut chat, "hi").0.text, first, "after reset the session replies as a new one");
}

#[test]
fn invalid_options_are_rejected() {
    let (model, tokenizer) = (trained_model(), Tokenizer::byte_level());
    let cases = [
        (ChatOptions { max_tokens: 0, ..greedy() }, "max_tokens is 0"),
        (ChatOptions { stop: vec![String::new()], ..greedy() }, "stop string is empty"),
        (ChatOptions { sampling: SamplingConfig { temperature: -1.0, ..SamplingConfig::greedy() }, ..greedy() }, "temperature"),
    ];
    for (options, needle) in cases {
        let error = ChatSession::new(&model, &tokenizer, options).err().expect("invalid options").to_string();
        assert!(error.contains(needle), "expected {needle:?} in {error}");
    }
}

#[test]
fn mismatched_tokenizer_is_rejected() {
    let model = Gpt::new(config().with_vocab_size(300)).unwrap();
    let tokenizer = Tokenizer::byte_level();
    let error = ChatSession::new(&model, &tokenizer, greedy()).err().expect("vocab mismatch").to_string();
    assert!(error.contains("262 tokens"), "the error names the tokenizer's size: {error}");
    assert!(error.contains("vocab_size is 300"), "the error names the model's size: {error}");
}
