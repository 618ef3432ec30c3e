//! # aigc-serve
//!
//! Serves an aigc chat model over HTTP with the OpenAI Chat Completions API,
//! plus a web chat page, so that tools which speak that API (the `openai`
//! clients, editors, chat front ends) work with a model trained by aigc.
//!
//! | route | what it does |
//! | --- | --- |
//! | `POST /v1/chat/completions` | one reply, as JSON or streamed as server-sent events |
//! | `GET /v1/models` | the one served model |
//! | `GET /health` | `ok`, with counts of active, queued and finished generations |
//! | `GET /` | the chat page |
//!
//! Generation runs on tokio's blocking threads, never on the async
//! executor. Requests share the weights through an `Arc`, and each builds
//! its own KV cache. At most `max_concurrent` generations run at once. A
//! request that finds every slot busy waits up to `queue_timeout` and then
//! gets 429 with `Retry-After`. A client that disconnects stops its
//! generation at the next token.
//!
//! ```no_run
//! use aigc_serve::{ChatModel, ServeConfig, Server};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let model = ChatModel::load(std::path::Path::new("models/demo"))?;
//! let server = Server::bind(model, ServeConfig::default()).await?;
//! println!("listening on http://{}", server.local_addr());
//! server.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod generation;
mod request;
mod routes;
mod stop;
mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;

pub use error::ApiError;
pub use generation::{ChatModel, Control, Finish, Generation, GenerationOptions};
pub use request::{parse_chat_request, ChatRequest, DEFAULT_TEMPERATURE, MAX_STOP_STRINGS};
pub use stop::{Scanned, StopScanner};

/// Where the server listens and the limits it enforces.
#[derive(Debug, Clone, PartialEq)]
pub struct ServeConfig {
    /// Address to bind; loopback by default, so only this machine can connect.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// Most generations that run at once.
    pub max_concurrent: usize,
    /// How long a request waits for a free generation slot before 429.
    pub queue_timeout: Duration,
    /// Largest `max_tokens` a request may ask for; also the default.
    pub max_tokens_limit: usize,
    /// Time limit of one generation, from the moment it starts.
    pub timeout: Duration,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Pause after each generated token; zero by default. Tests set it to
    /// keep a generation running while they probe the server, and it shows
    /// how a client copes with a slow model.
    pub token_delay: Duration,
}

impl Default for ServeConfig {
    /// `127.0.0.1:8000`, 4 concurrent generations with a 5 s queue,
    /// `max_tokens` up to 1024, 300 s per request, 1 MiB bodies.
    fn default() -> Self {
        ServeConfig {
            host: "127.0.0.1".into(),
            port: 8000,
            max_concurrent: 4,
            queue_timeout: Duration::from_secs(5),
            max_tokens_limit: 1024,
            timeout: Duration::from_secs(300),
            max_body_bytes: 1 << 20,
            token_delay: Duration::ZERO,
        }
    }
}

/// Counters of the server's generations, reported by `GET /health`.
#[derive(Debug, Default)]
pub struct Stats {
    /// Generations running now.
    pub active: AtomicUsize,
    /// Requests waiting for a generation slot.
    pub queued: AtomicUsize,
    /// Generations that ended normally (`stop` or `length`).
    pub completed: AtomicU64,
    /// Generations stopped because the client disconnected.
    pub cancelled: AtomicU64,
    /// Generations stopped by the time limit.
    pub timed_out: AtomicU64,
    /// Requests turned away with 429.
    pub rejected_busy: AtomicU64,
    /// Tokens generated in all.
    pub completion_tokens: AtomicU64,
}

impl Stats {
    /// The counters as the JSON object of `GET /health`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "active_generations": self.active.load(Ordering::Relaxed),
            "queued_requests": self.queued.load(Ordering::Relaxed),
            "completed_generations": self.completed.load(Ordering::Relaxed),
            "cancelled_generations": self.cancelled.load(Ordering::Relaxed),
            "timed_out_generations": self.timed_out.load(Ordering::Relaxed),
            "rejected_busy": self.rejected_busy.load(Ordering::Relaxed),
            "completion_tokens": self.completion_tokens.load(Ordering::Relaxed),
        })
    }
}

