//! A minimal SMTP server on 127.0.0.1 for testing mail channels: enough of RFC 5321 for a real
//! client (`EHLO`/`HELO`, `AUTH PLAIN`/`AUTH LOGIN` without TLS, `MAIL FROM`, `RCPT TO`, `DATA`,
//! `RSET`, `NOOP`, `QUIT`), scriptable to answer any stage with a 4xx or 5xx reply, and to greet
//! late. It keeps every accepted message, with helpers to read its headers and MIME parts.
//!
//! It speaks no TLS: configure the client with TLS off (the server is on loopback).
//!
//! ```no_run
//! # async fn demo() {
//! use alert_testkit::smtp::{MockSmtp, Reply, SmtpSettings, Stage};
//! let smtp = MockSmtp::start(SmtpSettings {
//!     credentials: Some(("alerts".into(), "pw".into())),
//!     replies: vec![(Stage::RcptTo, Reply::new(550, "5.1.1 No such user"))],
//!     ..SmtpSettings::default()
//! })
//! .await;
//! let (host, port) = (smtp.host(), smtp.port());
//! # let _ = (host, port); }
//! ```

mod mime;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// A stage of an SMTP session, to script its reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// The `220` greeting on connect (a 4xx/5xx greeting is sent, then the connection closed).
    Greeting,
    /// `EHLO` / `HELO`.
    Ehlo,
    /// `AUTH` (the final reply, after the credentials).
    Auth,
    /// `MAIL FROM`.
    MailFrom,
    /// `RCPT TO` (every recipient).
    RcptTo,
    /// `DATA` (before the message).
    Data,
    /// The end of the message (`.`): the reply that accepts or refuses it.
    Message,
}

/// An SMTP reply: a three-digit code and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// E.g. 250, 451, 550.
    pub code: u16,
    /// E.g. `4.3.0 Try again later`.
    pub text: String,
}

impl Reply {
    /// A reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self {
            code,
            text: text.into(),
        }
    }

    fn line(&self) -> String {
        format!("{} {}\r\n", self.code, self.text)
    }
}

/// What the mock server checks and how it answers.
#[derive(Debug, Clone, Default)]
pub struct SmtpSettings {
    /// When set, `AUTH PLAIN`/`AUTH LOGIN` is advertised and required before `MAIL FROM`, with
    /// these user and password.
    pub credentials: Option<(String, String)>,
    /// Advertise `AUTH` and accept any user and password (without requiring a login): for
    /// suites that only care that a client with credentials gets through.
    pub accept_any_login: bool,
    /// How long to wait before the greeting (a server that accepts but does not talk).
    pub greeting_delay: Duration,
    /// Replies that replace the normal ones at a stage.
    pub replies: Vec<(Stage, Reply)>,
    /// Recipients refused with `550 5.1.1`.
    pub unknown_recipients: Vec<String>,
}

impl SmtpSettings {
    fn scripted(&self, stage: Stage) -> Option<&Reply> {
        self.replies
            .iter()
            .find(|(s, _)| *s == stage)
            .map(|(_, r)| r)
    }
}

/// A message the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// The user that authenticated, if any.
    pub auth_user: Option<String>,
    /// The `MAIL FROM` address.
    pub from: String,
    /// The `RCPT TO` addresses, in order.
    pub to: Vec<String>,
    /// The message as received (dot-unstuffed, CRLF line ends).
    pub data: String,
}

impl ReceivedMail {
    /// The value of header `name` in the top-level headers (unfolded; encoded words decoded).
    pub fn header(&self, name: &str) -> Option<String> {
        mime::header_in(mime::head(&self.data), name).map(|v| mime::decode_words(&v))
    }

    /// The decoded body of the first MIME part whose `Content-Type` starts with `content_type`
    /// (`text/plain`, `text/html`); base64 and quoted-printable are decoded.
    pub fn part(&self, content_type: &str) -> Option<String> {
        mime::find_part(&self.data, content_type)
    }
}

/// A running mock SMTP server; stops when dropped.
#[derive(Debug)]
pub struct MockSmtp {
    addr: SocketAddr,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    task: tokio::task::JoinHandle<()>,
}

impl MockSmtp {
    /// Starts a server on a free port of 127.0.0.1.
    pub async fn start(settings: SmtpSettings) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let mails = Arc::new(Mutex::new(Vec::new()));
        let settings = Arc::new(settings);
        let store = Arc::clone(&mails);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let settings = Arc::clone(&settings);
                let store = Arc::clone(&store);
                tokio::spawn(async move {
                    // A client hanging up mid-session is not the server's problem.
                    let _ = Session::new(&settings, &store).run(stream).await;
                });
            }
        });
        Self { addr, mails, task }
    }

    /// `127.0.0.1`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The messages accepted so far.
    pub fn mails(&self) -> Vec<ReceivedMail> {
        self.mails.lock().expect("not poisoned").clone()
    }
}

