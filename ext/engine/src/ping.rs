//! Socket pings: a stream connect that completes within a short time means
//! the daemon is up; refusal or a missing socket file means it is down.

use std::io;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::{Duration, Instant};

use nix::libc;
use nix::poll::PollFlags;

use crate::{check, wait};

/// How long a connect may take before the daemon counts as down.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(100);
/// Pause between connect attempts to a Unix listener whose backlog is full.
const UNIX_RETRY_DELAY: Duration = Duration::from_millis(1);

/// A socket address in the kernel's binary form, as Ruby's
/// `Socket.pack_sockaddr_in` and `pack_sockaddr_un` produce it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PackedAddress {
    pub domain: libc::c_int,
    pub bytes: Vec<u8>,
}

impl PackedAddress {
    /// The first address `host:port` resolves to, as getaddrinfo orders them.
    pub fn tcp(host: &str, port: u16) -> io::Result<PackedAddress> {
        let address = (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{host}: no address"))
        })?;
        Ok(PackedAddress::from(address))
    }

    pub fn unix(path: &[u8]) -> io::Result<PackedAddress> {
        let mut address: libc::sockaddr_un = unsafe { mem::zeroed() };
        if path.len() >= address.sun_path.len() || path.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "unusable socket path",
            ));
        }
        address.sun_family = libc::AF_UNIX as libc::sa_family_t;
        for (slot, &byte) in address.sun_path.iter_mut().zip(path) {
            *slot = byte as libc::c_char;
        }
        let len = mem::offset_of!(libc::sockaddr_un, sun_path) + path.len() + 1;
        Ok(PackedAddress {
            domain: libc::AF_UNIX,
            bytes: as_bytes(&address)[..len].to_vec(),
        })
    }
}

impl From<SocketAddr> for PackedAddress {
    fn from(address: SocketAddr) -> PackedAddress {
        match address {
            SocketAddr::V4(v4) => {
                let mut raw: libc::sockaddr_in = unsafe { mem::zeroed() };
                raw.sin_family = libc::AF_INET as libc::sa_family_t;
                raw.sin_port = v4.port().to_be();
                raw.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
                PackedAddress {
                    domain: libc::AF_INET,
                    bytes: as_bytes(&raw).to_vec(),
                }
            }
            SocketAddr::V6(v6) => {
                let mut raw: libc::sockaddr_in6 = unsafe { mem::zeroed() };
                raw.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                raw.sin6_port = v6.port().to_be();
                raw.sin6_addr.s6_addr = v6.ip().octets();
                raw.sin6_flowinfo = v6.flowinfo();
                raw.sin6_scope_id = v6.scope_id();
                PackedAddress {
                    domain: libc::AF_INET6,
                    bytes: as_bytes(&raw).to_vec(),
                }
            }
        }
    }
}

fn as_bytes<T>(value: &T) -> &[u8] {
    unsafe { std::slice::from_raw_parts((value as *const T).cast(), mem::size_of::<T>()) }
}

/// Whether a stream connect to `address` completes within `timeout`.
/// Refusal, a missing socket file and a timeout are `Ok(false)`; other
/// errors are errors. EINTR while waiting is retried until the timeout, which
/// is short.
pub fn connects(address: &PackedAddress, timeout: Duration) -> io::Result<bool> {
    connect_stream(address, Instant::now() + timeout).map(|socket| socket.is_some())
}

/// Connects a nonblocking, close-on-exec stream socket to `address` before
/// `deadline`, for callers that go on to talk over it. Refusal, a missing
/// socket file and the deadline passing are `Ok(None)`; other errors are
/// errors. EINTR while waiting is retried until the deadline.
pub(crate) fn connect_stream(
    address: &PackedAddress,
    deadline: Instant,
) -> io::Result<Option<OwnedFd>> {
    let socket = crate::sys::stream_socket(address.domain)?;
    let fd = socket.as_raw_fd();
    let outcome = loop {
        let connected = check(unsafe {
            libc::connect(
                fd,
                address.bytes.as_ptr().cast(),
                address.bytes.len() as libc::socklen_t,
            )
        });
        match connected {
            Ok(_) => break Ok(()),
            // A Unix listener whose backlog is full: retry until the deadline.
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {
                let now = Instant::now();
                if now >= deadline {
                    return Ok(None);
                }
                match wait::sleep_until(deadline.min(now + UNIX_RETRY_DELAY)) {
                    Err(e) if !crate::is_interrupted(&e) => return Err(e),
                    _ => continue,
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let completed = loop {
                    match poll_writable(&socket, deadline) {
                        Ok(false) => return Ok(None),
                        Ok(true) => break socket_error(&socket),
                        Err(e) if crate::is_interrupted(&e) => continue,
                        Err(e) => return Err(e),
                    }
                };
                break completed;
            }
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Ok(()) => Ok(Some(socket)),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ECONNREFUSED | libc::ENOENT)) => Ok(None),
        Err(e) => Err(e),
    }
}

fn poll_writable(socket: &OwnedFd, deadline: Instant) -> io::Result<bool> {
    wait::poll_for(&[socket.as_fd()], PollFlags::POLLOUT, Some(deadline))
}

fn socket_error(socket: &OwnedFd) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut error: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    check(unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            (&mut error as *mut libc::c_int).cast(),
            &mut len,
        )
    })?;
    match error {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;

    /// Stops a listener for every holder of its socket: a child forked by a
    /// concurrent test may still hold a copy until it execs, so dropping ours
    /// alone would leave the socket listening.
    fn stop_listening(listener: &impl AsRawFd) {
        check(unsafe { libc::shutdown(listener.as_raw_fd(), libc::SHUT_RDWR) }).unwrap();
    }

    #[test]
    fn tcp_pings_follow_the_listener() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let address = PackedAddress::tcp("127.0.0.1", port).unwrap();
        assert!(connects(&address, CONNECT_TIMEOUT).unwrap());
        stop_listening(&listener);
        assert!(!connects(&address, CONNECT_TIMEOUT).unwrap());
    }

    #[test]
    fn unix_pings_follow_the_socket_file() {
        let path = std::env::temp_dir().join(format!("dc-ping-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&path);
        let address = PackedAddress::unix(path.as_os_str().as_encoded_bytes()).unwrap();
        assert!(
            !connects(&address, CONNECT_TIMEOUT).unwrap(),
            "missing file is down"
        );
        let listener = UnixListener::bind(&path).unwrap();
        assert!(connects(&address, CONNECT_TIMEOUT).unwrap());
        stop_listening(&listener);
        assert!(
            !connects(&address, CONNECT_TIMEOUT).unwrap(),
            "refused is down"
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn packed_addresses_match_the_kernel_layout() {
        let address = PackedAddress::tcp("127.0.0.1", 8278).unwrap();
        assert_eq!(address.domain, libc::AF_INET);
        assert_eq!(&address.bytes[2..8], &[0x20, 0x56, 127, 0, 0, 1]);
    }
}
