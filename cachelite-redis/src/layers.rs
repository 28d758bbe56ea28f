//! Compression and encryption: layers on an entry's envelope, as pure
//! functions over bytes and the key they are stored under, so that any
//! store can use them.
//!
//! Written in a fixed order, compress then encrypt; read in reverse. Each
//! layer is a frame that begins with the envelope's magic byte and a format
//! byte of its own, so a reader learns from the bytes which layers a value
//! has, whatever it is configured to write:
//!
//! - compressed: `[0xC1, 0x20, algorithm, size (u32 LE), compressed]`, the
//!   algorithm 1 (an lz4 block) or 2 (a zstd frame), `size` the length of
//!   the envelope inside;
//! - encrypted: `[0xC1, 0x30, key id (u16 LE), nonce (24 bytes),
//!   ciphertext, tag (16 bytes)]`: XChaCha20-Poly1305 over a compressed
//!   frame or an envelope, with the frame's first four bytes and the
//!   storage key (the full Redis key) as associated data, so a value copied
//!   to another key, or relabelled with another key id, does not decrypt.
//!
//! A value is compressed only from a size threshold on, and only if that
//! makes it smaller. A decompressed frame holds an envelope and nothing
//! else: the layers cannot nest. A store with a keyring reads only values
//! encrypted with one of its keys; a store without one reads only values
//! that are not encrypted.

use std::borrow::Cow;
use std::fmt;
#[cfg(feature = "zstd")]
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use chacha20poly1305::aead::AeadInPlace as _;
use chacha20poly1305::{Key, KeyInit as _, Tag, XChaCha20Poly1305, XNonce};
#[cfg(test)]
use serde::Serialize;
#[cfg(test)]
use serde::de::DeserializeOwned;

use crate::Error;
use crate::codec::MAGIC;
#[cfg(test)]
use crate::codec::{self, Codec, Decoded, Expiry};

const COMPRESSED: u8 = 0x20;
const ENCRYPTED: u8 = 0x30;
const LZ4: u8 = 1;
const ZSTD: u8 = 2;
/// Magic, format, algorithm, size.
const COMPRESSED_HEADER: usize = 7;
/// Magic, format, key id.
const ENCRYPTED_HEADER: usize = 4;
const NONCE: usize = 24;
const TAG: usize = 16;
/// Redis's largest string: nothing larger was ever stored, so a frame
/// that claims more is corrupt (and is not allocated).
const MAX_PLAIN: usize = 512 << 20;
/// An lz4 block never expands more than this: each byte of a match length
/// adds at most 255 bytes.
const LZ4_MAX_RATIO: usize = 255;

/// Compression of the values a store writes. Readers need no setting:
/// a compressed value says how it was compressed, so any store reads it
/// (a zstd value needs the `zstd` feature).
///
/// A value is compressed when its encoded entry is at least `min_bytes`
/// long, and stored as it is when compression would not make it smaller.
///
/// ```
/// use cachelite_redis::{Compression, RedisStore};
/// let store = RedisStore::builder("redis://127.0.0.1/")
///     .compression(Compression::Lz4 { min_bytes: 1024 })
///     .build()?;
/// assert_eq!(store.compression(), Compression::lz4());
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// Values are stored as they are encoded (the default).
    #[default]
    None,
    /// lz4 (a block, through `lz4_flex`): fast, about 2 to 4 times smaller
    /// for text.
    Lz4 {
        /// Entries shorter than this (in bytes) are not compressed.
        min_bytes: usize,
    },
    /// zstd (through the C library): smaller than lz4 at a higher cost.
    /// Needs the `zstd` feature (`redis-zstd` on the `cachelite` crate).
    Zstd {
        /// Entries shorter than this (in bytes) are not compressed.
        min_bytes: usize,
        /// zstd's level, 1 (fastest) to 22 (smallest); 3 is zstd's default.
        level: i32,
    },
}

impl Compression {
    /// The threshold of [`Compression::lz4`] and [`Compression::zstd`]:
    /// below 1 KiB, compression saves little and costs a copy.
    pub const DEFAULT_MIN_BYTES: usize = 1024;

    /// lz4 from [`Compression::DEFAULT_MIN_BYTES`] on.
    ///
    /// ```
    /// use cachelite_redis::Compression;
    /// assert_eq!(Compression::lz4(), Compression::Lz4 { min_bytes: 1024 });
    /// ```
    #[must_use]
    pub const fn lz4() -> Self {
        Compression::Lz4 {
            min_bytes: Self::DEFAULT_MIN_BYTES,
        }
    }

