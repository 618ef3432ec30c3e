//! The demo's bilingual chat corpus, written in code: greetings, questions
//! about aigc and its API, and small talk, each in English and in
//! Simplified Chinese.
//!
//! Every question appears once, so a model that memorises the corpus has
//! one right answer for each. Answers are one or two short sentences, which
//! keeps the corpus small enough to memorise in a few minutes on a CPU.

use aigc_tokenizer::{Conversation, Message, Role};
use serde_json::json;

/// One question and its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// The user's message.
    pub user: String,
    /// The assistant's reply.
    pub assistant: String,
}

impl Exchange {
    fn new(user: impl Into<String>, assistant: impl Into<String>) -> Self {
        Exchange { user: user.into(), assistant: assistant.into() }
    }

    /// The exchange as a one-turn conversation.
    pub fn to_conversation(&self) -> Conversation {
        vec![Message::new(Role::User, self.user.as_str()), Message::new(Role::Assistant, self.assistant.as_str())]
    }
}

/// Topics as `[English question, English answer, Chinese question, Chinese answer]`.
const TOPICS: &[[&str; 4]] = &[
    // Greetings and farewells.
    ["hello", "Hello! I am the aigc demo model. Ask me about aigc.", "你好", "你好！我是 aigc 的演示模型，问我 aigc 的事吧。"],
    ["hi", "Hi there! How can I help you today?", "嗨", "嗨！今天我能帮你什么？"],
    ["hey", "Hey! Nice to see you.", "哈喽", "哈喽！很高兴见到你。"],
    ["good morning", "Good morning! I hope you slept well.", "早上好", "早上好！希望你睡得好。"],
    ["good afternoon", "Good afternoon! What shall we talk about?", "下午好", "下午好！我们聊点什么？"],
    ["good evening", "Good evening! Ask me anything about aigc.", "晚上好", "晚上好！关于 aigc 的问题尽管问。"],
    ["good night", "Good night! Sleep well.", "晚安", "晚安！好好休息。"],
    ["how are you?", "I am fine, thank you. I am a small model running on your CPU.", "你好吗？", "我很好，谢谢。我是在你的 CPU 上运行的小模型。"],
    ["thank you", "You are welcome!", "谢谢", "不客气！"],
    ["thanks a lot", "Happy to help.", "非常感谢", "很高兴能帮上忙。"],
    ["bye", "Goodbye! Type /exit or press Ctrl-D to leave.", "再见", "再见！输入 /exit 或按 Ctrl-D 退出。"],
    ["see you later", "See you later!", "回头见", "回头见！"],
    ["nice to meet you", "Nice to meet you too!", "很高兴认识你", "我也很高兴认识你！"],
    ["sorry", "No problem at all.", "对不起", "没关系。"],
    // Who the model is.
    ["who are you?", "I am a tiny GPT trained by aigc in a few minutes.", "你是谁？", "我是 aigc 在几分钟内训练出来的小 GPT。"],
    ["what is your name?", "My name is aigc demo.", "你叫什么名字？", "我叫 aigc demo。"],
    ["are you a robot?", "I am a language model, a program that predicts the next token.", "你是机器人吗？", "我是语言模型，一个预测下一个词元的程序。"],
    ["are you ChatGPT?", "No. I am a tiny model with the same kind of architecture, GPT-2.", "你是 ChatGPT 吗？", "不是。我是一个小模型，架构和 GPT-2 一样。"],
    ["how were you trained?", "I memorised a small bilingual corpus of questions and answers.", "你是怎么训练的？", "我背下了一个小的中英文问答语料。"],
    ["how big are you?", "I have about half a million parameters.", "你有多大？", "我大约有五十万个参数。"],
    ["what can you do?", "I can answer questions about aigc and chat a little.", "你能做什么？", "我能回答关于 aigc 的问题，也能简单聊天。"],
    ["do you understand me?", "I only know the sentences I was trained on.", "你听得懂我吗？", "我只认识训练时见过的句子。"],
    ["where do you run?", "I run on your CPU, no GPU needed.", "你在哪里运行？", "我在你的 CPU 上运行，不需要 GPU。"],
    ["can you speak Chinese?", "Yes, I can answer in Chinese too.", "你会说英文吗？", "会，我也能用英文回答。"],
    // aigc itself.
    ["what is aigc?", "aigc is a deep learning framework in Rust with a GPT you can train on a CPU.", "aigc 是什么？", "aigc 是一个用 Rust 写的深度学习框架，带一个能在 CPU 上训练的 GPT。"],
    ["why is it called aigc?", "aigc stands for AI generated content.", "为什么叫 aigc？", "aigc 是 AI 生成内容的缩写。"],
    ["what language is aigc written in?", "aigc is written in Rust.", "aigc 是用什么语言写的？", "aigc 是用 Rust 写的。"],
    ["does aigc need a GPU?", "No, aigc runs on an ordinary CPU.", "aigc 需要 GPU 吗？", "不需要，aigc 在普通 CPU 上运行。"],
    ["how do I install aigc?", "Clone the repository and run cargo build --release.", "怎么安装 aigc？", "克隆仓库，然后运行 cargo build --release。"],
    ["which crates does aigc have?", "aigc-tensor, aigc-autograd, aigc-nn, aigc-optim, aigc-gpt, aigc-train and aigc-tokenizer.", "aigc 有哪些 crate？", "aigc-tensor、aigc-autograd、aigc-nn、aigc-optim、aigc-gpt、aigc-train 和 aigc-tokenizer。"],
    ["how do the crates depend on each other?", "Strictly downward: tensor, autograd, nn, optim, gpt, then train.", "这些 crate 之间怎么依赖？", "严格向下：tensor、autograd、nn、optim、gpt，然后是 train。"],
    ["what does aigc-tensor do?", "aigc-tensor holds n-dimensional f32 tensors, matmul and a seeded random generator.", "aigc-tensor 是做什么的？", "aigc-tensor 提供 n 维 f32 张量、矩阵乘法和带种子的随机数。"],
    ["what does aigc-autograd do?", "aigc-autograd records operations on Var and computes gradients backward.", "aigc-autograd 是做什么的？", "aigc-autograd 记录 Var 上的运算，并反向计算梯度。"],
    ["what does aigc-nn do?", "aigc-nn has the layers: Linear, Embedding, LayerNorm, attention, and the losses.", "aigc-nn 是做什么的？", "aigc-nn 提供各种层：Linear、Embedding、LayerNorm、注意力，以及损失函数。"],
    ["what does aigc-optim do?", "aigc-optim has SGD, Adam, AdamW, gradient clipping and learning rate schedules.", "aigc-optim 是做什么的？", "aigc-optim 提供 SGD、Adam、AdamW、梯度裁剪和学习率调度。"],
    ["what does aigc-gpt do?", "aigc-gpt is the GPT model with sampling, the KV cache and chat sessions.", "aigc-gpt 是做什么的？", "aigc-gpt 是 GPT 模型，包括采样、KV 缓存和对话会话。"],
    ["what does aigc-train do?", "aigc-train gives models compile, fit, evaluate and predict, like Keras.", "aigc-train 是做什么的？", "aigc-train 像 Keras 一样给模型提供 compile、fit、evaluate 和 predict。"],
    ["what does aigc-tokenizer do?", "aigc-tokenizer is a byte-level BPE tokenizer with a chat template.", "aigc-tokenizer 是做什么的？", "aigc-tokenizer 是带对话模板的字节级 BPE 分词器。"],
    // The Keras-style API.
    ["what does compile do?", "compile chooses the optimizer, the loss and the metrics of a model.", "compile 是做什么的？", "compile 为模型选择优化器、损失函数和评估指标。"],
    ["what does fit do?", "fit trains the model on x and y for some epochs and returns a History.", "fit 是做什么的？", "fit 用 x 和 y 训练模型若干轮，并返回 History。"],
    ["what does evaluate do?", "evaluate returns the loss and the first metric on test data.", "evaluate 是做什么的？", "evaluate 返回模型在测试数据上的损失和第一个指标。"],
    ["what does predict do?", "predict runs the model on inputs in batches and returns the outputs.", "predict 是做什么的？", "predict 分批运行模型并返回输出。"],
    ["what does fit_batches do?", "fit_batches trains for a number of steps on batches from a BatchSource.", "fit_batches 是做什么的？", "fit_batches 从 BatchSource 取批次，训练指定的步数。"],
    ["how do I build a model in code?", "Use ChatGPT::new(GptConfig::tiny()), then compile and fit.", "怎么用代码建一个模型？", "用 ChatGPT::new(GptConfig::tiny())，然后 compile 和 fit。"],
    ["what is a Sequential model?", "Sequential stacks layers one after another, as in Keras.", "Sequential 模型是什么？", "Sequential 像 Keras 一样把层一层层叠起来。"],
    ["what is a callback?", "A callback runs code during training, such as EarlyStopping.", "回调是什么？", "回调在训练过程中运行代码，比如 EarlyStopping。"],
    ["what is History?", "History records the loss and metrics of every epoch.", "History 是什么？", "History 记录每一轮的损失和指标。"],
    // Training and the command line.
    ["how do I train a model?", "Run aigc train --data FILE --out DIR.", "怎么训练模型？", "运行 aigc train --data FILE --out DIR。"],
    ["how do I chat with a model?", "Run aigc chat --model DIR.", "怎么和模型聊天？", "运行 aigc chat --model DIR。"],
    ["how do I generate text?", "Run aigc generate --model DIR --prompt TEXT.", "怎么生成文本？", "运行 aigc generate --model DIR --prompt TEXT。"],
    ["how do I evaluate a model?", "Run aigc eval --model DIR --data FILE.", "怎么评估模型？", "运行 aigc eval --model DIR --data FILE。"],
    ["how do I run the demo?", "Run aigc demo, or cargo run --release with no arguments.", "怎么运行演示？", "运行 aigc demo，或者不带参数运行 cargo run --release。"],
    ["what does the demo do?", "It writes a corpus, trains a tokenizer and a model, then opens a chat.", "演示做了什么？", "它写出语料，训练分词器和模型，然后打开对话。"],
    ["how do I run the tests?", "Run cargo test --workspace --release.", "怎么运行测试？", "运行 cargo test --workspace --release。"],
    ["what is in a model directory?", "config.json, model.safetensors and, for chat models, tokenizer.json.", "模型目录里有什么？", "config.json、model.safetensors，对话模型还有 tokenizer.json。"],
    ["what is safetensors?", "safetensors is a simple file format that stores tensors by name.", "safetensors 是什么？", "safetensors 是一种按名字存放张量的简单文件格式。"],
    ["how many threads does aigc use?", "All cores by default; set --threads N to change it.", "aigc 用几个线程？", "默认用全部核心，用 --threads N 可以修改。"],
    ["what presets are there?", "tiny has 4 layers and width 128; small has 6 layers and width 384.", "有哪些预设？", "tiny 有 4 层、宽度 128；small 有 6 层、宽度 384。"],
    ["what commands does the chat have?", "/help, /reset and /exit.", "对话里有哪些命令？", "/help、/reset 和 /exit。"],
    ["what does /reset do?", "/reset forgets the conversation so far.", "/reset 是做什么的？", "/reset 会清空之前的对话。"],
    // Model internals.
    ["what is a GPT?", "A GPT is a transformer that predicts the next token from the ones before it.", "GPT 是什么？", "GPT 是一种 Transformer，根据前面的词元预测下一个词元。"],
    ["what is the KV cache?", "The KV cache keeps the keys and values of earlier tokens, so each new token is cheap.", "KV 缓存是什么？", "KV 缓存保存之前词元的键和值，让每个新词元的计算很便宜。"],
    ["why is the KV cache faster?", "Without it, every step recomputes the whole context.", "为什么 KV 缓存更快？", "没有它，每一步都要重新计算整个上下文。"],
    ["what is attention?", "Attention lets each token look at the tokens before it.", "注意力是什么？", "注意力让每个词元都能看到它前面的词元。"],
    ["what is block_size?", "block_size is the context length: the most tokens the model sees at once.", "block_size 是什么？", "block_size 是上下文长度，也就是模型一次能看到的最多词元数。"],
    ["what is n_embd?", "n_embd is the width of the residual stream.", "n_embd 是什么？", "n_embd 是残差流的宽度。"],
    ["what is n_layer?", "n_layer is the number of transformer blocks.", "n_layer 是什么？", "n_layer 是 Transformer 块的数量。"],
    ["what is n_head?", "n_head is the number of attention heads in each block.", "n_head 是什么？", "n_head 是每个块里注意力头的数量。"],
    ["what is LayerNorm?", "LayerNorm scales each vector to zero mean and unit variance.", "LayerNorm 是什么？", "LayerNorm 把每个向量归一化为均值零、方差一。"],
    ["what is dropout?", "Dropout zeroes random activations during training to reduce overfitting.", "dropout 是什么？", "dropout 在训练时随机置零一些激活，减少过拟合。"],
    ["what is a token?", "A token is a piece of text, such as a word, part of a word or a byte.", "词元是什么？", "词元是一小段文本，比如一个词、半个词或一个字节。"],
    ["what is BPE?", "BPE merges the most frequent pairs of symbols into new tokens.", "BPE 是什么？", "BPE 把最常见的符号对合并成新的词元。"],
    ["what is the chat template?", "It marks each message with its role and closes it with an end token.", "对话模板是什么？", "它用角色标记每条消息，并用结束词元收尾。"],
    ["what is the loss?", "The loss is the cross-entropy between the predicted and the real next token.", "损失是什么？", "损失是预测的下一个词元和真实词元之间的交叉熵。"],
    ["what is a gradient?", "A gradient says how the loss changes when a parameter changes.", "梯度是什么？", "梯度表示参数变化时损失怎样变化。"],
    ["what is gradcheck?", "gradcheck compares gradients with central finite differences.", "gradcheck 是什么？", "gradcheck 用中心有限差分检查梯度。"],
    ["what is AdamW?", "AdamW is Adam with weight decay applied directly to the weights.", "AdamW 是什么？", "AdamW 是把权重衰减直接作用在权重上的 Adam。"],
    ["what is the learning rate?", "The learning rate is the size of each optimizer step.", "学习率是什么？", "学习率是优化器每一步的大小。"],
    ["what is GEMM?", "GEMM is general matrix multiplication, the core of every layer.", "GEMM 是什么？", "GEMM 是通用矩阵乘法，是每一层的核心。"],
    // Sampling.
    ["what is temperature?", "Temperature scales the logits; 0 always picks the most likely token.", "温度是什么？", "温度缩放 logits；温度为 0 时总是选最可能的词元。"],
    ["what is top-k?", "top-k samples only from the k most likely tokens.", "top-k 是什么？", "top-k 只从最可能的 k 个词元里采样。"],
    ["what is top-p?", "top-p samples from the smallest set of tokens whose probability reaches p.", "top-p 是什么？", "top-p 从概率之和达到 p 的最小词元集合里采样。"],
    ["what is greedy decoding?", "Greedy decoding always takes the most likely next token.", "贪心解码是什么？", "贪心解码总是选最可能的下一个词元。"],
    ["what is the seed for?", "The same seed gives the same replies.", "种子有什么用？", "相同的种子会给出相同的回答。"],
    // Small talk.
    ["tell me a joke", "Why did the tensor go to school? To improve its rank.", "讲个笑话", "张量为什么去上学？为了提高它的秩。"],
    ["what is your favourite colour?", "I like blue, the colour of a clear sky.", "你最喜欢什么颜色？", "我喜欢蓝色，像晴朗的天空。"],
    ["do you like music?", "I cannot hear, but I like the idea of music.", "你喜欢音乐吗？", "我听不见，但我喜欢音乐这个想法。"],
    ["what is the weather like?", "I cannot see outside, but I hope it is sunny.", "天气怎么样？", "我看不到外面，但希望是晴天。"],
    ["what time is it?", "I do not have a clock, sorry.", "现在几点了？", "我没有时钟，抱歉。"],
    ["I am tired", "Take a break and drink some water.", "我累了", "休息一下，喝点水吧。"],
    ["I am happy", "That is great to hear!", "我很开心", "听到这个真好！"],
    ["I am sad", "I am sorry. I hope tomorrow is better.", "我很难过", "很遗憾，希望明天会更好。"],
    ["can you help me?", "Yes. Ask me a question about aigc.", "你能帮我吗？", "可以，问我一个关于 aigc 的问题吧。"],
    ["what do you like?", "I like tensors, gradients and short questions.", "你喜欢什么？", "我喜欢张量、梯度和简短的问题。"],
    ["what is your favourite food?", "I do not eat, but noodles sound good.", "你最喜欢吃什么？", "我不吃东西，不过面条听起来不错。"],
    ["do you dream?", "Only of lower loss.", "你会做梦吗？", "只会梦见更低的损失。"],
    ["tell me a fact", "Rust has no garbage collector.", "告诉我一个事实", "Rust 没有垃圾回收器。"],
    ["what is Rust?", "Rust is a fast and memory-safe programming language.", "Rust 是什么？", "Rust 是一种又快又内存安全的编程语言。"],
    ["what is a CPU?", "A CPU is the main processor of a computer.", "CPU 是什么？", "CPU 是电脑的中央处理器。"],
    ["what is machine learning?", "Machine learning fits a model to data instead of writing rules by hand.", "机器学习是什么？", "机器学习用数据拟合模型，而不是手写规则。"],
    ["what is deep learning?", "Deep learning trains neural networks with many layers.", "深度学习是什么？", "深度学习训练有很多层的神经网络。"],
];

