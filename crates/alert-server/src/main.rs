//! alert-server binary (placeholder).
fn main() {}