    /// zstd at level 3 from [`Compression::DEFAULT_MIN_BYTES`] on (needs
    /// the `zstd` feature to be used by a store).
    ///
    /// ```
    /// use cachelite_redis::Compression;
    /// assert_eq!(Compression::zstd(), Compression::Zstd { min_bytes: 1024, level: 3 });
    /// ```
    #[must_use]
    pub const fn zstd() -> Self {
        Compression::Zstd {
            min_bytes: Self::DEFAULT_MIN_BYTES,
            level: 3,
        }
    }

    fn check(self) -> Result<(), Error> {
        if let Compression::Zstd { level, .. } = self {
            if !cfg!(feature = "zstd") {
                return Err(Error::Config(
                    "zstd compression needs the `zstd` feature of cachelite-redis \
                     (`redis-zstd` on the cachelite crate); lz4 needs none"
                        .into(),
                ));
            }
            if !(1..=22).contains(&level) {
                return Err(Error::Config(format!(
                    "zstd level {level}: choose 1 (fastest) to 22 (smallest)"
                )));
            }
        }
        Ok(())
    }
}

/// The keys a store encrypts with: one current key, which encrypts every
/// write, and older ones that still decrypt what was written with them.
/// Each key has an id, written in the clear beside each value, so a
/// reader knows which key to try.
///
/// Values are encrypted with XChaCha20-Poly1305 (a random 24-byte nonce per
/// write) with the full Redis key as associated data. A value that does not
/// decrypt (a key the store lacks, a value copied to another key, altered
/// or cut bytes) is a miss, counted as an error and deleted.
///
/// Rotation: give every process the new key as an old one
/// ([`Keyring::with_old`]), then make it current everywhere; drop the old
/// key once values written with it have expired. A process that meets an
/// id it does not hold deletes the value, so the order matters.
///
/// `Debug` shows the key ids only, never a key; the keys are held only
/// inside the ciphers, which wipe them when dropped.
///
/// ```
/// use cachelite_redis::{Keyring, RedisStore};
/// let new = Keyring::parse_key("7f".repeat(32).as_str())?;
/// let old = [9u8; 32];
/// let keys = Keyring::new(2, new).with_old(1, old);
/// assert_eq!(format!("{keys:?}"), "Keyring { current: 2, ids: [2, 1] }");
/// let store = RedisStore::builder("redis://127.0.0.1/").encryption(keys).build()?;
/// assert_eq!(store.keyring().map(|k| k.current_id()), Some(2));
/// # Ok::<(), cachelite_redis::Error>(())
/// ```
#[derive(Clone)]
pub struct Keyring {
    current: u16,
    /// The current key first.
    keys: Vec<(u16, XChaCha20Poly1305)>,
    /// An id given twice: refused when the store is built.
    duplicate: Option<u16>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("ids", &self.ids())
            .finish()
    }
}

impl Keyring {
    /// A keyring whose current key is `key` (32 bytes), with id `id`.
    ///
    /// ```
    /// let keys = cachelite_redis::Keyring::new(1, [7u8; 32]);
    /// assert_eq!(keys.current_id(), 1);
    /// ```
    #[must_use]
    pub fn new(id: u16, key: [u8; 32]) -> Self {
        Keyring {
            current: id,
            keys: vec![(id, cipher(&key))],
            duplicate: None,
        }
    }

    /// Adds a key that only decrypts. An id given twice is an
    /// [`Error::Config`] when the store is built.
    ///
    /// ```
    /// let keys = cachelite_redis::Keyring::new(2, [2u8; 32]).with_old(1, [1u8; 32]);
    /// assert_eq!(keys.ids(), vec![2, 1]);
    /// ```
    #[must_use]
    pub fn with_old(mut self, id: u16, key: [u8; 32]) -> Self {
        if self.keys.iter().any(|(k, _)| *k == id) {
            self.duplicate.get_or_insert(id);
        } else {
            self.keys.push((id, cipher(&key)));
        }
        self
    }

    /// The id of the key new values are encrypted with.
    ///
    /// ```
    /// assert_eq!(cachelite_redis::Keyring::new(5, [0; 32]).current_id(), 5);
    /// ```
    #[must_use]
    pub fn current_id(&self) -> u16 {
        self.current
    }