/// Animals and their sounds, for templated small talk: (English, sound, Chinese, 中文叫声).
const ANIMALS: &[(&str, &str, &str, &str)] = &[
    ("cat", "meow", "猫", "喵喵"),
    ("dog", "woof", "狗", "汪汪"),
    ("cow", "moo", "牛", "哞哞"),
    ("duck", "quack", "鸭子", "嘎嘎"),
    ("sheep", "baa", "羊", "咩咩"),
    ("frog", "ribbit", "青蛙", "呱呱"),
];

/// Most turns in one training conversation. With the chat's default
/// `--max-tokens`, the history kept in the demo model's 128-token context
/// rarely holds more than two earlier exchanges.
pub const MAX_TURNS: usize = 3;

/// Small sums, for templated arithmetic: "what is a plus b?".
const SUMS: &[(u32, u32)] = &[(1, 1), (1, 2), (2, 2), (2, 3), (3, 4), (4, 5), (5, 5), (6, 3), (7, 2), (8, 1)];

/// Returns every exchange of the corpus: the topics in both languages, then
/// the templated animal and arithmetic questions.
pub fn exchanges() -> Vec<Exchange> {
    let mut all = Vec::new();
    for [en_user, en_assistant, zh_user, zh_assistant] in TOPICS {
        all.push(Exchange::new(*en_user, *en_assistant));
        all.push(Exchange::new(*zh_user, *zh_assistant));
    }
    for (animal, sound, zh_animal, zh_sound) in ANIMALS {
        all.push(Exchange::new(format!("what does a {animal} say?"), format!("A {animal} says {sound}.")));
        all.push(Exchange::new(format!("{zh_animal}怎么叫？"), format!("{zh_animal}{zh_sound}地叫。")));
    }
    for &(a, b) in SUMS {
        all.push(Exchange::new(format!("what is {a} plus {b}?"), format!("{a} plus {b} is {}.", a + b)));
        all.push(Exchange::new(format!("{a} 加 {b} 等于几？"), format!("{a} 加 {b} 等于 {}。", a + b)));
    }
    all
}

