//! A minimal SMTP server that accepts every message and keeps it in memory: the tests' mail sink, and
//! `airline all --smtp-sink` for local runs without a mail server. It speaks just enough of RFC 5321
//! (HELO/EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for an SMTP client; it never relays anything.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// One message as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMail {
    /// Envelope sender.
    pub from: String,
    /// Envelope recipients.
    pub to: Vec<String>,
    /// The `Subject` header.
    pub subject: String,
    /// The whole message as sent.
    pub raw: String,
}

impl ReceivedMail {
    /// The body: everything after the header block.
    pub fn body(&self) -> &str {
        self.raw.split_once("\r\n\r\n").map_or("", |(_, body)| body)
    }

    /// The body as text, with a quoted-printable transfer encoding undone (as a mail client shows it).
    pub fn text(&self) -> String {
        let body = self.body();
        let quoted = self
            .header("content-transfer-encoding")
            .is_some_and(|v| v.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.to_owned();
        }
        let joined = body.replace("=\r\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            let hex = bytes
                .get(i + 1..i + 3)
                .filter(|_| bytes[i] == b'=')
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(byte) => {
                    out.push(byte);
                    i += 3;
                }
                None => {
                    out.push(bytes[i]);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        let prefix = format!("{}:", name.to_ascii_lowercase());
        self.raw
            .lines()
            .take_while(|l| !l.is_empty())
            .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
            .map(|l| l[prefix.len()..].trim())
    }
}

/// A running sink.
#[derive(Debug, Clone)]
pub struct SmtpSink {
    port: u16,
    mails: Arc<Mutex<Vec<ReceivedMail>>>,
    arrived: Arc<Notify>,
}

impl SmtpSink {
    /// Listens on `addr` (`127.0.0.1:0` for any free port).
    ///
    /// # Errors
    /// When the address cannot be bound.
    pub async fn start(addr: &str) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let sink = Self {
            port: listener.local_addr()?.port(),
            mails: Arc::default(),
            arrived: Arc::default(),
        };
        let accepting = sink.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let session = accepting.clone();
                tokio::spawn(async move {
                    if let Err(e) = session.serve(stream).await {
                        tracing::debug!(error.message = %e, "smtp sink session ended");
                    }
                });
            }
        });
        Ok(sink)
    }

    /// `smtp://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Everything received so far.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.mails.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// How many messages arrived so far (without copying them).
    pub fn count(&self) -> usize {
        self.mails.lock().map(|m| m.len()).unwrap_or_default()
    }

    /// Waits until at least `count` messages arrived, or `timeout` passed; returns what arrived.
    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            if self.count() >= count || tokio::time::Instant::now() >= deadline {
                return self.received();
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }

    async fn serve(&self, stream: TcpStream) -> std::io::Result<()> {
        // Replies are small writes that the client waits for: no Nagle delay on them.
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 airline-sink ESMTP\r\n").await?;
        let (mut from, mut to) = (String::new(), Vec::new());
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO") {
                b"250-airline-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n"
            } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                b"250 OK\r\n"
            } else if upper.starts_with("RSET") {
                (from, to) = (String::new(), Vec::new());
                b"250 OK\r\n"
            } else if upper.starts_with("MAIL FROM:") {
                from = address(&line);
                b"250 OK\r\n"
            } else if upper.starts_with("RCPT TO:") {
                to.push(address(&line));
                b"250 OK\r\n"
            } else if upper == "DATA" {
                write
                    .write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut raw = String::new();
                while let Some(data) = lines.next_line().await? {
                    if data == "." {
                        break;
                    }
                    // Undo dot-stuffing.
                    raw.push_str(
                        data.strip_prefix('.')
                            .filter(|_| data.starts_with(".."))
                            .unwrap_or(&data),
                    );
                    raw.push_str("\r\n");
                }
                let mut mail = ReceivedMail {
                    from: std::mem::take(&mut from),
                    to: std::mem::take(&mut to),
                    subject: String::new(),
                    raw,
                };
                mail.subject = mail.header("subject").unwrap_or_default().to_owned();
                tracing::info!(to = ?mail.to, subject = %mail.subject, "smtp sink received a message");
                if let Ok(mut mails) = self.mails.lock() {
                    mails.push(mail);
                }
                self.arrived.notify_waiters();
                b"250 OK queued\r\n"
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 Bye\r\n").await?;
                return Ok(());
            } else {
                b"502 Command not implemented\r\n"
            };
            write.write_all(reply).await?;
        }
        Ok(())
    }
}

fn address(line: &str) -> String {
    line.split_once(':')
        .map(|(_, rest)| {
            rest.trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .unwrap_or_default()
}
