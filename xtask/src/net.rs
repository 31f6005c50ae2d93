//! Loopback listeners for the load tools' mock sinks.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};

use anyhow::{Context, Result};
use socket2::{Domain, Socket, Type};

/// Accept-queue depth of a mock sink. The standard library listens with 128: a burst of new
/// connections from the server (or from Alertmanager) overflowed it, and each dropped
/// handshake is retried only after a second, a tail that belongs to the sink, not to what is
/// measured. The kernel caps it at `net.core.somaxconn`.
const BACKLOG: i32 = 4096;

/// A non-blocking listener on `127.0.0.1` at a free port, with a deep accept queue.
pub(crate) fn loopback_listener(what: &str) -> Result<TcpListener> {
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None)
        .with_context(|| format!("{what}: cannot open a socket"))?;
    socket
        .bind(&SocketAddr::from((Ipv4Addr::LOCALHOST, 0)).into())
        .with_context(|| format!("{what}: cannot bind"))?;
    socket
        .listen(BACKLOG)
        .with_context(|| format!("{what}: cannot listen"))?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listener_accepts_on_loopback() {
        let listener = loopback_listener("test").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(addr.ip().is_loopback());
        assert_ne!(addr.port(), 0);
        let _client = std::net::TcpStream::connect(addr).unwrap();
        // Non-blocking: the pending connection is there at once, nothing waits.
        let mut accepted = None;
        for _ in 0..100 {
            match listener.accept() {
                Ok(conn) => {
                    accepted = Some(conn);
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        }
        assert!(accepted.is_some(), "the connection was never accepted");
    }
}
