//! HTTP readiness pings: a daemon that answers `GET <path>` with a success
//! or redirect status is up. A listening socket alone does not prove that
//! an application server has finished booting; an answered request does.
//!
//! Only the status line is read: the verdict needs nothing else, and
//! stopping there keeps the ping cheap whatever the body is.

use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, TcpStream};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::PollFlags;

use crate::ping::{self, PackedAddress};
use crate::wait;

/// How much of a response may arrive without a complete final status line
/// before it counts as garbage. Interim (1xx) responses and their headers
/// count towards it.
const MAX_RESPONSE_HEAD: usize = 8192;

/// Where an HTTP ping goes: the parts of an `http://` URL that the request
/// needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpTarget {
    /// The name or address to connect to, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The request target: the URL's path and query, `/` when it has none.
    pub path: String,
    /// The `Host` header: the host as written in the URL (brackets kept) and
    /// the port when it is not 80, as RFC 9110 asks, so that virtual hosts
    /// route the ping as they would a browser's request.
    pub host_header: String,
}

impl HttpTarget {
    /// Parses `http://host[:port][/path][?query]`. A fragment is dropped,
    /// since clients never send one. Credentials, other schemes (https
    /// included: there is no TLS here) and whitespace or control characters
    /// (which would corrupt the request) are rejected with a message naming
    /// the URL.
    pub fn parse(url: &str) -> Result<HttpTarget, String> {
        if url.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(format!(
                "URL contains whitespace or control characters: {url:?}"
            ));
        }
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            _ => return Err(format!("only http:// URLs can be pinged: {url}")),
        };
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(authority_end);
        if authority.contains('@') {
            return Err(format!("credentials in URLs are not supported: {url}"));
        }
        let (host, written_host, port) = split_authority(authority)
            .ok_or_else(|| format!("no valid host and port in URL: {url}"))?;
        let path = match target.chars().next() {
            None => "/".to_owned(),
            Some('?') => format!("/{target}"),
            Some(_) => target.to_owned(),
        };
        let host_header = if port == DEFAULT_PORT {
            written_host.to_owned()
        } else {
            format!("{written_host}:{port}")
        };
        Ok(HttpTarget {
            host: host.to_owned(),
            port,
            path,
            host_header,
        })
    }

    /// The request: a plain GET that asks the server to close the
    /// connection, so that nothing lingers after the status line is read.
    fn request(&self) -> String {
        format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nUser-Agent: daemon_controller\r\n\r\n",
            self.path, self.host_header
        )
    }
}

const DEFAULT_PORT: u16 = 80;

/// Splits `host[:port]` or `[v6]:port` into the host to resolve, the host
/// as written and the port (80 when absent or empty, as RFC 3986 allows).
fn split_authority(authority: &str) -> Option<(&str, &str, u16)> {
    let (host, written, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let (host, after) = bracketed.split_once(']')?;
        host.parse::<Ipv6Addr>().ok()?;
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (host, &authority[..host.len() + 2], port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let valid = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return None;
        }
        (host, host, port)
    };
    let port = match port {
        None | Some("") => DEFAULT_PORT,
        Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok().filter(|&port| port != 0)?
        }
        Some(_) => return None,
    };
    Some((host, written, port))
}

/// Whether the daemon at `target` answers a GET with a 2xx or 3xx status
/// within `timeout`. Refusal, resets, timeouts, other statuses and responses
/// that are not HTTP are `Ok(false)`: a daemon that is still booting shows
/// all of them. Errors are local trouble (no descriptors left, a host name
/// that does not resolve) that waiting will not cure.
///
/// The timeout bounds connecting, sending and reading; name resolution is
/// not bounded by it (getaddrinfo has no timeout), but IP literals and names
/// in /etc/hosts resolve without waiting on the network. EINTR is retried
/// until the deadline, never returned, so an interrupt is handled at the
/// latest when the timeout passes: give interruptible callers a short one.
pub fn is_up(target: &HttpTarget, timeout: Duration) -> io::Result<bool> {
    let deadline = Instant::now() + timeout;
    let address = PackedAddress::tcp(&target.host, target.port)?;
    match ask(&address, target.request().as_bytes(), deadline) {
        Err(e) if is_peer_failure(&e) => Ok(false),
        outcome => outcome,
    }
}

