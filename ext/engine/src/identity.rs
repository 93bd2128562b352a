//! The identity record of a daemon: which process, started when, on which
//! boot. Kept in an extended attribute of its PID file, it tells a live
//! daemon from an unrelated process that later got its PID, whatever the
//! wall clock or the file's mtime did meanwhile.

use std::fs::File;

use xattr::FileExt;

use crate::sys;

/// The extended attribute that holds the record. In the `user` namespace:
/// only someone who may write the PID file can set it, it disappears with
/// the file, and a file replaced by a rename starts without one.
pub const ATTRIBUTE: &str = "user.daemon_controller.identity";

/// The form of the record; a record of another form is ignored.
const FORMAT: &str = "v1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub pid: i32,
    pub boot_id: String,
    /// The process's start token (see [`sys::ProcessInfo::start_token`]).
    pub start_token: u64,
}

impl Identity {
    /// The identity of the running process `pid`, where the system gives a
    /// boot id and a start token.
    pub fn of(pid: i32) -> Option<Identity> {
        let boot_id = sys::boot_id()?;
        let start_token = sys::probe(pid)?.start_token?;
        Some(Identity {
            pid,
            boot_id: boot_id.to_owned(),
            start_token,
        })
    }

    /// Whether the record speaks about `pid` in this boot.
    pub fn applies_to(&self, pid: i32) -> bool {
        self.pid == pid && sys::boot_id() == Some(self.boot_id.as_str())
    }

    fn encode(&self) -> String {
        format!(
            "{FORMAT} {} {} {}",
            self.pid, self.boot_id, self.start_token
        )
    }

    fn decode(bytes: &[u8]) -> Option<Identity> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut fields = text.split(' ');
        if fields.next()? != FORMAT {
            return None;
        }
        let identity = Identity {
            pid: fields.next()?.parse().ok()?,
            boot_id: fields.next()?.to_owned(),
            start_token: fields.next()?.parse().ok()?,
        };
        fields.next().is_none().then_some(identity)
    }

    /// The record on `file`, if it has a readable one. A filesystem without
    /// extended attributes has none.
    pub fn read_from(file: &File) -> Option<Identity> {
        let bytes = file.get_xattr(ATTRIBUTE).ok()??;
        Identity::decode(&bytes)
    }

    /// Records this identity on `file`. Fails where the filesystem has no
    /// user extended attributes or the file is not ours to change; the PID
    /// file then goes without a record.
    pub fn write_to(&self, file: &File) -> std::io::Result<()> {
        file.set_xattr(ATTRIBUTE, self.encode().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_and_reject_other_forms() {
        let identity = Identity {
            pid: 42,
            boot_id: "b0".to_owned(),
            start_token: 7,
        };
        assert_eq!(
            Identity::decode(identity.encode().as_bytes()),
            Some(identity)
        );
        for bad in [
            "",
            "v1 42 b0",
            "v1 42 b0 7 extra",
            "v2 42 b0 7",
            "v1 x b0 7",
        ] {
            assert_eq!(Identity::decode(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn our_own_identity_applies_to_us_alone() {
        let me = std::process::id() as i32;
        let identity = Identity::of(me).expect("Linux gives a boot id and start ticks");
        assert!(identity.applies_to(me));
        assert!(!identity.applies_to(me + 1));
        assert_eq!(Identity::of(me), Some(identity));
    }
}
