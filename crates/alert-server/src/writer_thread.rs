//! A thread of its own for the tasks that drive the store's writes: the group commits'
//! committers and the delivery engine's attempt recorder.
//!
//! Each statement of a transaction is a hop to the database driver and back. On the shared
//! Tokio workers the task waiting for the answer sits behind every request handler and send
//! that is ready; with two cores busy, the waits added up to more than the statements took
//! (measured: 3–9 ms to start a transaction). On this thread it is woken by the operating
//! system as soon as the answer is there.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle};

/// The runtime of the writer thread, started on first use; it lives as long as the process.
pub fn handle() -> Handle {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let runtime = Builder::new_current_thread()
                .enable_all()
                .thread_name("store-writer")
                .build()
                .expect("a current-thread runtime starts");
            let handle = runtime.handle().clone();
            std::thread::Builder::new()
                .name("store-writer".to_owned())
                .spawn(move || runtime.block_on(std::future::pending::<()>()))
                .expect("the writer thread starts");
            handle
        })
        .clone()
}