impl Drop for MockSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Session<'a> {
    settings: &'a SmtpSettings,
    store: &'a Mutex<Vec<ReceivedMail>>,
    auth_user: Option<String>,
    from: Option<String>,
    to: Vec<String>,
}

type Lines = BufReader<tokio::net::tcp::OwnedReadHalf>;

async fn read_line(reader: &mut Lines) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    if reader.read_until(b'\n', &mut buf).await? == 0 {
        return Ok(None);
    }
    let line = String::from_utf8_lossy(&buf);
    Ok(Some(line.trim_end_matches(['\r', '\n']).to_owned()))
}

/// The address inside `<...>` after a `MAIL FROM:` / `RCPT TO:` verb.
fn address(arg: &str) -> String {
    let start = arg.find('<').map_or(0, |i| i + 1);
    let end = arg[start..].find('>').map_or(arg.len(), |i| start + i);
    arg[start..end].trim().to_owned()
}

pub(crate) fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default()
}

impl<'a> Session<'a> {
    fn new(settings: &'a SmtpSettings, store: &'a Mutex<Vec<ReceivedMail>>) -> Self {
        Self {
            settings,
            store,
            auth_user: None,
            from: None,
            to: Vec::new(),
        }
    }

    async fn run(mut self, stream: TcpStream) -> std::io::Result<()> {
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        tokio::time::sleep(self.settings.greeting_delay).await;
        if let Some(reply) = self.settings.scripted(Stage::Greeting) {
            write.write_all(reply.line().as_bytes()).await?;
            if reply.code >= 400 {
                return Ok(());
            }
        } else {
            write
                .write_all(b"220 mock.smtp.test ESMTP flink-alert testkit\r\n")
                .await?;
        }
        while let Some(line) = read_line(&mut reader).await? {
            let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            let verb = verb.to_ascii_uppercase();
            let reply = match verb.as_str() {
                "EHLO" | "HELO" => self.ehlo(&verb),
                "AUTH" => self.auth(arg, &mut reader, &mut write).await?,
                "MAIL" => self.mail_from(arg),
                "RCPT" => self.rcpt_to(arg),
                "DATA" => self.data(&mut reader, &mut write).await?,
                "RSET" => {
                    self.from = None;
                    self.to.clear();
                    "250 2.0.0 Ok\r\n".to_owned()
                }
                "NOOP" => "250 2.0.0 Ok\r\n".to_owned(),
                "QUIT" => {
                    write.write_all(b"221 2.0.0 Bye\r\n").await?;
                    return Ok(());
                }
                _ => "502 5.5.2 Command not recognized\r\n".to_owned(),
            };
            write.write_all(reply.as_bytes()).await?;
        }
        Ok(())
    }

    fn ehlo(&self, verb: &str) -> String {
        if let Some(reply) = self.settings.scripted(Stage::Ehlo) {
            return reply.line();
        }
        if verb == "HELO" {
            return "250 mock.smtp.test\r\n".to_owned();
        }
        let mut lines = vec!["mock.smtp.test", "8BITMIME", "SMTPUTF8", "SIZE 10485760"];
        if self.settings.credentials.is_some() || self.settings.accept_any_login {
            lines.push("AUTH PLAIN LOGIN");
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
            .collect()
    }

    async fn auth(
        &mut self,
        arg: &str,
        reader: &mut Lines,
        write: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> std::io::Result<String> {
        let expected = self.settings.credentials.clone();
        if expected.is_none() && !self.settings.accept_any_login {
            return Ok("503 5.5.1 AUTH not advertised\r\n".to_owned());
        }
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let (given_user, given_password) = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response = if initial.is_empty() {
                    write.write_all(b"334 \r\n").await?;
                    read_line(reader).await?.unwrap_or_default()
                } else {
                    initial.to_owned()
                };
                let decoded = b64(&response);
                let mut parts = decoded.split('\0').skip(1);
                (
                    parts.next().unwrap_or_default().to_owned(),
                    parts.next().unwrap_or_default().to_owned(),
                )
            }
            "LOGIN" => {
                let user = if initial.is_empty() {
                    write.write_all(b"334 VXNlcm5hbWU6\r\n").await?;
                    b64(&read_line(reader).await?.unwrap_or_default())
                } else {
                    b64(initial)
                };
                write.write_all(b"334 UGFzc3dvcmQ6\r\n").await?;
                (user, b64(&read_line(reader).await?.unwrap_or_default()))
            }
            _ => return Ok("504 5.5.4 Unrecognized authentication type\r\n".to_owned()),
        };
        if let Some(reply) = self.settings.scripted(Stage::Auth) {
            return Ok(reply.line());
        }
        let accepted = expected
            .is_none_or(|(user, password)| given_user == user && given_password == password);
        if accepted {
            self.auth_user = Some(given_user);
            Ok("235 2.7.0 Authentication successful\r\n".to_owned())
        } else {
            Ok("535 5.7.8 Authentication credentials invalid\r\n".to_owned())
        }
    }

