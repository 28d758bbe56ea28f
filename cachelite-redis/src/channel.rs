//! The invalidation messages a store announces to every two-tier cache of
//! its namespace.

use serde::{Deserialize, Serialize};

/// One write or invalidation, as every subscriber of the namespace sees it.
///
/// A store delivers these through its [`Feed`](crate::Feed); [`Message::encode`]
/// and [`Message::decode`] give a compact byte form for stores that carry
/// them as payloads (Redis pub/sub, `NOTIFY`, a table row).
///
/// ```
/// use cachelite_redis::{Message, Op};
/// let m = Message { origin: 7, op: Op::Keys(vec!["user:1".into()]) };
/// assert_eq!(Message::decode(&m.encode()), Some(m));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote: a subscriber skips its own messages (it already applied
    /// them to its local tier).
    pub origin: u64,
    /// What to drop.
    pub op: Op,
}

/// What to drop from every local tier.
///
/// ```
/// let op = cachelite_redis::Op::Glob("user:*".into());
/// assert_ne!(op, cachelite_redis::Op::Clear);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
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
    /// The message as MessagePack bytes.
    ///
    /// ```
    /// let m = cachelite_redis::Message { origin: 1, op: cachelite_redis::Op::Clear };
    /// assert!(!m.encode().is_empty());
    /// ```
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        // Plain data of strings and integers: encoding cannot fail.
        rmp_serde::to_vec(self).unwrap_or_default()
    }

    /// A message from [`Message::encode`]'s bytes; `None` for anything else.
    ///
    /// ```
    /// assert_eq!(cachelite_redis::Message::decode(b"\xff"), None);
    /// ```
    #[must_use]
    pub fn decode(bytes: &[u8]) -> Option<Self> {
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