/// What every request handler shares.
pub(crate) struct AppState {
    pub model: ChatModel,
    pub config: ServeConfig,
    pub slots: Arc<Semaphore>,
    pub stats: Arc<Stats>,
    pub next_request: AtomicU64,
}

/// A bound server, ready to [`run`](Server::run).
pub struct Server {
    listener: TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds `config.host:config.port` and prepares to serve `model`.
    ///
    /// Fails when the address cannot be bound, or when `max_concurrent` or
    /// `max_tokens_limit` is 0.
    pub async fn bind(model: ChatModel, config: ServeConfig) -> std::io::Result<Server> {
        let invalid = |message: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, message);
        if config.max_concurrent == 0 {
            return Err(invalid("max_concurrent is 0; allow at least 1 generation at a time".into()));
        }
        if config.max_tokens_limit == 0 {
            return Err(invalid("max_tokens_limit is 0; allow replies of at least 1 token".into()));
        }
        let listener = TcpListener::bind((config.host.as_str(), config.port)).await?;
        let state = Arc::new(AppState {
            model,
            slots: Arc::new(Semaphore::new(config.max_concurrent)),
            config,
            stats: Arc::new(Stats::default()),
            next_request: AtomicU64::new(0),
        });
        Ok(Server { listener, state })
    }

    /// The address the server listens on, with the port picked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound TCP listener has a local address")
    }

    /// The generation counters, live while the server runs.
    pub fn stats(&self) -> Arc<Stats> {
        self.state.stats.clone()
    }

    /// The router with every route, for embedding in another axum app.
    pub fn router(&self) -> axum::Router {
        routes::router(self.state.clone())
    }

    /// Serves until `shutdown` completes, then stops accepting connections
    /// and waits for open requests to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let addr = self.local_addr();
        let router = self.router();
        tracing::info!(%addr, model = self.state.model.id(), "server listening on http://{addr}");
        let result = axum::serve(self.listener, router).with_graceful_shutdown(shutdown).await;
        match &result {
            Ok(()) => tracing::info!(%addr, "server stopped"),
            Err(error) => tracing::error!(%addr, %error, "server failed"),
        }
        result
    }
}

/// A server running on its own thread, for tests and for programs that
/// serve a model beside other work. Dropping it stops the server.
pub struct ServerHandle {
    addr: SocketAddr,
    stats: Arc<Stats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL, such as `http://127.0.0.1:8000`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The generation counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops accepting connections, waits for open requests, and returns
    /// the server's result.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> std::io::Result<()> {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        match self.thread.take() {
            Some(thread) => thread.join().unwrap_or_else(|_| Err(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Binds and runs a server on a new thread with its own tokio runtime
/// (`max_concurrent` + 2 worker threads), returning once it listens.
pub fn spawn(model: ChatModel, config: ServeConfig) -> std::io::Result<ServerHandle> {
    let runtime = runtime(&config)?;
    let server = runtime.block_on(Server::bind(model, config))?;
    let (addr, stats) = (server.local_addr(), server.stats());
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new().name("aigc-serve".into()).spawn(move || {
        runtime.block_on(server.run(async {
            let _ = shutdown_signal.await;
        }))
    })?;
    Ok(ServerHandle { addr, stats, shutdown: Some(shutdown), thread: Some(thread) })
}

/// Binds and serves on the current thread until Ctrl-C (or SIGTERM on
/// Unix), then shuts down gracefully. This is what `aigc serve` runs.
pub fn serve_until_signal(model: ChatModel, config: ServeConfig) -> std::io::Result<()> {
    let runtime = runtime(&config)?;
    runtime.block_on(async {
        let server = Server::bind(model, config).await?;
        server.run(shutdown_signal()).await
    })
}

/// A multi-threaded runtime sized for the I/O of `max_concurrent` streams;
/// generation itself runs on the runtime's blocking threads.
fn runtime(config: &ServeConfig) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(config.max_concurrent + 4)
        .thread_name("aigc-serve-worker")
        .enable_all()
        .build()
}

/// Completes on Ctrl-C, or on SIGTERM on Unix.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "could not listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "could not listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("Ctrl-C received; shutting down"),
        () = terminate => tracing::info!("SIGTERM received; shutting down"),
    }
}
