//! What tests leave behind is cleaned up when they end, even when they fail
//! (a panic unwinds through the drops): scratch directories, removed with
//! everything in them, and `sleep` children, killed and reaped. Shared by
//! the unit tests and, through `#[path]`, the flow tests.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug)]
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// `<temp dir>/dc-<label>-<pid>-<count>`, created empty.
    pub fn new(label: &str) -> ScratchDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "dc-{label}-{}-{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir(&path).expect("a new scratch directory");
        ScratchDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A real process of the test's own, for checks that need one running.
#[derive(Debug)]
pub struct Sleeper(pub Child);

impl Sleeper {
    pub fn spawn() -> Sleeper {
        Sleeper(Command::new("sleep").arg("30").spawn().unwrap())
    }

    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scratch_directory_goes_even_when_its_test_fails() {
        let mut kept = None;
        let failed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let dir = ScratchDir::new("scratch");
            std::fs::write(dir.join("file"), "content").unwrap();
            std::fs::create_dir(dir.join("subdir")).unwrap();
            kept = Some(dir.path().to_owned());
            panic!("a failing test");
        }));
        assert!(failed.is_err());
        assert!(!kept.unwrap().exists());
    }
}