/// Connects, sends the request and reads until the status line decides.
fn ask(address: &PackedAddress, request: &[u8], deadline: Instant) -> io::Result<bool> {
    let Some(socket) = ping::connect_stream(address, deadline)? else {
        return Ok(false);
    };
    // The socket stays nonblocking: reads and writes report WouldBlock and
    // poll waits for the deadline. TcpStream writes with MSG_NOSIGNAL, so a
    // peer that hangs up is EPIPE rather than a SIGPIPE.
    let mut stream = TcpStream::from(socket);
    let mut sent = 0;
    while sent < request.len() {
        match stream.write(&request[sent..]) {
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait_until_ready(&stream, PollFlags::POLLOUT, deadline)? {
                    return Ok(false);
                }
            }
            Err(e) if crate::is_interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(false),
            Ok(n) => {
                head.extend_from_slice(&chunk[..n]);
                if let Some(up) = verdict(&head) {
                    return Ok(up);
                }
                if head.len() > MAX_RESPONSE_HEAD {
                    return Ok(false);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if !wait_until_ready(&stream, PollFlags::POLLIN, deadline)? {
                    return Ok(false);
                }
            }
            Err(e) if crate::is_interrupted(&e) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Waits for `events` on the stream until the deadline, retrying EINTR.
fn wait_until_ready(stream: &TcpStream, events: PollFlags, deadline: Instant) -> io::Result<bool> {
    loop {
        match wait::poll_for(&[stream.as_fd()], events, Some(deadline)) {
            Err(e) if crate::is_interrupted(&e) => {}
            outcome => return outcome,
        }
    }
}

/// Failures that come from the other end or the network on the way: the
/// daemon is not (yet) answering, which is a `false`, not an error.
fn is_peer_failure(error: &io::Error) -> bool {
    matches!(
        error.raw_os_error(),
        Some(
            libc::ECONNREFUSED
                | libc::ECONNRESET
                | libc::ECONNABORTED
                | libc::EPIPE
                | libc::ETIMEDOUT
                | libc::EHOSTUNREACH
                | libc::ENETUNREACH
        )
    )
}

/// Decides from the start of a response: `None` while more bytes are needed,
/// otherwise whether the final status is 2xx or 3xx. Interim responses
/// (1xx other than 101, e.g. 103 Early Hints) are skipped with their
/// headers, since the final status follows them.
fn verdict(mut head: &[u8]) -> Option<bool> {
    const PREFIX: &[u8] = b"HTTP/1.";
    loop {
        let known = head.len().min(PREFIX.len());
        if head[..known] != PREFIX[..known] {
            return Some(false);
        }
        let (line, rest) = split_line(head)?;
        let Some(status) = status_code(line) else {
            return Some(false);
        };
        if (100..200).contains(&status) && status != 101 {
            head = after_headers(rest)?;
            continue;
        }
        return Some((200..400).contains(&status));
    }
}

/// The status code of `HTTP/1.x NNN[ reason]`, if the line is one.
fn status_code(line: &[u8]) -> Option<u16> {
    let rest = line.strip_prefix(b"HTTP/1.")?;
    let [minor, b' ', d1, d2, d3, tail @ ..] = rest else {
        return None;
    };
    if !minor.is_ascii_digit() || !matches!(tail, [] | [b' ', ..]) {
        return None;
    }
    let digits = [*d1, *d2, *d3];
    if !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        digits
            .iter()
            .fold(0, |code, d| code * 10 + u16::from(d - b'0')),
    )
}

/// The first line (without its CRLF or bare LF) and what follows it, once
/// the line is complete.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let end = bytes.iter().position(|&b| b == b'\n')?;
    let line = &bytes[..end];
    Some((line.strip_suffix(b"\r").unwrap_or(line), &bytes[end + 1..]))
}

/// What follows the empty line that ends a header block, once it arrived.
fn after_headers(mut bytes: &[u8]) -> Option<&[u8]> {
    loop {
        let (line, rest) = split_line(bytes)?;
        if line.is_empty() {
            return Some(rest);
        }
        bytes = rest;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{SocketAddr, TcpListener};
    use std::thread::{self, JoinHandle};

    const TIMEOUT: Duration = Duration::from_secs(5);

    /// Reads one request head (up to the blank line) from a client.
    fn read_request(stream: &mut TcpStream) -> Vec<u8> {
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(0) | Err(_) => break,
                Ok(_) => request.push(byte[0]),
            }
        }
        request
    }

    /// Serves one connection on a fresh loopback port: reads the request,
    /// writes the response pieces with a pause between them, then keeps the
    /// connection open until the client closes it. Returns the target and
    /// the request the server saw.
    fn serve_pieces(
        listener: TcpListener,
        pieces: Vec<&'static [u8]>,
    ) -> (SocketAddr, JoinHandle<Vec<u8>>) {
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let request = read_request(&mut stream);
            for piece in pieces {
                if stream.write_all(piece).is_err() {
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
            let _ = stream.read_to_end(&mut Vec::new());
            request
        });
        (address, server)
    }

    fn serve(response: &'static [u8]) -> (HttpTarget, JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (address, server) = serve_pieces(listener, vec![response]);
        let url = format!("http://127.0.0.1:{}/", address.port());
        (HttpTarget::parse(&url).unwrap(), server)
    }

    fn answer(response: &'static [u8]) -> bool {
        let (target, server) = serve(response);
        let up = is_up(&target, TIMEOUT).unwrap();
        server.join().unwrap();
        up
    }

    #[test]
    fn success_and_redirects_are_up() {
        assert!(answer(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"));
        assert!(answer(
            b"HTTP/1.1 302 Found\r\nLocation: /login\r\nContent-Length: 0\r\n\r\n"
        ));
        assert!(answer(b"HTTP/1.0 204\r\n\r\n"));
    }

    #[test]
    fn client_and_server_errors_are_down() {
        assert!(!answer(b"HTTP/1.1 404 Not Found\r\n\r\n"));
        assert!(!answer(b"HTTP/1.1 500 Internal Server Error\r\n\r\n"));
        assert!(!answer(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"));
    }

    #[test]
    fn garbage_is_down() {
        assert!(!answer(b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(!answer(b"HTTP/1.1 2OO OK\r\n\r\n"));
        assert!(!answer(b"HTTP/1.1 200OK\r\n\r\n"));
    }

    #[test]
    fn a_status_line_split_across_reads_is_read_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (address, server) =
            serve_pieces(listener, vec![b"HTT", b"P/1.1 2", b"00 OK\r", b"\n\r\n"]);
        let target = HttpTarget::parse(&format!("http://127.0.0.1:{}", address.port())).unwrap();
        assert!(is_up(&target, TIMEOUT).unwrap());
        server.join().unwrap();
    }

    #[test]
    fn interim_responses_are_skipped() {
        assert!(answer(
            b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\n\r\n"
        ));
        assert!(!answer(
            b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 502 Bad Gateway\r\n\r\n"
        ));
    }

    #[test]
    fn a_silent_server_is_down_when_the_timeout_passes() {
        let (target, server) = serve(b"");
        let timeout = Duration::from_millis(200);
        let began = Instant::now();
        assert!(!is_up(&target, timeout).unwrap());
        let took = began.elapsed();
        assert!(took >= timeout, "gave up early: {took:?}");
        assert!(took < timeout + Duration::from_secs(2), "overran: {took:?}");
        server.join().unwrap();
    }

    #[test]
    fn hanging_up_before_a_status_line_is_down() {
        // Closing at once, with the request unread, resets the connection.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = thread::spawn(move || drop(listener.accept().unwrap()));
        let target = HttpTarget::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert!(!is_up(&target, TIMEOUT).unwrap());
        server.join().unwrap();
        // Reading the request and closing is an orderly end of file.
        let (target, server) = {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let server = thread::spawn(move || {
                let (mut stream, _) = listener.accept().unwrap();
                read_request(&mut stream);
            });
            let url = format!("http://127.0.0.1:{port}/");
            (HttpTarget::parse(&url).unwrap(), server)
        };
        assert!(!is_up(&target, TIMEOUT).unwrap());
        server.join().unwrap();
    }

    #[test]
    fn a_closed_port_is_down() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        // shutdown(2) stops listening even where a child forked by a
        // concurrent test still holds a copy of the socket.
        check_shutdown(&listener);
        let target = HttpTarget::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        assert!(!is_up(&target, TIMEOUT).unwrap());
    }

    fn check_shutdown(listener: &TcpListener) {
        use std::os::fd::AsRawFd;
        crate::check(unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) }).unwrap();
    }

    #[test]
    fn the_server_sees_the_request_line_and_host_header() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (_, server) = serve_pieces(listener, vec![b"HTTP/1.1 200 OK\r\n\r\n"]);
        let url = format!("http://127.0.0.1:{port}/health/check?full=1#top");
        assert!(is_up(&HttpTarget::parse(&url).unwrap(), TIMEOUT).unwrap());
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert_eq!(
            request,
            format!(
                "GET /health/check?full=1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
                 Connection: close\r\nUser-Agent: daemon_controller\r\n\r\n"
            )
        );
    }

    #[test]
    fn ipv6_literals_are_reached() {
        let Ok(listener) = TcpListener::bind("[::1]:0") else {
            eprintln!("skipped: no IPv6 loopback here");
            return;
        };
        let port = listener.local_addr().unwrap().port();
        let (_, server) = serve_pieces(listener, vec![b"HTTP/1.1 200 OK\r\n\r\n"]);
        let target = HttpTarget::parse(&format!("http://[::1]:{port}/")).unwrap();
        assert!(is_up(&target, TIMEOUT).unwrap());
        let request = String::from_utf8(server.join().unwrap()).unwrap();
        assert!(request.contains(&format!("\r\nHost: [::1]:{port}\r\n")));
    }

    #[test]
    fn unresolvable_hosts_are_errors() {
        let target = HttpTarget::parse("http://no-such-host.invalid/").unwrap();
        assert!(is_up(&target, TIMEOUT).is_err());
    }

    fn target(host: &str, port: u16, path: &str, host_header: &str) -> HttpTarget {
        HttpTarget {
            host: host.to_owned(),
            port,
            path: path.to_owned(),
            host_header: host_header.to_owned(),
        }
    }

    #[test]
    fn urls_parse_into_targets() {
        let cases = [
            (
                "http://localhost",
                target("localhost", 80, "/", "localhost"),
            ),
            (
                "HTTP://localhost/",
                target("localhost", 80, "/", "localhost"),
            ),
            (
                "http://example.com:8080/up",
                target("example.com", 8080, "/up", "example.com:8080"),
            ),
            (
                "http://127.0.0.1:3000/a/b?c=d&e",
                target("127.0.0.1", 3000, "/a/b?c=d&e", "127.0.0.1:3000"),
            ),
            ("http://host?x=1", target("host", 80, "/?x=1", "host")),
            ("http://host:80/", target("host", 80, "/", "host")),
            ("http://host:/p", target("host", 80, "/p", "host")),
            ("http://host/p#frag", target("host", 80, "/p", "host")),
            ("http://[::1]:8080/", target("::1", 8080, "/", "[::1]:8080")),
            ("http://[::1]", target("::1", 80, "/", "[::1]")),
        ];
        for (url, expected) in cases {
            assert_eq!(HttpTarget::parse(url), Ok(expected), "{url}");
        }
    }

    #[test]
    fn unusable_urls_are_rejected_with_a_reason() {
        assert_eq!(
            HttpTarget::parse("https://x"),
            Err("only http:// URLs can be pinged: https://x".to_owned())
        );
        for url in ["ftp://x/", "localhost:80", "/path", "", "http:/x"] {
            let error = HttpTarget::parse(url).unwrap_err();
            assert!(error.starts_with("only http:// URLs"), "{url}: {error}");
        }
        for url in [
            "http://",
            "http:///path",
            "http://host:99999/",
            "http://host:0/",
            "http://host:http/",
            "http://[::1/",
            "http://[not-v6]:80/",
            "http://[::1]x/",
            "http://ho$t/",
        ] {
            let error = HttpTarget::parse(url).unwrap_err();
            assert!(
                error.starts_with("no valid host and port"),
                "{url}: {error}"
            );
        }
        assert!(HttpTarget::parse("http://user:pw@host/")
            .unwrap_err()
            .starts_with("credentials"));
        assert!(HttpTarget::parse("http://host/a b")
            .unwrap_err()
            .contains("whitespace"));
    }

    #[test]
    fn verdicts_wait_for_a_whole_status_line() {
        assert_eq!(verdict(b""), None);
        assert_eq!(verdict(b"HTTP/1.1 200"), None);
        assert_eq!(verdict(b"HTTP/1.1 200 OK\n"), Some(true));
        assert_eq!(verdict(b"HTTP/1.1 399\r\n"), Some(true));
        assert_eq!(verdict(b"HTTP/1.1 400\r\n"), Some(false));
        assert_eq!(
            verdict(b"HTTP/1.1 101 Switching Protocols\r\n"),
            Some(false)
        );
        assert_eq!(verdict(b"HTTP/1.1 100 Continue\r\n"), None);
        assert_eq!(verdict(b"HTTP/2 200\r\n"), Some(false));
        assert_eq!(verdict(b"<html>"), Some(false));
    }
}
