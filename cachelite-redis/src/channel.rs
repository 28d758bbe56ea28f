//! The invalidation messages published on a namespace's channel.

use serde::{Deserialize, Serialize};

/// One write or invalidation, as every subscriber of the namespace sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Message {
    /// Who wrote: a subscriber skips its own messages (it already applied
    /// them to its local tier).
    pub(crate) origin: u64,
    pub(crate) op: Op,
}

/// What to drop from every local tier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Op {
    /// These rendered keys.
    Keys(Vec<String>),
    /// Entries carrying any of these tags.
    Tags(Vec<String>),
    /// Entries whose rendered key matches this glob.
    Glob(String),
    /// Everything.
    Clear,
}

impl Message {
    pub(crate) fn encode(&self) -> Vec<u8> {
        // Plain data of strings and integers: encoding cannot fail.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    pub(crate) fn decode(bytes: &[u8]) -> Option<Self> {
        rmp_serde::from_slice(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for op in [
            Op::Keys(vec!["a".into(), "#1".into()]),
            Op::Tags(vec!["t".into()]),
            Op::Glob("u*".into()),
            Op::Clear,
        ] {
            let m = Message { origin: 7, op };
            assert_eq!(Message::decode(&m.encode()), Some(m));
        }
        assert_eq!(Message::decode(b"\xff garbage"), None);
    }
}
