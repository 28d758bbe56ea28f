//! Value encoding: the codec and the envelope that carries an entry's
//! expiry and tags.
//!
//! An entry in Redis is `[0xC1, 2, codec, expires_at (u64 LE), ttl (u64
//! LE), tag count (u16 LE), (len u16 LE, tag bytes)*, value bytes]`.
//! `expires_at` is the entry's end in milliseconds since the Unix epoch on
//! the Redis server's clock (as each process estimates it from `TIME`), and
//! `ttl` the TTL it was written with, in milliseconds; both are 0 for an
//! entry that never expires. A read is then one `GET`: the local copy's
//! lifetime comes from the envelope, never longer than `ttl`, so a reader
//! whose estimate of the server's clock is off keeps a copy at most its
//! full TTL. `0xC1` is never the first byte of MessagePack or JSON, so a
//! value written by another tool is recognised as foreign rather than
//! misread. The codec byte lets stores configured with different codecs
//! read each other's entries.
//!
//! Format 1 (no expiry in the envelope; its reader asked Redis with
//! `PTTL`) is recognised and read as a miss: the next write replaces it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

pub(crate) const MAGIC: u8 = 0xC1;
const FORMAT: u8 = 2;
/// The envelope without an expiry, written by earlier versions.
const FORMAT_V1: u8 = 1;

/// How values are serialized in Redis.
///
/// ```
/// use cachelite_redis::{Codec, RedisStore};
/// let store = RedisStore::builder("redis://127.0.0.1/").codec(Codec::Json).build()?;
/// assert_eq!(store.codec(), Codec::Json);
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// MessagePack via `rmp-serde` (struct fields by name): compact and fast.
    #[default]
    MessagePack,
    /// JSON via `serde_json`: readable with `redis-cli`.
    Json,
}

impl Codec {
    fn id(self) -> u8 {
        match self {
            Codec::MessagePack => 0,
            Codec::Json => 1,
        }
    }

    fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Codec::MessagePack),
            1 => Some(Codec::Json),
            _ => None,
        }
    }
}

/// Encodes `value` with its tags.
pub(crate) fn encode<V: Serialize + ?Sized>(
    codec: Codec,
    value: &V,
    expiry: Option<Expiry>,
    tags: &[String],
) -> Result<Vec<u8>, Error> {
    let count = u16::try_from(tags.len())
        .map_err(|_| Error::Encode(format!("{} tags on one entry; at most 65535", tags.len())))?;
    // Room for the header and a small value: most entries need no regrowth.
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[MAGIC, FORMAT, codec.id()]);
    let (at, ttl) = expiry.map_or((0, 0), |e| (e.at_ms, e.ttl_ms));
    out.extend_from_slice(&at.to_le_bytes());
    out.extend_from_slice(&ttl.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    for t in tags {
        let len = u16::try_from(t.len())
            .map_err(|_| Error::Encode(format!("a tag of {} bytes; at most 65535", t.len())))?;
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(t.as_bytes());
    }
    match codec {
        Codec::MessagePack => rmp_serde::encode::write_named(&mut out, value)
            .map_err(|e| Error::Encode(e.to_string()))?,
        Codec::Json => {
            serde_json::to_writer(&mut out, value).map_err(|e| Error::Encode(e.to_string()))?;
        }
    }
    Ok(out)
}

/// When an entry ends, as its envelope says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Expiry {
    /// Milliseconds since the Unix epoch, on the server's clock.
    pub(crate) at_ms: u64,
    /// The TTL it was written with, in milliseconds (at least 1).
    pub(crate) ttl_ms: u64,
}

/// A decoded entry.
#[derive(Debug)]
pub(crate) struct Entry<V> {
    pub(crate) value: V,
    pub(crate) tags: Vec<String>,
    /// `None`: never expires.
    pub(crate) expiry: Option<Expiry>,
}

/// What a value read from Redis turned out to be.
#[derive(Debug)]
pub(crate) enum Decoded<V> {
    Entry(Entry<V>),
    /// An entry in an earlier envelope: a miss, not an error.
    Outdated,
    /// Anything malformed, foreign or of the wrong type.
    Corrupt,
}

/// Decodes an entry.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Decoded<V> {
    match bytes {
        [MAGIC, FORMAT_V1, ..] => Decoded::Outdated,
        _ => decode_current(bytes).map_or(Decoded::Corrupt, Decoded::Entry),
    }
}