    fn mail_from(&mut self, arg: &str) -> String {
        if self.settings.credentials.is_some() && self.auth_user.is_none() {
            return "530 5.7.0 Authentication required\r\n".to_owned();
        }
        if let Some(reply) = self.settings.scripted(Stage::MailFrom) {
            return reply.line();
        }
        self.from = Some(address(arg));
        self.to.clear();
        "250 2.1.0 Ok\r\n".to_owned()
    }

    fn rcpt_to(&mut self, arg: &str) -> String {
        if self.from.is_none() {
            return "503 5.5.1 Need MAIL command\r\n".to_owned();
        }
        if let Some(reply) = self.settings.scripted(Stage::RcptTo) {
            return reply.line();
        }
        let to = address(arg);
        if self.settings.unknown_recipients.contains(&to) {
            return format!("550 5.1.1 <{to}>: Recipient address rejected: User unknown\r\n");
        }
        self.to.push(to);
        "250 2.1.5 Ok\r\n".to_owned()
    }

    async fn data(
        &mut self,
        reader: &mut Lines,
        write: &mut tokio::net::tcp::OwnedWriteHalf,
    ) -> std::io::Result<String> {
        if self.to.is_empty() {
            return Ok("554 5.5.1 No valid recipients\r\n".to_owned());
        }
        if let Some(reply) = self.settings.scripted(Stage::Data) {
            return Ok(reply.line());
        }
        write
            .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
            .await?;
        let mut data = String::new();
        while let Some(line) = read_line(reader).await? {
            if line == "." {
                break;
            }
            data.push_str(line.strip_prefix('.').unwrap_or(&line));
            data.push_str("\r\n");
        }
        let from = self.from.take().unwrap_or_default();
        let to = std::mem::take(&mut self.to);
        if let Some(reply) = self.settings.scripted(Stage::Message) {
            return Ok(reply.line());
        }
        self.store.lock().expect("not poisoned").push(ReceivedMail {
            auth_user: self.auth_user.clone(),
            from,
            to,
            data,
        });
        Ok("250 2.0.0 Ok: queued as MOCK\r\n".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the server by hand: AUTH LOGIN (lettre uses PLAIN), dot-stuffing, RSET, QUIT.
    #[tokio::test]
    async fn speaks_enough_smtp_for_a_hand_written_session() {
        let smtp = MockSmtp::start(SmtpSettings {
            credentials: Some(("u".into(), "p".into())),
            ..SmtpSettings::default()
        })
        .await;
        let stream = TcpStream::connect(("127.0.0.1", smtp.port()))
            .await
            .unwrap();
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        let mut expect = async |send: &str, code: &str| {
            if !send.is_empty() {
                write
                    .write_all(format!("{send}\r\n").as_bytes())
                    .await
                    .unwrap();
            }
            let mut line = read_line(&mut reader).await.unwrap().unwrap();
            while line.as_bytes().get(3) == Some(&b'-') {
                line = read_line(&mut reader).await.unwrap().unwrap();
            }
            assert!(line.starts_with(code), "{send} → {line}");
        };
        let b = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        expect("", "220").await;
        expect("EHLO client.test", "250").await;
        expect("MAIL FROM:<a@x>", "530").await;
        expect("AUTH LOGIN", "334").await;
        expect(&b("u"), "334").await;
        expect(&b("p"), "235").await;
        expect("MAIL FROM:<a@x> BODY=8BITMIME", "250").await;
        expect("RCPT TO:<b@x>", "250").await;
        expect("DATA", "354").await;
        expect("Subject: hi\r\n\r\n..leading dot\r\n.", "250").await;
        expect("RSET", "250").await;
        expect("QUIT", "221").await;
        let mails = smtp.mails();
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0].from.as_str(), mails[0].to.as_slice()),
            ("a@x", &["b@x".to_owned()][..])
        );
        assert_eq!(mails[0].auth_user.as_deref(), Some("u"));
        assert!(
            mails[0].data.ends_with("\r\n.leading dot\r\n"),
            "{:?}",
            mails[0].data
        );
    }
}