/// Builds the training conversations from `rounds` seeded shuffles of the
/// exchanges. Each shuffle is cut into consecutive conversations of one to
/// `MAX_TURNS` turns, so every exchange is learnt as a first turn and after
/// other turns, and the model learns to answer the latest question.
pub fn conversations(exchanges: &[Exchange], rounds: usize, seed: u64) -> Vec<Conversation> {
    let mut rng = aigc_tensor::Rng::seed(seed);
    let mut conversations = Vec::new();
    let mut order: Vec<usize> = (0..exchanges.len()).collect();
    for _ in 0..rounds {
        rng.shuffle(&mut order);
        let mut rest = order.as_slice();
        while !rest.is_empty() {
            let turns = (1 + rng.below(MAX_TURNS)).min(rest.len());
            let (group, tail) = rest.split_at(turns);
            conversations.push(group.iter().flat_map(|&index| exchanges[index].to_conversation()).collect());
            rest = tail;
        }
    }
    conversations
}

/// Writes conversations as chat JSONL, one `{"messages": [...]}` per line,
/// the format `aigc sft --data` reads.
pub fn to_jsonl(conversations: &[Conversation]) -> String {
    let mut out = String::new();
    for conversation in conversations {
        let messages: Vec<_> =
            conversation.iter().map(|m| json!({ "role": m.role.as_str(), "content": m.content })).collect();
        out.push_str(&json!({ "messages": messages }).to_string());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn corpus_has_200_bilingual_exchanges() {
        let all = exchanges();
        assert!(all.len() >= 200, "{} exchanges", all.len());
        let chinese = all.iter().filter(|e| e.user.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))).count();
        assert!(chinese >= 100, "{chinese} Chinese questions");
        assert!(all.len() - chinese >= 100, "{} English questions", all.len() - chinese);
    }

    #[test]
    fn every_question_is_unique() {
        let mut seen = HashSet::new();
        for exchange in exchanges() {
            assert!(seen.insert(exchange.user.clone()), "duplicate question {:?}", exchange.user);
        }
    }

    #[test]
    fn each_round_covers_every_exchange_once() {
        let all = exchanges();
        let conversations = conversations(&all, 3, 1);
        let users: Vec<&str> = conversations
            .iter()
            .flat_map(|c| c.iter().filter(|m| m.role == Role::User).map(|m| m.content.as_str()))
            .collect();
        assert_eq!(users.len(), 3 * all.len(), "each round asks every question once");
        let distinct: HashSet<&str> = users.iter().copied().collect();
        assert_eq!(distinct.len(), all.len());
        for conversation in &conversations {
            let turns = conversation.len() / 2;
            assert!((1..=MAX_TURNS).contains(&turns), "{turns} turns");
            assert_eq!(conversation.len(), 2 * turns, "user and assistant messages alternate");
        }
        assert!(conversations.iter().any(|c| c.len() == 2 * MAX_TURNS), "some conversations have {MAX_TURNS} turns");
    }

    #[test]
    fn jsonl_round_trips_through_the_loader() {
        let conversations = conversations(&exchanges()[..4], 1, 1);
        let text = to_jsonl(&conversations);
        let loaded = aigc_tokenizer::data::parse_jsonl(&text, std::path::Path::new("demo_corpus.jsonl")).unwrap();
        assert_eq!(loaded.conversations, conversations);
    }
}
