//! The whole chatbot pipeline in code: train a BPE tokenizer on the
//! chatterbot corpus, pretrain a small GPT on the corpus text, fine-tune it
//! on the conversations, then answer prompts in English and Chinese.
//!
//! ```text
//! AIGC_DATA=../shared/data cargo run --release --example chatbot [-- PRETRAIN_STEPS SFT_STEPS]
//! ```
//!
//! The corpus is `$AIGC_DATA/chatterbot` (English and Chinese YAML files).
//! A tenth of the distinct conversations is held out before any model is
//! trained, and pretraining reads only the text of the training
//! conversations, so the held-out loss before and after fine-tuning is
//! measured on replies the model has never seen. Only the tokenizer's
//! merges are learned from all the text.
//!
//! The defaults (300 pretraining steps of 16 × 128 tokens, 300 fine-tuning
//! steps of 16 conversations, tiny preset) took about four minutes of CPU
//! time on a two-core x86-64 machine. A model this small and this briefly
//! trained gets the form of a reply right more often than its content.

use aigc::gpt::{GptConfig, SamplingConfig};
use aigc::models::ChatGPT;
use aigc::optimizers::{AdamW, Optimizer, WarmupCosine};
use aigc::tokenizer::{load_conversations, ChatTemplate, Conversation, Message, Role, Tokenizer};
use aigc::train::chat_dataset::ConversationDataset;
use aigc::train::datasets::data_dir;
use aigc::train::lm_dataset::TextDataset;
use aigc::train::StepOptions;
use aigc::Rng;

const VOCAB_SIZE: usize = 2048;
const BLOCK_SIZE: usize = 128;
const BATCH_SIZE: usize = 16;
const SEED: u64 = 1337;

/// Writes conversations as plain text: one turn per line, a blank line between conversations.
fn plain_text(conversations: &[&Conversation]) -> String {
    let mut text = String::new();
    for conversation in conversations {
        for message in conversation.iter() {
            text.push_str(&message.content);
            text.push('\n');
        }
        text.push('\n');
    }
    text
}

fn step_options(steps: usize, lr: f32) -> Result<StepOptions, Box<dyn std::error::Error>> {
    Ok(StepOptions::new(steps)
        .eval_interval(100.min(steps))
        .log_interval(50)
        .schedule(WarmupCosine::new(lr, lr / 10.0, (steps / 10).min(100), steps)?)
        .clip_grad_norm(1.0)
        .seed(SEED))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1).map(|arg| {
        arg.parse::<usize>().ok().filter(|&n| n > 0).ok_or_else(|| format!("step counts must be positive integers, got {arg:?}"))
    });
    let pretrain_steps = args.next().transpose()?.unwrap_or(300);
    let sft_steps = args.next().transpose()?.unwrap_or(300);

    // 1. Conversations, and a BPE tokenizer trained on their text.
    let dir = data_dir().ok_or("set AIGC_DATA to the folder that holds chatterbot/, such as ../shared/data")?;
    let loaded = load_conversations(dir.join("chatterbot"))?;
    let conversations = loaded.conversations;
    println!("{} conversations ({} skipped as unusable)", conversations.len(), loaded.skipped.len());
    let all: Vec<&Conversation> = conversations.iter().collect();
    let tokenizer = Tokenizer::train_from_texts(&[plain_text(&all)], VOCAB_SIZE)?;

    // 2. Hold out a tenth of the conversations, then pretrain on the text of
    //    the training ones (copies of held-out conversations are in neither).
    let mut chats = ConversationDataset::new(&tokenizer, &conversations, BLOCK_SIZE, BATCH_SIZE, 0.1, SEED)?;
    let heldout = chats.heldout_conversations().to_vec();
    let training: Vec<&Conversation> = conversations.iter().filter(|c| !heldout.contains(c)).collect();
    let ids = tokenizer.encode(&plain_text(&training))?;
    println!("pretraining on {} tokens of {} training conversations", ids.len(), training.len());

    let config = GptConfig::tiny().with_vocab_size(tokenizer.vocab_size()).with_block_size(BLOCK_SIZE).with_dropout(0.1);
    let mut text = TextDataset::new(ids, BLOCK_SIZE, BATCH_SIZE, 0.1)?;
    let mut model = ChatGPT::try_new(config)?;
    let optimizer: Box<dyn Optimizer> = Box::new(AdamW::new(1e-3, 0.1).betas(0.9, 0.99));
    model.compile(optimizer, "sparse_categorical_crossentropy", &[])?;
    model.fit_batches(&mut text, step_options(pretrain_steps, 1e-3)?)?;

    // 3. Fine-tune on the conversations, with the loss on assistant replies only.
    let before = chats.heldout_loss(model.net())?;
    let optimizer: Box<dyn Optimizer> = Box::new(AdamW::new(3e-4, 0.1).betas(0.9, 0.99));
    model.compile(optimizer, "sparse_categorical_crossentropy", &[])?;
    model.fit_batches(&mut chats, step_options(sft_steps, 3e-4)?)?;
    let after = chats.heldout_loss(model.net())?;
    println!(
        "held-out assistant-token loss: {:.3} before fine-tuning, {:.3} after ({} tokens in {} conversations)",
        before.loss,
        after.loss,
        after.tokens,
        heldout.len()
    );

    // 4. Answer a few prompts.
    let template = ChatTemplate::new(&tokenizer);
    let sampling = SamplingConfig { temperature: 0.7, top_k: Some(40), top_p: None, repetition_penalty: 1.1 };
    let mut rng = Rng::seed(SEED);
    for prompt in ["Hello", "What is your name?", "Do you like music?", "你好", "你叫什么名字？", "你喜欢什么？"] {
        let prompt_ids = template.render_prompt(&[Message::new(Role::User, prompt)])?;
        let mut reply = model.generate(&prompt_ids, 48, &sampling, &[tokenizer.end_id()], &mut rng)?;
        if reply.last() == Some(&tokenizer.end_id()) {
            reply.pop();
        }
        println!("> {prompt}\n{}", tokenizer.decode(&reply)?);
    }
    Ok(())
}