    /// Every key id, the current one first.
    ///
    /// ```
    /// let keys = cachelite_redis::Keyring::new(1, [1; 32]).with_old(0, [0; 32]);
    /// assert_eq!(keys.ids(), vec![1, 0]);
    /// ```
    #[must_use]
    pub fn ids(&self) -> Vec<u16> {
        self.keys.iter().map(|(id, _)| *id).collect()
    }

    /// Reads a key written as 64 hex digits or as base64 (standard or
    /// URL-safe, padded or not) of 32 bytes; surrounding whitespace is
    /// ignored.
    ///
    /// # Errors
    /// [`Error::Config`] when the text is neither; the message never
    /// contains the text.
    ///
    /// ```
    /// use cachelite_redis::Keyring;
    /// let hex = Keyring::parse_key(&"00".repeat(32))?;
    /// let b64 = Keyring::parse_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")?;
    /// assert_eq!(hex, b64);
    /// assert!(Keyring::parse_key("hunter2").is_err());
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn parse_key(text: &str) -> Result<[u8; 32], Error> {
        let t = text.trim();
        if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut key = [0u8; 32];
            for (i, pair) in t.as_bytes().chunks_exact(2).enumerate() {
                key[i] = (hex_digit(pair[0]) << 4) | hex_digit(pair[1]);
            }
            return Ok(key);
        }
        use base64::engine::general_purpose::{
            STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD,
        };
        for engine in [&STANDARD, &STANDARD_NO_PAD, &URL_SAFE, &URL_SAFE_NO_PAD] {
            if let Ok(bytes) = engine.decode(t)
                && let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice())
            {
                return Ok(key);
            }
        }
        Err(Error::Config(
            "an encryption key is 32 bytes, written as 64 hex digits or in base64".into(),
        ))
    }

    /// Reads a key from the environment variable `name` (hex or base64, as
    /// [`Keyring::parse_key`]).
    ///
    /// # Errors
    /// [`Error::Config`] when the variable is unset or not a key; the
    /// message names the variable, never its value.
    ///
    /// ```no_run
    /// use cachelite_redis::Keyring;
    /// let keys = Keyring::new(1, Keyring::key_from_env("CACHE_KEY")?);
    /// # let _ = keys;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn key_from_env(name: &str) -> Result<[u8; 32], Error> {
        let value = std::env::var(name)
            .map_err(|_| Error::Config(format!("the environment variable {name} is not set")))?;
        Self::parse_key(&value)
            .map_err(|e| Error::Config(format!("the environment variable {name}: {}", msg(&e))))
    }

    /// Reads a key from a file: exactly 32 raw bytes, or hex or base64 as
    /// [`Keyring::parse_key`].
    ///
    /// # Errors
    /// [`Error::Config`] when the file cannot be read or holds no key; the
    /// message names the file, never its contents.
    ///
    /// ```no_run
    /// use cachelite_redis::Keyring;
    /// let keys = Keyring::new(2, Keyring::key_from_file("/run/secrets/cache-key")?);
    /// # let _ = keys;
    /// # Ok::<(), cachelite_redis::Error>(())
    /// ```
    pub fn key_from_file(path: impl AsRef<Path>) -> Result<[u8; 32], Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            Error::Config(format!("cannot read the key file {}: {e}", path.display()))
        })?;
        if let Ok(key) = <[u8; 32]>::try_from(bytes.as_slice()) {
            return Ok(key);
        }
        std::str::from_utf8(&bytes)
            .map_err(|_| Error::Config(String::new()))
            .and_then(Self::parse_key)
            .map_err(|_| {
                Error::Config(format!(
                    "the key file {} holds neither 32 raw bytes nor 64 hex digits nor base64 of 32 bytes",
                    path.display()
                ))
            })
    }

    fn get(&self, id: u16) -> Option<&XChaCha20Poly1305> {
        self.keys.iter().find(|(k, _)| *k == id).map(|(_, c)| c)
    }
}

fn msg(e: &Error) -> String {
    match e {
        Error::Config(m) => m.clone(),
        other => other.to_string(),
    }
}

fn hex_digit(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    XChaCha20Poly1305::new(Key::from_slice(key))
}

/// What a store does to an envelope between encoding it and storing it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layers {
    compression: Compression,
    keyring: Option<Arc<Keyring>>,
}