fn decode_current<V: DeserializeOwned>(bytes: &[u8]) -> Option<Entry<V>> {
    let (&[magic, format, codec], rest) = bytes.split_first_chunk::<3>()?;
    if magic != MAGIC || format != FORMAT {
        return None;
    }
    let codec = Codec::from_id(codec)?;
    let (at, rest) = rest.split_first_chunk::<8>()?;
    let (ttl, rest) = rest.split_first_chunk::<8>()?;
    let expiry = match (u64::from_le_bytes(*at), u64::from_le_bytes(*ttl)) {
        (0, 0) => None,
        (at_ms, ttl_ms) if at_ms > 0 && ttl_ms > 0 => Some(Expiry { at_ms, ttl_ms }),
        _ => return None,
    };
    let (count, mut rest) = rest.split_first_chunk::<2>()?;
    let count = u16::from_le_bytes(*count);
    let mut tags = Vec::with_capacity(usize::from(count).min(16));
    for _ in 0..count {
        let (len, tail) = rest.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_le_bytes(*len));
        if tail.len() < len {
            return None;
        }
        let (tag, tail) = tail.split_at(len);
        tags.push(std::str::from_utf8(tag).ok()?.to_owned());
        rest = tail;
    }
    let value = match codec {
        Codec::MessagePack => rmp_serde::from_slice(rest).ok()?,
        Codec::Json => serde_json::from_slice(rest).ok()?,
    };
    Some(Entry {
        value,
        tags,
        expiry,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry<V: DeserializeOwned>(bytes: &[u8]) -> Option<Entry<V>> {
        match decode(bytes) {
            Decoded::Entry(e) => Some(e),
            _ => None,
        }
    }

    #[test]
    fn round_trips_with_tags_and_expiry_in_both_codecs() {
        let expiry = Some(Expiry {
            at_ms: 1_800_000_000_123,
            ttl_ms: 1500,
        });
        for codec in [Codec::MessagePack, Codec::Json] {
            for expiry in [expiry, None] {
                let tags = vec!["a".to_string(), "ü:b".to_string()];
                let bytes = encode(codec, &("x", 7u32), expiry, &tags).unwrap();
                let e: Entry<(String, u32)> = entry(&bytes).unwrap();
                assert_eq!(e.value, ("x".to_string(), 7));
                assert_eq!(e.tags, tags);
                assert_eq!(e.expiry, expiry);
            }
        }
    }

    #[test]
    fn garbage_and_wrong_types_are_corrupt() {
        let corrupt = |b: &[u8]| matches!(decode::<u32>(b), Decoded::Corrupt);
        assert!(corrupt(b""));
        assert!(corrupt(b"hello"));
        assert!(corrupt(&[MAGIC, FORMAT, 0, 5, 0]));
        assert!(corrupt(&[MAGIC, FORMAT, 9, 0, 0, 1]));
        assert!(corrupt(&[MAGIC, 3, 0]));
        let bytes = encode(Codec::Json, "text", None, &[]).unwrap();
        assert!(corrupt(&bytes));
        let mut cut = encode(Codec::MessagePack, &vec![1u64; 10], None, &[]).unwrap();
        cut.truncate(cut.len() - 3);
        assert!(matches!(decode::<Vec<u64>>(&cut), Decoded::Corrupt));
        // Half an expiry is no expiry at all.
        let mut half = encode(Codec::MessagePack, &1u32, None, &[]).unwrap();
        half[3] = 1;
        assert!(corrupt(&half));
        // Every prefix of a good entry is corrupt, never a panic.
        let good = encode(
            Codec::MessagePack,
            &7u32,
            Some(Expiry {
                at_ms: 9,
                ttl_ms: 9,
            }),
            &["t".into()],
        )
        .unwrap();
        for n in 0..good.len() {
            assert!(corrupt(&good[..n]), "{n}");
        }
    }

    #[test]
    fn the_first_envelope_is_outdated_not_corrupt() {
        // Format 1: magic, format, codec, tag count, tags, value.
        let mut v1 = vec![MAGIC, FORMAT_V1, 0, 0, 0];
        v1.extend(rmp_serde::to_vec(&5u32).unwrap());
        assert!(matches!(decode::<u32>(&v1), Decoded::Outdated));
        assert!(matches!(
            decode::<u32>(&[MAGIC, FORMAT_V1]),
            Decoded::Outdated
        ));
    }
}
