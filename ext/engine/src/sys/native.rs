//! Systems of no known kernel family: the portable versions only, with no
//! process table, no exit watch and no file watch.

pub use super::fallback::{
    cloexec_pipe, mark_cloexec_above_stdio, private_file, random_bytes, stream_socket,
};
use super::ProcessInfo;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;

pub fn probe(pid: i32) -> std::io::Result<Option<ProcessInfo>> {
    Ok(super::fallback::signal_zero(pid))
}

pub fn exit_watch(_pid: i32) -> Option<OwnedFd> {
    None
}

/// Uninhabited: [`FileWatch::new`] never gives one.
#[derive(Debug)]
pub enum FileWatch {}

impl FileWatch {
    pub fn new() -> Option<FileWatch> {
        None
    }

    pub fn watch(&mut self, _dir: &Path, _file: &Path) {
        match *self {}
    }

    pub fn drain(&self) {
        match *self {}
    }
}

impl AsFd for FileWatch {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match *self {}
    }
}