impl Layers {
    /// Checks the settings: a zstd level in range (and the feature), no key
    /// id given twice.
    pub(crate) fn new(compression: Compression, keyring: Option<Keyring>) -> Result<Self, Error> {
        compression.check()?;
        if let Some(id) = keyring.as_ref().and_then(|k| k.duplicate) {
            return Err(Error::Config(format!("key id {id} is given twice")));
        }
        Ok(Layers {
            compression,
            keyring: keyring.map(Arc::new),
        })
    }

    pub(crate) fn compression(&self) -> Compression {
        self.compression
    }

    pub(crate) fn keyring(&self) -> Option<&Keyring> {
        self.keyring.as_deref()
    }

    /// Encodes an entry and seals it for storage under `aad`.
    #[cfg(test)]
    pub(crate) fn encode<V: Serialize + ?Sized>(
        &self,
        codec: Codec,
        value: &V,
        expiry: Option<Expiry>,
        tags: &[String],
        aad: &[u8],
    ) -> Result<Vec<u8>, Error> {
        self.seal(codec::encode(codec, value, expiry, tags)?, aad)
    }

    /// Opens what was stored under `aad` and decodes the entry inside.
    #[cfg(test)]
    pub(crate) fn decode<V: DeserializeOwned>(&self, bytes: &[u8], aad: &[u8]) -> Decoded<V> {
        match self.open(bytes, aad) {
            Some(envelope) => codec::decode(&envelope),
            None => Decoded::Corrupt,
        }
    }

    /// Compresses (above the threshold), then encrypts (with a keyring).
    pub(crate) fn seal(&self, envelope: Vec<u8>, aad: &[u8]) -> Result<Vec<u8>, Error> {
        let inner = compress(self.compression, envelope)?;
        match &self.keyring {
            Some(keys) => encrypt(keys, &inner, aad),
            None => Ok(inner),
        }
    }

    /// Decrypts, then decompresses; `None` for anything that does not open:
    /// a value not encrypted for a store with keys, an encrypted one for a
    /// store without, a key id not held, a failed check (another key,
    /// altered bytes), a frame cut short or that decompresses wrongly.
    pub(crate) fn open<'a>(&self, bytes: &'a [u8], aad: &[u8]) -> Option<Cow<'a, [u8]>> {
        let plain = match (bytes, &self.keyring) {
            ([MAGIC, ENCRYPTED, ..], Some(keys)) => Cow::Owned(decrypt(keys, bytes, aad)?),
            ([MAGIC, ENCRYPTED, ..], None) | (_, Some(_)) => return None,
            (_, None) => Cow::Borrowed(bytes),
        };
        match &*plain {
            [MAGIC, COMPRESSED, ..] => decompress(&plain).map(Cow::Owned),
            _ => Some(plain),
        }
    }
}

fn compress(compression: Compression, envelope: Vec<u8>) -> Result<Vec<u8>, Error> {
    let (algorithm, min_bytes) = match compression {
        Compression::None => return Ok(envelope),
        Compression::Lz4 { min_bytes } => (LZ4, min_bytes),
        Compression::Zstd { min_bytes, .. } => (ZSTD, min_bytes),
    };
    let size = match u32::try_from(envelope.len()) {
        Ok(n) if envelope.len() >= min_bytes && envelope.len() <= MAX_PLAIN => n,
        _ => return Ok(envelope),
    };
    let mut out = Vec::with_capacity(COMPRESSED_HEADER + envelope.len() / 2);
    out.extend_from_slice(&[MAGIC, COMPRESSED, algorithm]);
    out.extend_from_slice(&size.to_le_bytes());
    match compression {
        Compression::Lz4 { .. } => {
            out.resize(
                COMPRESSED_HEADER + lz4_flex::block::get_maximum_output_size(envelope.len()),
                0,
            );
            let n = lz4_flex::block::compress_into(&envelope, &mut out[COMPRESSED_HEADER..])
                .map_err(|e| Error::Encode(format!("lz4: {e}")))?;
            out.truncate(COMPRESSED_HEADER + n);
        }
        #[cfg(feature = "zstd")]
        Compression::Zstd { level, .. } => {
            zstd::stream::copy_encode(envelope.as_slice(), &mut out, level)
                .map_err(|e| Error::Encode(format!("zstd: {e}")))?;
        }
        _ => return Ok(envelope),
    }
    if out.len() >= envelope.len() {
        return Ok(envelope);
    }
    Ok(out)
}

