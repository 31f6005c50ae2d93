//! A TCP proxy on 127.0.0.1 whose path can be cut and restored, to simulate a database (or any
//! TCP service) that becomes unreachable while the client and the service both keep running.
//!
//! Point the client at [`TcpProxy::addr`] instead of the service. [`TcpProxy::cut`] resets
//! every open connection and resets every new one as soon as it is accepted (the client sees
//! "connection reset" or an unexpected end of stream, as after a network failure or a server
//! restart); [`TcpProxy::restore`] lets new connections through again. The listening socket
//! stays bound the whole time, so the address never changes and no other process can take it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use alert_testkit::proxy::TcpProxy;
//!
//! let proxy = TcpProxy::start("127.0.0.1:5432".parse().unwrap()).await?;
//! let url = format!("postgres://postgres@{}/test", proxy.addr());
//! // ... connect a client to `url`, then:
//! proxy.cut(); // the database is gone for the client
//! proxy.restore(); // and back
//! # Ok(())
//! # }
//! ```

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A TCP proxy from a local port to `upstream` that can be cut and restored. Stops (and closes
/// every connection) when dropped.
#[derive(Debug)]
pub struct TcpProxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    cut: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`
    /// (connected to when the client connects; a refused upstream closes the client's
    /// connection). Starts open. Needs a Tokio runtime.
    pub async fn start(upstream: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (cut, _) = watch::channel(false);
        let accept = tokio::spawn(accept_loop(listener, upstream, cut.clone()));
        Ok(Self {
            addr,
            upstream,
            cut,
            accept,
        })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address connections are forwarded to.
    pub fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// Cuts the path: resets every open connection now, and every new one as soon as it is
    /// accepted, until [`restore`](Self::restore). Idempotent.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Restores the path: new connections reach the upstream again (connections reset by
    /// [`cut`](Self::cut) stay closed). Idempotent.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Whether the path is cut now.
    pub fn is_cut(&self) -> bool {
        *self.cut.borrow()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        // Every open connection ends with the cut; the accept loop ends with its task.
        self.cut.send_replace(true);
        self.accept.abort();
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, cut: watch::Sender<bool>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            reset(client);
            continue;
        }
        tokio::spawn(forward(client, upstream, cut.subscribe()));
    }
}

/// Forwards one connection both ways until either side closes it or the path is cut.
async fn forward(mut client: TcpStream, upstream: SocketAddr, mut cut: watch::Receiver<bool>) {
    let _ = client.set_nodelay(true);
    let connect = tokio::select! {
        c = TcpStream::connect(upstream) => c,
        _ = cut.wait_for(|c| *c) => {
            reset(client);
            return;
        }
    };
    let Ok(mut server) = connect else {
        reset(client);
        return;
    };
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|c| *c) => {
            reset(client);
            reset(server);
        }
    }
}

/// Closes a connection with a reset (RST) rather than an orderly shutdown, as a broken path
/// looks to both ends.
fn reset(stream: TcpStream) {
    let _ = stream.set_zero_linger();
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An echo server: answers every byte it reads.
    async fn echo() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    async fn round_trip(s: &mut TcpStream) -> std::io::Result<()> {
        s.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(2), s.read_exact(&mut buf))
            .await
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
        assert_eq!(&buf, b"ping");
        Ok(())
    }

    #[tokio::test]
    async fn forwards_cuts_and_restores() {
        let proxy = TcpProxy::start(echo().await).await.unwrap();
        let mut open = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut open).await.unwrap();

        proxy.cut();
        assert!(proxy.is_cut());
        // The open connection is closed...
        let mut buf = [0u8; 4];
        let read = tokio::time::timeout(Duration::from_secs(2), open.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "an open connection ends at the cut: {read:?}"
        );
        // ...and a new one does not get through.
        let mut new = TcpStream::connect(proxy.addr()).await.unwrap();
        assert!(round_trip(&mut new).await.is_err());

        proxy.restore();
        let mut again = TcpStream::connect(proxy.addr()).await.unwrap();
        round_trip(&mut again).await.unwrap();
    }
}
