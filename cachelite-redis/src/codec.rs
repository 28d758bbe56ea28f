//! Value encoding: the codec and the envelope that carries an entry's tags.
//!
//! An entry in Redis is `[0xC1, 1, codec, tag count (u16 LE), (len u16 LE,
//! tag bytes)*, value bytes]`. `0xC1` is never the first byte of
//! MessagePack or JSON, so a value written by another tool is recognised as
//! foreign rather than misread. The codec byte lets stores configured with
//! different codecs read each other's entries.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

const MAGIC: u8 = 0xC1;
const FORMAT: u8 = 1;

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
    tags: &[String],
) -> Result<Vec<u8>, Error> {
    let count = u16::try_from(tags.len())
        .map_err(|_| Error::Encode(format!("{} tags on one entry; at most 65535", tags.len())))?;
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&[MAGIC, FORMAT, codec.id()]);
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

/// Decodes an entry; `None` for anything malformed or of the wrong type.
pub(crate) fn decode<V: DeserializeOwned>(bytes: &[u8]) -> Option<(V, Vec<String>)> {
    let (&[magic, format, codec], rest) = bytes.split_first_chunk::<3>()?;
    if magic != MAGIC || format != FORMAT {
        return None;
    }
    let codec = Codec::from_id(codec)?;
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
    Some((value, tags))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_with_tags_in_both_codecs() {
        for codec in [Codec::MessagePack, Codec::Json] {
            let tags = vec!["a".to_string(), "ü:b".to_string()];
            let bytes = encode(codec, &("x", 7u32), &tags).unwrap();
            let (v, t): ((String, u32), _) = decode(&bytes).unwrap();
            assert_eq!(v, ("x".to_string(), 7));
            assert_eq!(t, tags);
        }
    }

    #[test]
    fn garbage_and_wrong_types_decode_to_none() {
        assert!(decode::<u32>(b"").is_none());
        assert!(decode::<u32>(b"hello").is_none());
        assert!(decode::<u32>(&[MAGIC, FORMAT, 0, 5, 0]).is_none());
        assert!(decode::<u32>(&[MAGIC, FORMAT, 9, 0, 0, 1]).is_none());
        let bytes = encode(Codec::Json, "text", &[]).unwrap();
        assert!(decode::<u32>(&bytes).is_none());
        let mut cut = encode(Codec::MessagePack, &vec![1u64; 10], &[]).unwrap();
        cut.truncate(cut.len() - 3);
        assert!(decode::<Vec<u64>>(&cut).is_none());
    }
}