fn decompress(frame: &[u8]) -> Option<Vec<u8>> {
    let (&[_, _, algorithm], rest) = frame.split_first_chunk::<3>()?;
    let (size, payload) = rest.split_first_chunk::<4>()?;
    let size = usize::try_from(u32::from_le_bytes(*size)).ok()?;
    if size > MAX_PLAIN {
        return None;
    }
    let out = match algorithm {
        LZ4 => {
            if size > payload.len().saturating_mul(LZ4_MAX_RATIO) {
                return None;
            }
            let mut out = vec![0u8; size];
            let n = lz4_flex::block::decompress_into(payload, &mut out).ok()?;
            out.truncate(n);
            out
        }
        #[cfg(feature = "zstd")]
        ZSTD => {
            let mut decoder = zstd::stream::read::Decoder::with_buffer(payload).ok()?;
            // Grows with what is actually produced, never past `size` + 1.
            let mut out = Vec::with_capacity(size.min(payload.len().saturating_mul(8)));
            decoder
                .by_ref()
                .take(u64::try_from(size).ok()? + 1)
                .read_to_end(&mut out)
                .ok()?;
            out
        }
        _ => return None,
    };
    (out.len() == size).then_some(out)
}

/// The frame's header and the storage key.
fn associated(header: &[u8], aad: &[u8]) -> Vec<u8> {
    let mut ad = Vec::with_capacity(header.len() + aad.len());
    ad.extend_from_slice(header);
    ad.extend_from_slice(aad);
    ad
}

fn encrypt(keys: &Keyring, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, Error> {
    let cipher = keys
        .get(keys.current)
        .ok_or_else(|| Error::Encode("the current key is missing from the keyring".into()))?;
    let mut nonce = [0u8; NONCE];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::Encode(format!("no random nonce from the system: {e}")))?;
    let mut out = Vec::with_capacity(ENCRYPTED_HEADER + NONCE + plain.len() + TAG);
    out.extend_from_slice(&[MAGIC, ENCRYPTED]);
    out.extend_from_slice(&keys.current.to_le_bytes());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(plain);
    let ad = associated(&out[..ENCRYPTED_HEADER], aad);
    let tag = cipher
        .encrypt_in_place_detached(
            XNonce::from_slice(&nonce),
            &ad,
            &mut out[ENCRYPTED_HEADER + NONCE..],
        )
        .map_err(|_| Error::Encode("the value is too large to encrypt".into()))?;
    out.extend_from_slice(&tag);
    Ok(out)
}

fn decrypt(keys: &Keyring, frame: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
    let (header, rest) = frame.split_first_chunk::<ENCRYPTED_HEADER>()?;
    let cipher = keys.get(u16::from_le_bytes([header[2], header[3]]))?;
    let (nonce, rest) = rest.split_first_chunk::<NONCE>()?;
    let (sealed, tag) = rest.split_at_checked(rest.len().checked_sub(TAG)?)?;
    let mut plain = sealed.to_vec();
    cipher
        .decrypt_in_place_detached(
            XNonce::from_slice(nonce),
            &associated(header, aad),
            &mut plain,
            Tag::from_slice(tag),
        )
        .ok()?;
    Some(plain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Entry;
    use proptest::prelude::*;

    const KEY: &[u8] = b"cachelite:ns:v1:user:1";
    const K1: [u8; 32] = [1; 32];
    const K2: [u8; 32] = [2; 32];

    fn layers(compression: Compression, keyring: Option<Keyring>) -> Layers {
        Layers::new(compression, keyring).unwrap()
    }

    fn entry<V: DeserializeOwned>(l: &Layers, bytes: &[u8], aad: &[u8]) -> Option<Entry<V>> {
        match l.decode(bytes, aad) {
            Decoded::Entry(e) => Some(e),
            _ => None,
        }
    }

    /// A JSON-ish text that compresses well, `n` bytes or a little more.
    fn text(n: usize) -> String {
        let mut s = String::with_capacity(n + 40);
        let mut i = 0;
        while s.len() < n {
            s.push_str(&format!(
                "{{\"id\":{i},\"name\":\"user {i}\",\"ok\":true}},"
            ));
            i += 1;
        }
        s
    }

    fn compressions() -> Vec<Compression> {
        let mut all = vec![
            Compression::None,
            Compression::lz4(),
            Compression::Lz4 { min_bytes: 0 },
        ];
        if cfg!(feature = "zstd") {
            all.extend([
                Compression::zstd(),
                Compression::Zstd {
                    min_bytes: 0,
                    level: 9,
                },
            ]);
        }
        all
    }

    #[test]
    fn every_combination_round_trips_and_any_reader_with_the_keys_reads_it() {
        let expiry = Some(Expiry {
            at_ms: 1_800_000_000_000,
            ttl_ms: 60_000,
        });
        let tags = vec!["team:7".to_string()];
        for n in [0, 2000, 30_000] {
            let value = text(n);
            for codec in [Codec::MessagePack, Codec::Json] {
                for compression in compressions() {
                    for keyring in [None, Some(Keyring::new(1, K1))] {
                        let writer = layers(compression, keyring.clone());
                        let bytes = writer.encode(codec, &value, expiry, &tags, KEY).unwrap();
                        // A reader with the same keys, whatever it writes.
                        for read_with in [Compression::None, Compression::lz4()] {
                            let reader = layers(read_with, keyring.clone());
                            let e: Entry<String> = entry(&reader, &bytes, KEY)
                                .unwrap_or_else(|| panic!("{n} {codec:?} {compression:?}"));
                            assert_eq!(e.value, value);
                            assert_eq!(e.tags, tags);
                            assert_eq!(e.expiry, expiry);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn compression_starts_at_the_threshold_and_only_when_it_helps() {
        let plain = |n: usize| codec::encode(Codec::Json, &text(n), None, &[]).unwrap();
        let small = plain(500);
        let min_bytes = small.len() + 1;
        let lz4 = Compression::Lz4 { min_bytes };
        let l = layers(lz4, None);
        // Below the threshold: the envelope as it is.
        assert_eq!(l.seal(small.clone(), KEY).unwrap(), small);
        // At it: compressed, smaller, and marked.
        let at = plain(500 + 40);
        let at = at[..at.len().min(min_bytes)].to_vec();
        let big = plain(4000);
        let sealed = l.seal(big.clone(), KEY).unwrap();
        assert_eq!(&sealed[..3], &[MAGIC, COMPRESSED, LZ4]);
        assert!(
            sealed.len() < big.len() / 2,
            "{} of {}",
            sealed.len(),
            big.len()
        );
        assert_eq!(l.open(&sealed, KEY).unwrap().as_ref(), big.as_slice());
        assert_eq!(at.len(), min_bytes);
        assert_eq!(&l.seal(at, KEY).unwrap()[..2], &[MAGIC, COMPRESSED]);
        // The most compressible input still opens (lz4's ratio bound).
        let zeros = [vec![MAGIC, 2], vec![0; 1 << 20]].concat();
        for compression in &compressions()[1..] {
            let l = layers(*compression, None);
            let sealed = l.seal(zeros.clone(), KEY).unwrap();
            assert!(
                sealed.len() < zeros.len() / 200,
                "{compression:?} {}",
                sealed.len()
            );
            assert_eq!(l.open(&sealed, KEY).unwrap().as_ref(), zeros.as_slice());
        }
        // Bytes that do not compress are stored as they are.
        let noise: Vec<u8> = (0..4096).map(|_| fastrand::u8(..)).collect();
        let mut random = vec![MAGIC, 2];
        random.extend(noise);
        assert_eq!(l.seal(random.clone(), KEY).unwrap(), random);
    }

    #[test]
    fn a_value_copied_to_another_key_does_not_decrypt() {
        let l = layers(Compression::lz4(), Some(Keyring::new(1, K1)));
        let bytes = l
            .encode(Codec::MessagePack, &text(3000), None, &[], KEY)
            .unwrap();
        assert!(entry::<String>(&l, &bytes, KEY).is_some());
        assert!(entry::<String>(&l, &bytes, b"cachelite:ns:v1:user:2").is_none());
        assert!(entry::<String>(&l, &bytes, b"").is_none());
    }

    #[test]
    fn old_keys_decrypt_and_new_writes_use_the_current_id() {
        let before = layers(Compression::None, Some(Keyring::new(1, K1)));
        let old = before
            .encode(Codec::MessagePack, &5u32, None, &[], KEY)
            .unwrap();
        assert_eq!(&old[..4], &[MAGIC, ENCRYPTED, 1, 0]);

        let after = layers(Compression::None, Some(Keyring::new(2, K2).with_old(1, K1)));
        assert_eq!(entry::<u32>(&after, &old, KEY).unwrap().value, 5);
        let new = after
            .encode(Codec::MessagePack, &6u32, None, &[], KEY)
            .unwrap();
        assert_eq!(&new[..4], &[MAGIC, ENCRYPTED, 2, 0]);
        assert_eq!(entry::<u32>(&after, &new, KEY).unwrap().value, 6);
        // The store that does not yet hold key 2 cannot read the new value.
        assert!(entry::<u32>(&before, &new, KEY).is_none());
        // Two writes of one value differ: a fresh nonce each time.
        let again = after
            .encode(Codec::MessagePack, &6u32, None, &[], KEY)
            .unwrap();
        assert_ne!(new, again);
    }

    #[test]
    fn a_wrong_or_missing_key_is_no_value() {
        let writer = layers(Compression::lz4(), Some(Keyring::new(1, K1)));
        let bytes = writer
            .encode(Codec::Json, &text(3000), None, &[], KEY)
            .unwrap();
        // Same id, another key.
        let wrong = layers(Compression::lz4(), Some(Keyring::new(1, K2)));
        assert!(entry::<String>(&wrong, &bytes, KEY).is_none());
        // No keys at all: an encrypted value is not read as anything.
        let none = layers(Compression::lz4(), None);
        assert!(matches!(
            none.decode::<String>(&bytes, KEY),
            Decoded::Corrupt
        ));
        // And a store with keys does not take values that are not encrypted.
        let plain = none
            .encode(Codec::Json, &text(3000), None, &[], KEY)
            .unwrap();
        assert!(matches!(
            writer.decode::<String>(&plain, KEY),
            Decoded::Corrupt
        ));
        let tiny = codec::encode(Codec::Json, &1u8, None, &[]).unwrap();
        assert!(matches!(writer.decode::<u8>(&tiny, KEY), Decoded::Corrupt));
    }

    #[test]
    fn every_altered_byte_and_every_cut_is_no_value() {
        for keyring in [None, Some(Keyring::new(3, K1))] {
            for compression in compressions() {
                let l = layers(compression, keyring.clone());
                let good = l
                    .encode(Codec::MessagePack, &text(1500), None, &[], KEY)
                    .unwrap();
                let encrypted = keyring.is_some();
                for i in 0..good.len() {
                    let mut bad = good.clone();
                    bad[i] ^= 0x55;
                    let read = entry::<String>(&l, &bad, KEY);
                    // With a key, every byte is checked. Without, a changed
                    // byte may still decode (as with the envelope alone);
                    // it must not panic.
                    if encrypted {
                        assert!(read.is_none(), "{compression:?} byte {i}");
                    }
                }
                for n in 0..good.len() {
                    assert!(
                        entry::<String>(&l, &good[..n], KEY).is_none(),
                        "{compression:?} {keyring:?} cut at {n}"
                    );
                }
            }
        }
    }

    #[test]
    fn frames_that_claim_too_much_or_nest_are_refused() {
        let l = layers(Compression::lz4(), None);
        // lz4 claiming far more than its payload could hold.
        let mut frame = vec![MAGIC, COMPRESSED, LZ4];
        frame.extend(u32::MAX.to_le_bytes());
        frame.extend([0x1F, 0, 0, 0]);
        assert!(l.open(&frame, KEY).is_none());
        // A claimed size that differs from what comes out.
        let inner = codec::encode(Codec::Json, &text(2000), None, &[]).unwrap();
        let mut sealed = l.seal(inner.clone(), KEY).unwrap();
        let size = u32::try_from(inner.len() - 1).unwrap();
        sealed[3..7].copy_from_slice(&size.to_le_bytes());
        assert!(l.open(&sealed, KEY).is_none());
        // An unknown algorithm.
        let mut unknown = l.seal(inner.clone(), KEY).unwrap();
        unknown[2] = 9;
        assert!(l.open(&unknown, KEY).is_none());
        // A compressed frame inside a compressed frame is not an entry.
        let once = l.seal(inner, KEY).unwrap();
        let twice = compress(
            Compression::Lz4 { min_bytes: 0 },
            [once.clone(), once].concat(),
        );
        assert!(matches!(
            l.decode::<String>(&twice.unwrap(), KEY),
            Decoded::Corrupt
        ));
    }

    #[test]
    fn settings_are_checked() {
        let dup = Layers::new(Compression::None, Some(Keyring::new(1, K1).with_old(1, K2)));
        assert!(matches!(dup, Err(Error::Config(m)) if m.contains("key id 1")));
        let zstd = Layers::new(
            Compression::Zstd {
                min_bytes: 0,
                level: 3,
            },
            None,
        );
        assert_eq!(zstd.is_ok(), cfg!(feature = "zstd"));
        if cfg!(feature = "zstd") {
            let level = Layers::new(
                Compression::Zstd {
                    min_bytes: 0,
                    level: 23,
                },
                None,
            );
            assert!(matches!(level, Err(Error::Config(_))));
        }
    }

    #[test]
    fn keys_load_from_hex_base64_files_and_variables_and_never_show() {
        let key: [u8; 32] = std::array::from_fn(|i| u8::try_from(i * 7).unwrap());
        let hex: String = key.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(Keyring::parse_key(&hex).unwrap(), key);
        assert_eq!(
            Keyring::parse_key(&format!(" {}\n", hex.to_lowercase())).unwrap(),
            key
        );
        use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
        assert_eq!(Keyring::parse_key(&STANDARD.encode(key)).unwrap(), key);
        assert_eq!(
            Keyring::parse_key(&URL_SAFE_NO_PAD.encode(key)).unwrap(),
            key
        );
        for bad in [
            "",
            "zz",
            &hex[..62],
            &STANDARD.encode([1u8; 31]),
            &format!("{hex}00"),
        ] {
            let e = Keyring::parse_key(bad).unwrap_err();
            assert!(bad.is_empty() || !e.to_string().contains(bad), "{e}");
        }

        let dir = std::env::temp_dir();
        let path = |what: &str| {
            dir.join(format!(
                "cachelite-key-{what}-{}-{}",
                std::process::id(),
                fastrand::u32(..)
            ))
        };
        let raw = path("raw");
        std::fs::write(&raw, key).unwrap();
        assert_eq!(Keyring::key_from_file(&raw).unwrap(), key);
        let text = path("text");
        std::fs::write(&text, format!("{}\n", STANDARD.encode(key))).unwrap();
        assert_eq!(Keyring::key_from_file(&text).unwrap(), key);
        let junk = path("junk");
        std::fs::write(&junk, "secret-but-not-a-key").unwrap();
        let e = Keyring::key_from_file(&junk).unwrap_err().to_string();
        assert!(!e.contains("secret") && e.contains("key file"), "{e}");
        assert!(Keyring::key_from_file(path("absent")).is_err());
        for p in [raw, text, junk] {
            std::fs::remove_file(p).unwrap();
        }

        // Read, not set: a variable this test cannot have set.
        let e = Keyring::key_from_env("CACHELITE_TEST_KEY_THAT_IS_NOT_SET").unwrap_err();
        assert!(
            e.to_string().contains("CACHELITE_TEST_KEY_THAT_IS_NOT_SET"),
            "{e}"
        );
        let found = std::env::vars().find(|(_, v)| Keyring::parse_key(v).is_ok());
        if let Some((name, value)) = found {
            assert_eq!(
                Keyring::key_from_env(&name).unwrap(),
                Keyring::parse_key(&value).unwrap()
            );
        }

        let keys = Keyring::new(4, key).with_old(2, [0xAB; 32]);
        let shown = format!(
            "{keys:?} {:?}",
            layers(Compression::None, Some(keys.clone()))
        );
        assert!(
            shown.contains("current: 4") && shown.contains("[4, 2]"),
            "{shown}"
        );
        for secret in [&hex, &hex.to_lowercase(), "171", "AB", "ab"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    fn headers() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            Just(vec![]),
            Just(vec![MAGIC, COMPRESSED, LZ4]),
            Just(vec![MAGIC, COMPRESSED, ZSTD]),
            Just(vec![MAGIC, ENCRYPTED, 1, 0]),
            Just(vec![MAGIC, 2, 0]),
            Just(vec![MAGIC, 2, 1]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn decoding_any_bytes_never_panics(
            header in headers(),
            size in prop_oneof![Just(None), any::<u32>().prop_map(Some), (0u32..4096).prop_map(Some)],
            tail in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let mut bytes = header;
            if let Some(size) = size {
                bytes.extend(size.to_le_bytes());
            }
            bytes.extend(tail);
            for keyring in [None, Some(Keyring::new(1, K1))] {
                let l = layers(Compression::None, keyring);
                let _ = l.decode::<String>(&bytes, KEY);
                let _ = l.decode::<Vec<u64>>(&bytes, KEY);
                if let Some(plain) = l.open(&bytes, KEY) {
                    prop_assert!(plain.len() <= MAX_PLAIN);
                }
            }
        }
    }
}
