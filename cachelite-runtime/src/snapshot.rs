//! Snapshots: save a cache to a file and load it back (feature `serde`).
//!
//! # File format, version 1
//!
//! One line of ASCII header, then the payload:
//!
//! ```text
//! CACHELITE-SNAPSHOT 1 json 5120 1c291ca3\n
//! {"policy":"lru","saved_at_unix_ms":1700000000000,"entries":[...]}
//! ```
//!
//! - `CACHELITE-SNAPSHOT ` is the magic; anything else is not a snapshot.
//! - `1` is the format version. It is the one field every future version
//!   keeps in place, so a reader can always say "too new" before it tries
//!   to understand the rest of the line.
//! - `json` or `msgpack` is the codec of the payload.
//! - `5120` is the payload length in bytes, in decimal.
//! - `1c291ca3` is the CRC-32 (ISO-HDLC, as `crc32fast` and zlib compute
//!   it) of the payload, as 8 lowercase hex digits.
//!
//! The header line is at most 128 bytes. The payload is one document,
//! JSON (`serde_json`) or MessagePack (`rmp-serde`, structs as maps with
//! named fields), of this shape:
//!
//! ```text
//! { policy: "lru" | "lfu" | "fifo" | "random" | "tinylfu" | "adaptive",   // informational
//!   namespace?: string,                          // the cache's namespace
//!   version?: u64,                               // the data's version (absent: 0)
//!   saved_at_unix_ms: u64,                       // wall clock at save
//!   entries: [ { key: K, value: V,
//!                ttl_nanos?: u64,                // time left at save
//!                tags?: [string],
//!                freq?: u64 } ] }                // LFU access count (TinyLFU: sketch estimate)
//! ```
//!
//! Optional fields are left out when absent and unknown fields are ignored,
//! so a `.json` snapshot stays readable (and hand-editable, if the checksum
//! is fixed) after its first line.
//!
//! # Order
//!
//! Entries are written first-to-evict first, and a restore inserts them in
//! that order, so whatever the policy ranks highest is inserted last: LRU
//! recency and FIFO age carry over, and a restore into a smaller cache keeps
//! the highest ranked entries. LFU also writes each entry's access count and
//! restores it. A sharded cache has one order per shard; the shards' lists
//! are interleaved evenly (for LFU, by count first), which keeps the order
//! among the entries of each shard. Entries are re-hashed on restore, so
//! the restoring cache may have any shard count.
//!
//! # Safety of the data
//!
//! A restore reads, checks and decodes the whole snapshot before it touches
//! the cache: a foreign, truncated, corrupt or newer file is an error and
//! leaves the cache as it was. Reads never allocate more than the bytes
//! actually present. Saving to a path writes a temporary file next to the
//! target, syncs it, and renames it over the target, so a failed or
//! interrupted save leaves the previous snapshot intact.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, Hash};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};

use crate::cache::Cache;
use crate::events::Event;
use crate::expiry::{AnyClock, NEVER};
use crate::policy::Policy;
use crate::shard::{Evicted, Item, Place, Tag};

const MAGIC: &[u8] = b"CACHELITE-SNAPSHOT ";
/// The format version this build writes and reads.
const FORMAT_VERSION: u32 = 1;
/// The header line after the magic, newline excluded.
const MAX_HEADER_LEN: usize = 128 - MAGIC.len();
/// Up-front reservation for a payload; beyond it the buffer grows only as
/// bytes actually arrive, so a lying length costs nothing.
const MAX_INITIAL_RESERVE: u64 = 1 << 20;

/// The codec of a snapshot's payload.
///
/// [`Cache::snapshot`] picks it from the file extension ([`Self::from_path`]);
/// [`Cache::restore`] reads it from the snapshot's header, whatever the
/// file is called.
///
/// The file is one header line, `CACHELITE-SNAPSHOT <version> <codec>
/// <payload-length> <crc32-hex>` (the CRC-32 of the payload), then the payload: a JSON or MessagePack
/// document `{ policy, saved_at_unix_ms, entries: [{ key, value, ttl_nanos?,
/// tags?, freq? }] }` with entries first-to-evict first. `ttl_nanos` is the
/// time an entry had left when it was saved; `freq` is its LFU access count.
///
/// ```
/// use cachelite_runtime::SnapshotFormat;
/// use std::path::Path;
///
/// assert_eq!(SnapshotFormat::from_path(Path::new("cache.json")), Some(SnapshotFormat::Json));
/// assert_eq!(SnapshotFormat::from_path(Path::new("cache.MPK")), Some(SnapshotFormat::MessagePack));
/// assert_eq!(SnapshotFormat::from_path(Path::new("cache.txt")), None);
/// assert_eq!(SnapshotFormat::MessagePack.to_string(), "msgpack");
/// assert_eq!("json".parse::<SnapshotFormat>().unwrap(), SnapshotFormat::Json);
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SnapshotFormat {
    /// JSON (`serde_json`): larger and slower, but readable. Files end in
    /// `.json`.
    Json,
    /// MessagePack (`rmp-serde`, structs as maps with named fields): compact
    /// and fast. Files end in `.msgpack`, `.mpk` or `.msgpk`.
    MessagePack,
}

impl SnapshotFormat {
    /// The format a path's extension names (ignoring ASCII case): `.json`,
    /// or `.msgpack` / `.mpk` / `.msgpk`.
    ///
    /// ```
    /// use cachelite_runtime::SnapshotFormat;
    /// use std::path::Path;
    /// assert_eq!(SnapshotFormat::from_path(Path::new("/var/lib/app/c.msgpack")), Some(SnapshotFormat::MessagePack));
    /// assert_eq!(SnapshotFormat::from_path(Path::new("json")), None);
    /// ```
    #[must_use]
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?;
        if ext.eq_ignore_ascii_case("json") {
            Some(SnapshotFormat::Json)
        } else if ["msgpack", "mpk", "msgpk"]
            .iter()
            .any(|e| ext.eq_ignore_ascii_case(e))
        {
            Some(SnapshotFormat::MessagePack)
        } else {
            None
        }
    }

    /// The codec's name in a snapshot header: `json` or `msgpack`.
    ///
    /// ```
    /// assert_eq!(cachelite_runtime::SnapshotFormat::Json.name(), "json");
    /// ```
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            SnapshotFormat::Json => "json",
            SnapshotFormat::MessagePack => "msgpack",
        }
    }

    /// The codec named exactly so in a header.
    fn from_codec(name: &str) -> Option<Self> {
        match name {
            "json" => Some(SnapshotFormat::Json),
            "msgpack" => Some(SnapshotFormat::MessagePack),
            _ => None,
        }
    }
}

impl fmt::Display for SnapshotFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SnapshotFormat {
    type Err = SnapshotError;

    /// Parses a codec name or extension, ignoring ASCII case: `json`,
    /// `msgpack`, `messagepack`, `mpk` or `msgpk`. Anything else is
    /// [`SnapshotError::UnknownCodec`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("json") {
            Ok(SnapshotFormat::Json)
        } else if ["msgpack", "messagepack", "mpk", "msgpk"]
            .iter()
            .any(|n| t.eq_ignore_ascii_case(n))
        {
            Ok(SnapshotFormat::MessagePack)
        } else {
            Err(SnapshotError::UnknownCodec(s.to_owned()))
        }
    }
}

/// Why a snapshot could not be written or read.
///
/// Every restore error leaves the cache exactly as it was.
///
/// ```
/// use cachelite_runtime::{Cache, SnapshotError};
///
/// let cache: Cache<String, u32> = Cache::new(10);
/// let err = cache.restore_from(&b"\x89PNG\r\n\x1a\n"[..]).unwrap_err();
/// assert!(matches!(err, SnapshotError::NotASnapshot));
/// assert_eq!(err.to_string(), "not a cachelite snapshot: the file does not start with `CACHELITE-SNAPSHOT`");
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[derive(Debug)]
#[non_exhaustive]
pub enum SnapshotError {
    /// Reading or writing failed.
    Io(io::Error),
    /// The data does not start with the snapshot magic (an empty file
    /// included).
    NotASnapshot,
    /// The snapshot was written in a format version this build cannot read
    /// (usually by a newer cachelite).
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// The header names a codec this build does not know, or
    /// [`SnapshotFormat::from_str`] got an unknown name.
    UnknownCodec(String),
    /// The header line has the magic but not the expected fields.
    MalformedHeader(String),
    /// The data ends before the payload its header declares.
    Truncated,
    /// The payload does not match the checksum in the header: the file is
    /// corrupt.
    ChecksumMismatch {
        /// The CRC-32 the header declares.
        expected: u32,
        /// The CRC-32 of the payload as read.
        actual: u32,
    },
    /// A file has bytes after the payload its header declares.
    TrailingData,
    /// The payload is intact but does not decode as this cache's key and
    /// value types.
    Decode(String),
    /// A key or value failed to serialize.
    Encode(String),
    /// [`Cache::snapshot`] got a path whose extension names no format.
    UnknownExtension(PathBuf),
    /// The snapshot holds another version of the data than the cache's
    /// ([`CacheBuilder::version`](crate::CacheBuilder::version)); use
    /// [`Cache::restore_any_version`] to restore it anyway.
    VersionMismatch {
        /// The version the snapshot was saved at.
        saved: u64,
        /// The cache's version.
        current: u64,
    },
    /// The snapshot comes from a cache of another namespace
    /// ([`CacheBuilder::namespace`](crate::CacheBuilder::namespace)).
    NamespaceMismatch {
        /// The snapshot's namespace.
        saved: Option<String>,
        /// The cache's namespace.
        current: Option<String>,
    },
}

impl fmt::Display for SnapshotError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SnapshotError::Io(e) => write!(f, "snapshot I/O error: {e}"),
            SnapshotError::NotASnapshot => f.write_str(
                "not a cachelite snapshot: the file does not start with `CACHELITE-SNAPSHOT`",
            ),
            SnapshotError::UnsupportedVersion { found, supported } => write!(
                f,
                "unsupported snapshot format version {found}: this build reads version {supported}"
            ),
            SnapshotError::UnknownCodec(c) => write!(
                f,
                "unknown snapshot codec `{c}`; known codecs: json, msgpack"
            ),
            SnapshotError::MalformedHeader(why) => write!(f, "malformed snapshot header: {why}"),
            SnapshotError::Truncated => f.write_str(
                "snapshot is truncated: the payload is shorter than its header declares",
            ),
            SnapshotError::ChecksumMismatch { expected, actual } => write!(
                f,
                "snapshot is corrupt: payload checksum is {actual:08x}, header says {expected:08x}"
            ),
            SnapshotError::TrailingData => f.write_str(
                "snapshot is corrupt: there are bytes after the payload its header declares",
            ),
            SnapshotError::Decode(why) => write!(f, "cannot decode snapshot entries: {why}"),
            SnapshotError::Encode(why) => write!(f, "cannot encode snapshot entries: {why}"),
            SnapshotError::VersionMismatch { saved, current } => write!(
                f,
                "the snapshot holds version {saved} of the data and this cache is at version {current}: \
                 its entries may not mean what this version's do; restore_any_version restores them anyway"
            ),
            SnapshotError::NamespaceMismatch { saved, current } => {
                let name = |n: &Option<String>| {
                    n.as_ref()
                        .map_or("no namespace".into(), |n| format!("namespace `{n}`"))
                };
                write!(
                    f,
                    "the snapshot comes from {} and this cache has {}: it holds another cache's data",
                    name(saved),
                    name(current)
                )
            }
            SnapshotError::UnknownExtension(p) => write!(
                f,
                "cannot tell the snapshot format from `{}`: use a .json, .msgpack or .mpk extension, or snapshot_to",
                p.display()
            ),
        }
    }
}

impl std::error::Error for SnapshotError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SnapshotError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for SnapshotError {
    fn from(e: io::Error) -> Self {
        SnapshotError::Io(e)
    }
}

/// One entry as written: key and value cloned out of the shard, tags shared.
#[derive(Serialize)]
struct SavedEntry<K, V> {
    key: K,
    value: V,
    #[serde(skip_serializing_if = "Option::is_none")]
    ttl_nanos: Option<u64>,
    #[serde(skip_serializing_if = "no_tags", serialize_with = "tag_strs")]
    tags: Box<[Tag]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    freq: Option<u64>,
}

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde passes a reference"
)]
fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn no_tags(tags: &[Tag]) -> bool {
    tags.is_empty()
}

fn tag_strs<S: Serializer>(tags: &[Tag], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(tags.iter().map(|t| &**t))
}

#[derive(Serialize)]
struct SavedPayload<'a, K, V> {
    policy: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    namespace: Option<&'a str>,
    #[serde(skip_serializing_if = "is_zero")]
    version: u64,
    saved_at_unix_ms: u64,
    entries: &'a [SavedEntry<K, V>],
}

/// One entry as read; missing optional fields take their defaults.
#[derive(Deserialize)]
struct LoadedEntry<K, V> {
    key: K,
    value: V,
    #[serde(default)]
    ttl_nanos: Option<u64>,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    freq: Option<u64>,
}

#[derive(Deserialize)]
struct LoadedPayload<K, V> {
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    version: u64,
    #[serde(default)]
    saved_at_unix_ms: Option<u64>,
    entries: Vec<LoadedEntry<K, V>>,
}

/// The fields of a version-1 header line.
#[derive(Debug, PartialEq, Eq)]
struct Header {
    format: SnapshotFormat,
    len: u64,
    crc: u32,
}

fn header_line(format: SnapshotFormat, payload: &[u8]) -> String {
    format!(
        "CACHELITE-SNAPSHOT {FORMAT_VERSION} {format} {} {:08x}\n",
        payload.len(),
        crc32fast::hash(payload)
    )
}

/// Parses what follows the magic on the header line.
fn parse_header(line: &[u8]) -> Result<Header, SnapshotError> {
    let malformed = SnapshotError::MalformedHeader;
    let text = std::str::from_utf8(line)
        .map_err(|_| malformed("the header line is not ASCII text".into()))?;
    let mut fields = text.split(' ');
    let version = fields.next().unwrap_or_default();
    let found: u32 = version
        .parse()
        .ok()
        .filter(|_| version.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| malformed(format!("`{version}` is not a format version")))?;
    if found != FORMAT_VERSION {
        return Err(SnapshotError::UnsupportedVersion {
            found,
            supported: FORMAT_VERSION,
        });
    }
    let (Some(codec), Some(len), Some(crc), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed(format!(
            "expected `{FORMAT_VERSION} <codec> <payload-length> <crc32-hex>`, got `{text}`"
        )));
    };
    let format = SnapshotFormat::from_codec(codec)
        .ok_or_else(|| SnapshotError::UnknownCodec(codec.into()))?;
    let len = Some(len)
        .filter(|l| l.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| malformed(format!("`{len}` is not a payload length")))?;
    let crc = Some(crc)
        .filter(|c| c.len() == 8 && c.bytes().all(|b| b.is_ascii_hexdigit()))
        .and_then(|c| u32::from_str_radix(c, 16).ok())
        .ok_or_else(|| malformed(format!("`{crc}` is not an 8-digit hex CRC-32")))?;
    Ok(Header { format, len, crc })
}

/// Reads into `buf` until it is full or the reader ends; returns the count.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// Reads the header byte by byte, so nothing past it is consumed.
/// Returns the header and its length in bytes, newline included.
fn read_header(r: &mut impl Read) -> Result<(Header, u64), SnapshotError> {
    let mut magic = [0; MAGIC.len()];
    let got = read_up_to(r, &mut magic)?;
    if got == 0 || magic[..got] != MAGIC[..got] {
        return Err(SnapshotError::NotASnapshot);
    }
    if got < MAGIC.len() {
        return Err(SnapshotError::Truncated);
    }
    let mut line = Vec::with_capacity(64);
    loop {
        let mut byte = [0];
        if read_up_to(r, &mut byte)? == 0 {
            return Err(SnapshotError::Truncated);
        }
        if byte[0] == b'\n' {
            break;
        }
        if line.len() == MAX_HEADER_LEN {
            return Err(SnapshotError::MalformedHeader(
                "the header line is longer than 128 bytes".into(),
            ));
        }
        line.push(byte[0]);
    }
    let header = parse_header(&line)?;
    Ok((header, (MAGIC.len() + line.len() + 1) as u64))
}

/// Reads and checks one snapshot: header, then exactly the declared
/// payload, then its checksum. `available` is how many bytes the source
/// holds after the header, when known, so an absurd length fails at once.
fn read_snapshot(
    r: &mut impl Read,
    available_after_header: impl FnOnce(u64) -> Option<u64>,
) -> Result<(SnapshotFormat, Vec<u8>), SnapshotError> {
    let (header, header_len) = read_header(r)?;
    if available_after_header(header_len).is_some_and(|left| header.len > left) {
        return Err(SnapshotError::Truncated);
    }
    let reserve = usize::try_from(header.len.min(MAX_INITIAL_RESERVE)).unwrap_or(0);
    let mut payload = Vec::with_capacity(reserve);
    r.by_ref().take(header.len).read_to_end(&mut payload)?;
    if (payload.len() as u64) < header.len {
        return Err(SnapshotError::Truncated);
    }
    let actual = crc32fast::hash(&payload);
    if actual != header.crc {
        return Err(SnapshotError::ChecksumMismatch {
            expected: header.crc,
            actual,
        });
    }
    Ok((header.format, payload))
}

fn decode<K, V>(
    format: SnapshotFormat,
    payload: &[u8],
) -> Result<LoadedPayload<K, V>, SnapshotError>
where
    K: DeserializeOwned,
    V: DeserializeOwned,
{
    let decoded = match format {
        SnapshotFormat::Json => serde_json::from_slice(payload).map_err(|e| e.to_string()),
        SnapshotFormat::MessagePack => rmp_serde::from_slice(payload).map_err(|e| e.to_string()),
    };
    decoded.map_err(SnapshotError::Decode)
}

fn encode<K, V>(
    format: SnapshotFormat,
    payload: &SavedPayload<'_, K, V>,
) -> Result<Vec<u8>, SnapshotError>
where
    K: Serialize,
    V: Serialize,
{
    let encoded = match format {
        SnapshotFormat::Json => serde_json::to_vec(payload).map_err(|e| e.to_string()),
        SnapshotFormat::MessagePack => rmp_serde::to_vec_named(payload).map_err(|e| e.to_string()),
    };
    encoded.map_err(SnapshotError::Encode)
}

fn unix_millis() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// An entry with its place in its shard's order.
struct Ranked<K, V> {
    /// LFU count (0 for other policies): sorts first.
    freq: u64,
    /// Position in the shard as the fraction `(2i + 1) / 2n`.
    num: u64,
    den: u64,
    entry: SavedEntry<K, V>,
}

/// Merges the shards' eviction orders into one: by LFU count first, then
/// by relative position in the shard, so each shard's order is kept and no
/// shard's entries all land at the front or the back. The sort is stable,
/// so ties go to the lower shard.
fn interleave<K, V>(shards: Vec<Vec<SavedEntry<K, V>>>) -> Vec<SavedEntry<K, V>> {
    if shards.len() <= 1 {
        return shards.into_iter().flatten().collect();
    }
    let mut all: Vec<Ranked<K, V>> = Vec::with_capacity(shards.iter().map(Vec::len).sum());
    for list in shards {
        let den = 2 * list.len() as u64;
        all.extend(list.into_iter().enumerate().map(|(i, entry)| Ranked {
            freq: entry.freq.unwrap_or(0),
            num: 2 * i as u64 + 1,
            den,
            entry,
        }));
    }
    all.sort_by(|a, b| {
        a.freq.cmp(&b.freq).then_with(|| {
            let lhs = u128::from(a.num) * u128::from(b.den);
            let rhs = u128::from(b.num) * u128::from(a.den);
            lhs.cmp(&rhs)
        })
    });
    all.into_iter().map(|r| r.entry).collect()
}

/// Removes a half-written temporary file unless the write completed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// A new, uniquely named hidden file in `dir` for writing `name`.
fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    for _ in 0..32 {
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(
            ".{}.{:016x}.tmp",
            std::process::id(),
            fastrand::u64(..)
        ));
        let path = dir.join(tmp);
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "could not create a unique temporary file next to the snapshot",
    ))
}

/// Writes `parts` to `path` so that readers see the old file or the whole
/// new one: temporary file in the same directory, sync, rename over the
/// target, then sync the directory so the rename itself is durable.
fn write_atomically(path: &Path, parts: &[&[u8]]) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("snapshot path `{}` has no file name", path.display()),
        )
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let (tmp_path, mut file) = create_temp(dir, name)?;
    let mut guard = TempFile(Some(tmp_path));
    // A snapshot kept private stays private when it is replaced.
    if let Ok(old) = fs::metadata(path) {
        let _ = file.set_permissions(old.permissions());
    }
    for part in parts {
        file.write_all(part)?;
    }
    file.sync_all()?;
    drop(file);
    let tmp_path = guard.0.as_deref().expect("armed until renamed");
    fs::rename(tmp_path, path)?;
    guard.0 = None;
    sync_dir(dir);
    Ok(())
}

/// Best effort: a failure here cannot undo the rename, and some file
/// systems refuse to sync directories.
#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + Serialize,
    V: Clone + Serialize,
    S: BuildHasher,
{
    /// Saves every fresh entry to `path`, in the format its extension
    /// names ([`SnapshotFormat::from_path`]), and returns how many entries
    /// it wrote.
    ///
    /// Each entry keeps its value, its tags, the TTL it has left, and its
    /// place in the eviction order (and for LFU, its access count);
    /// expired entries are left out. The file is written atomically: a
    /// temporary file next to `path` is synced and renamed over it, so
    /// readers and crashes only ever see the old snapshot or the new one.
    ///
    /// Entries are cloned out one shard at a time under that shard's lock
    /// and serialized after it is released, so writers are held up for the
    /// clone only. Each shard is saved at one instant, but a cache with
    /// several shards is not frozen as a whole while concurrent writes go
    /// on. The encoded payload is built in memory before it is written.
    ///
    /// # Errors
    /// [`SnapshotError::UnknownExtension`] before anything is written;
    /// [`SnapshotError::Encode`] if a key or value fails to serialize;
    /// [`SnapshotError::Io`] if the file cannot be written. In each case the
    /// file at `path`, if any, is left untouched and no temporary file
    /// remains.
    ///
    /// ```
    /// use cachelite_runtime::Cache;
    ///
    /// let path = std::env::temp_dir().join(format!("cachelite-doc-snapshot-{}.json", std::process::id()));
    /// let cache: Cache<String, u32> = Cache::new(100);
    /// cache.insert("a".into(), 1);
    /// cache.insert_with_tags("b".into(), 2, ["even"]);
    /// assert_eq!(cache.snapshot(&path)?, 2);
    ///
    /// let fresh: Cache<String, u32> = Cache::new(100);
    /// let restored: usize = fresh.restore(&path)?;
    /// assert_eq!(restored, 2);
    /// assert_eq!(fresh.get("b"), Some(2));
    /// assert_eq!(fresh.invalidate_tags(&["even"]), 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn snapshot(&self, path: impl AsRef<Path>) -> Result<usize, SnapshotError> {
        let path = path.as_ref();
        let format = SnapshotFormat::from_path(path)
            .ok_or_else(|| SnapshotError::UnknownExtension(path.to_path_buf()))?;
        let (payload, count) = self.encode_snapshot(format)?;
        let header = header_line(format, &payload);
        write_atomically(path, &[header.as_bytes(), payload.as_slice()])?;
        Ok(count)
    }

    /// Writes a snapshot in `format` to `writer` (a socket, a buffer, a file
    /// you manage) and returns how many entries it wrote. The entries and
    /// their order are as for [`Cache::snapshot`]; nothing is written if
    /// encoding fails. The writer is flushed, but not synced or buffered:
    /// wrap a file in a `BufWriter` yourself if you like, though the
    /// snapshot goes out in two large writes anyway.
    ///
    /// # Errors
    /// [`SnapshotError::Encode`] if a key or value fails to serialize (then
    /// nothing was written), [`SnapshotError::Io`] if writing fails.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, SnapshotFormat};
    ///
    /// let cache: Cache<u64, String> = Cache::new(100);
    /// cache.insert(7, "seven".into());
    /// let mut buf = Vec::new();
    /// assert_eq!(cache.snapshot_to(&mut buf, SnapshotFormat::MessagePack)?, 1);
    /// assert!(buf.starts_with(b"CACHELITE-SNAPSHOT 1 msgpack "));
    ///
    /// let copy: Cache<u64, String> = Cache::new(100);
    /// assert_eq!(copy.restore_from(&buf[..])?, 1);
    /// assert_eq!(copy.get(&7).as_deref(), Some("seven"));
    /// # Ok::<(), cachelite_runtime::SnapshotError>(())
    /// ```
    pub fn snapshot_to<W: Write>(
        &self,
        mut writer: W,
        format: SnapshotFormat,
    ) -> Result<usize, SnapshotError> {
        let (payload, count) = self.encode_snapshot(format)?;
        writer.write_all(header_line(format, &payload).as_bytes())?;
        writer.write_all(&payload)?;
        writer.flush()?;
        Ok(count)
    }

    fn encode_snapshot(&self, format: SnapshotFormat) -> Result<(Vec<u8>, usize), SnapshotError> {
        let entries = self.collect_for_snapshot();
        let payload = SavedPayload {
            policy: self.policy().name(),
            namespace: self.namespace(),
            version: self.version(),
            saved_at_unix_ms: unix_millis(),
            entries: &entries,
        };
        let bytes = encode(format, &payload)?;
        Ok((bytes, entries.len()))
    }

    /// Clones each shard's fresh entries out in eviction order, one lock at
    /// a time, and merges the shards' orders.
    fn collect_for_snapshot(&self) -> Vec<SavedEntry<K, V>> {
        let now = self.now();
        let shards: Vec<Vec<_>> = self
            .inner
            .shards
            .iter()
            .map(|shard| {
                shard
                    .write()
                    .fresh_in_eviction_order(now)
                    .into_iter()
                    .map(|(e, ttl_nanos, freq)| SavedEntry {
                        key: e.key.clone(),
                        value: e.value.clone(),
                        ttl_nanos,
                        tags: e.tags().into(),
                        freq,
                    })
                    .collect()
            })
            .collect();
        interleave(shards)
    }
}

#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
impl<K, V, S> Cache<K, V, S>
where
    K: Hash + Eq + Clone + DeserializeOwned,
    V: Clone + DeserializeOwned,
    S: BuildHasher,
{
    /// Loads a snapshot file into this cache and returns how many entries
    /// it inserted. The codec comes from the file's header, whatever its
    /// extension.
    ///
    /// The whole file is read, checked (magic, version, length, CRC-32) and
    /// decoded before the cache is touched, so any error leaves the cache
    /// exactly as it was. Then the entries are inserted in the snapshot's
    /// order, first-to-evict first:
    ///
    /// - The restore **merges**: entries already in the cache stay unless
    ///   the snapshot has the same key, whose snapshot entry replaces them
    ///   (reported as [`RemovalCause::Replaced`](crate::RemovalCause::Replaced)). Call [`Cache::clear`]
    ///   first for an exact copy.
    /// - Order carries over: LRU recency and FIFO age follow the snapshot's
    ///   order, and an LFU cache takes each entry's saved access count.
    ///   Into a smaller cache, the entries the policy ranked highest
    ///   survive; the returned count includes the entries that later ones
    ///   then evicted.
    /// - Each TTL restarts from what was left at save time, on this cache's
    ///   clock. With the default clock, the wall-clock time since the save
    ///   is taken off too, so a snapshot restored an hour later does not
    ///   revive entries that expired in between; with a
    ///   [`ManualClock`](crate::ManualClock) or custom clock, only that
    ///   clock counts. Entries with no TTL get none (the cache's default TTL
    ///   is not applied), and entries already expired are skipped.
    /// - Tags are kept; weights are measured by this cache's weigher, and
    ///   an entry that can never fit is rejected as by `insert`.
    /// - Listeners see an `Inserted` event per entry.
    ///
    /// A snapshot from a cache with another policy, shard count or bounds
    /// restores fine.
    ///
    /// # Errors
    /// [`SnapshotError::Io`] if the file cannot be read;
    /// [`SnapshotError::NotASnapshot`], [`SnapshotError::UnsupportedVersion`],
    /// [`SnapshotError::UnknownCodec`] or [`SnapshotError::MalformedHeader`]
    /// for a foreign or newer file; [`SnapshotError::Truncated`],
    /// [`SnapshotError::ChecksumMismatch`] or [`SnapshotError::TrailingData`]
    /// for a damaged one; [`SnapshotError::Decode`] if it holds other key or
    /// value types; [`SnapshotError::NamespaceMismatch`] or
    /// [`SnapshotError::VersionMismatch`] if it comes from a cache of
    /// another namespace or version (see [`Cache::restore_any_version`]).
    ///
    /// ```
    /// use cachelite_runtime::{Cache, ManualClock, SnapshotError};
    /// use std::time::Duration;
    ///
    /// let path = std::env::temp_dir().join(format!("cachelite-doc-restore-{}.mpk", std::process::id()));
    /// let clock = ManualClock::new();
    /// let cache: Cache<String, u32> = Cache::builder().clock(clock.clone()).build();
    /// cache.insert_with_ttl("session".into(), 1, Duration::from_secs(60));
    /// clock.advance(Duration::from_secs(20));
    /// cache.snapshot(&path)?;
    ///
    /// let fresh: Cache<String, u32> = Cache::builder().clock(ManualClock::new()).build();
    /// assert_eq!(fresh.restore(&path)?, 1);
    /// assert_eq!(fresh.ttl("session"), Some(Duration::from_secs(40)));
    ///
    /// std::fs::write(&path, b"not a snapshot")?;
    /// assert!(matches!(fresh.restore(&path), Err(SnapshotError::NotASnapshot)));
    /// assert_eq!(fresh.len(), 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore(&self, path: impl AsRef<Path>) -> Result<usize, SnapshotError> {
        self.restore_path(path.as_ref(), false)
    }

    /// [`Cache::restore`], also from a snapshot of another version of the
    /// data ([`CacheBuilder::version`](crate::CacheBuilder::version)): for
    /// a version bump whose old entries are known to be still good. The
    /// namespace must still match.
    ///
    /// # Errors
    /// As [`Cache::restore`], less [`SnapshotError::VersionMismatch`].
    ///
    /// ```
    /// use cachelite_runtime::{Cache, SnapshotError};
    ///
    /// let path = std::env::temp_dir().join(format!("cachelite-doc-version-{}.json", std::process::id()));
    /// let v1: Cache<u8, u8> = Cache::builder().version(1).build();
    /// v1.insert(1, 1);
    /// v1.snapshot(&path)?;
    ///
    /// let v2: Cache<u8, u8> = Cache::builder().version(2).build();
    /// let err = v2.restore(&path).unwrap_err();
    /// assert!(matches!(err, SnapshotError::VersionMismatch { saved: 1, current: 2 }));
    /// assert!(v2.is_empty());
    /// assert_eq!(v2.restore_any_version(&path)?, 1);
    /// # std::fs::remove_file(&path)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn restore_any_version(&self, path: impl AsRef<Path>) -> Result<usize, SnapshotError> {
        self.restore_path(path.as_ref(), true)
    }

    fn restore_path(&self, path: &Path, any_version: bool) -> Result<usize, SnapshotError> {
        let file = File::open(path)?;
        let size = file
            .metadata()
            .ok()
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len());
        let mut reader = BufReader::new(file);
        let (format, payload) = read_snapshot(&mut reader, |header_len| {
            size.map(|s| s.saturating_sub(header_len))
        })?;
        if read_up_to(&mut reader, &mut [0])? != 0 {
            return Err(SnapshotError::TrailingData);
        }
        let loaded = decode(format, &payload)?;
        drop(payload);
        self.check_origin(&loaded, any_version)?;
        Ok(self.load_snapshot(loaded))
    }

    /// Loads a snapshot from `reader` and returns how many entries it
    /// inserted; see [`Cache::restore`] for what a restore does. The codec
    /// comes from the header. The reader is read up to the end of the
    /// payload its header declares and no further, so several snapshots
    /// (or other data) can follow one another in a stream.
    ///
    /// # Errors
    /// As [`Cache::restore`], except [`SnapshotError::TrailingData`]: what
    /// follows the payload is left in the reader.
    ///
    /// ```
    /// use cachelite_runtime::{Cache, SnapshotError, SnapshotFormat};
    ///
    /// let cache: Cache<(u64,), u64> = Cache::new(100);
    /// cache.insert((10,), 55);
    /// let mut buf = Vec::new();
    /// cache.snapshot_to(&mut buf, SnapshotFormat::Json)?;
    ///
    /// let copy: Cache<(u64,), u64> = Cache::new(100);
    /// assert_eq!(copy.restore_from(buf.as_slice())?, 1);
    /// assert_eq!(copy.get(&(10,)), Some(55));
    ///
    /// buf.truncate(buf.len() - 1);
    /// assert!(matches!(copy.restore_from(buf.as_slice()), Err(SnapshotError::Truncated)));
    /// # Ok::<(), SnapshotError>(())
    /// ```
    pub fn restore_from<R: Read>(&self, reader: R) -> Result<usize, SnapshotError> {
        self.restore_reader(reader, false)
    }

    /// [`Cache::restore_from`], also from a snapshot of another version of
    /// the data; see [`Cache::restore_any_version`].
    ///
    /// # Errors
    /// As [`Cache::restore_from`], less [`SnapshotError::VersionMismatch`].
    ///
    /// ```
    /// use cachelite_runtime::{Cache, SnapshotFormat};
    ///
    /// let old: Cache<u8, u8> = Cache::new(10);
    /// old.insert(1, 1);
    /// let mut buf = Vec::new();
    /// old.snapshot_to(&mut buf, SnapshotFormat::Json)?;
    /// let new: Cache<u8, u8> = Cache::builder().version(7).build();
    /// assert!(new.restore_from(&buf[..]).is_err());
    /// assert_eq!(new.restore_from_any_version(&buf[..])?, 1);
    /// # Ok::<(), cachelite_runtime::SnapshotError>(())
    /// ```
    pub fn restore_from_any_version<R: Read>(&self, reader: R) -> Result<usize, SnapshotError> {
        self.restore_reader(reader, true)
    }

    fn restore_reader<R: Read>(
        &self,
        mut reader: R,
        any_version: bool,
    ) -> Result<usize, SnapshotError> {
        let (format, payload) = read_snapshot(&mut reader, |_| None)?;
        let loaded = decode(format, &payload)?;
        drop(payload);
        self.check_origin(&loaded, any_version)?;
        Ok(self.load_snapshot(loaded))
    }

    /// Refuses a snapshot of another namespace, or of another version of
    /// the data unless `any_version`.
    fn check_origin(
        &self,
        loaded: &LoadedPayload<K, V>,
        any_version: bool,
    ) -> Result<(), SnapshotError> {
        if loaded.namespace.as_deref() != self.namespace() {
            return Err(SnapshotError::NamespaceMismatch {
                saved: loaded.namespace.clone(),
                current: self.namespace().map(str::to_owned),
            });
        }
        let current = self.version();
        if !any_version && loaded.version != current {
            return Err(SnapshotError::VersionMismatch {
                saved: loaded.version,
                current,
            });
        }
        Ok(())
    }

    /// Inserts decoded entries in order; nothing here can fail.
    fn load_snapshot(&self, loaded: LoadedPayload<K, V>) -> usize {
        let mut entries = loaded.entries;
        let lfu = self.policy() == Policy::Lfu;
        if lfu {
            // Our own snapshots are already ascending; a stable sort keeps
            // them as they are and makes every frequency placement O(1).
            entries.sort_by_key(|e| e.freq.unwrap_or(1));
        }
        // TinyLFU keeps the snapshot's order (probation, window, protected)
        // and raises each key's sketch estimate to its saved one, so the
        // entries that earned their place win admission if space runs out.
        let keeps_freq = lfu || matches!(self.policy(), Policy::TinyLfu | Policy::Adaptive);
        let aged_nanos = match (&self.inner.clock, loaded.saved_at_unix_ms) {
            (AnyClock::Monotonic, Some(saved)) => unix_millis()
                .saturating_sub(saved)
                .saturating_mul(1_000_000),
            _ => 0,
        };
        let now = self.now();
        let listen = !self.inner.listeners.is_empty();
        let mut restored = 0;
        for e in entries {
            let expires_at = match e.ttl_nanos {
                None => NEVER,
                Some(left) => match left.saturating_sub(aged_nanos) {
                    0 => continue,
                    left => now.saturating_add(left),
                },
            };
            let (key, value) = (e.key, e.value);
            let weight = self.weigh(&key, &value);
            let hash = self.hash(&key);
            let event = listen.then(|| (key.clone(), value.clone()));
            let tags: Option<Box<[Tag]>> = (!e.tags.is_empty())
                .then(|| e.tags.iter().map(|t| Arc::from(t.as_str())).collect());
            let item = Item {
                hash,
                key,
                value,
                expires_at,
                weight,
                tags,
            };
            let mut evicted = Evicted::new();
            let rejected = {
                let mut g = self.shard(hash).write();
                // The snapshot's entry lands where the snapshot puts it
                // rather than where an old one for its key was.
                match g.store(item, Place::AsNew, |_| now, &mut evicted) {
                    Ok(idx) => {
                        if let (Some(idx), true, Some(freq)) = (idx, keeps_freq, e.freq) {
                            g.set_frequency(idx, freq);
                        }
                        None
                    }
                    Err(pair) => Some(pair),
                }
            };
            if rejected.is_none() {
                restored += 1;
                if let Some((k, v)) = &event {
                    self.inner
                        .listeners
                        .emit(&Event::Inserted { key: k, value: v });
                }
            }
            drop(rejected);
            self.finish(evicted);
        }
        restored
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ManualClock;
    use std::time::Duration;

    fn lines(buf: &[u8]) -> (String, &[u8]) {
        let nl = buf.iter().position(|&b| b == b'\n').unwrap();
        (
            String::from_utf8(buf[..nl].to_vec()).unwrap(),
            &buf[nl + 1..],
        )
    }

    /// A framed snapshot around a hand-written payload.
    fn framed(format: SnapshotFormat, payload: &[u8]) -> Vec<u8> {
        let mut out = header_line(format, payload).into_bytes();
        out.extend_from_slice(payload);
        out
    }

    fn dir_names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn header_is_one_line_with_length_and_crc() {
        let cache: Cache<String, u32> = Cache::new(10);
        cache.insert("a".into(), 1);
        let mut buf = Vec::new();
        cache.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
        let (line, payload) = lines(&buf);
        let fields: Vec<&str> = line.split(' ').collect();
        assert_eq!(fields[..3], ["CACHELITE-SNAPSHOT", "1", "json"]);
        assert_eq!(fields[3], payload.len().to_string());
        assert_eq!(fields[4], format!("{:08x}", crc32fast::hash(payload)));
        let json: serde_json::Value = serde_json::from_slice(payload).unwrap();
        assert_eq!(json["policy"], "lru");
        assert_eq!(json["entries"][0]["key"], "a");
        assert_eq!(json["entries"][0]["value"], 1);
        assert!(json["entries"][0].get("ttl_nanos").is_none());
        assert!(json["entries"][0].get("tags").is_none());
    }

    #[test]
    fn header_parse_errors_are_specific() {
        let parse = |s: &str| parse_header(s.as_bytes());
        assert_eq!(
            parse("1 msgpack 12 0000abcd").unwrap(),
            Header {
                format: SnapshotFormat::MessagePack,
                len: 12,
                crc: 0xabcd
            }
        );
        assert!(matches!(
            parse("2 cbor whatever"),
            Err(SnapshotError::UnsupportedVersion {
                found: 2,
                supported: 1
            })
        ));
        assert!(matches!(
            parse("0 json 1 00000000"),
            Err(SnapshotError::UnsupportedVersion { found: 0, .. })
        ));
        assert!(
            matches!(parse("1 cbor 1 00000000"), Err(SnapshotError::UnknownCodec(c)) if c == "cbor")
        );
        for bad in [
            "",
            "x json 1 00000000",
            "+1 json 1 00000000",
            "1 json",
            "1 json 1 00000000 extra",
            "1 json -1 00000000",
            "1 json +1 00000000",
            "1 json 1 abc",
            "1 json 1 0000000g",
            "1 json 99999999999999999999999 00000000",
        ] {
            assert!(
                matches!(parse(bad), Err(SnapshotError::MalformedHeader(_))),
                "{bad:?}: {:?}",
                parse(bad)
            );
        }
        assert!(matches!(
            parse_header(b"1 json \xff 00000000"),
            Err(SnapshotError::MalformedHeader(_))
        ));
    }

    #[test]
    fn reader_errors_for_foreign_short_and_long_input() {
        let read = |b: &[u8]| read_snapshot(&mut &b[..], |_| None).map(|(f, p)| (f, p.len()));
        assert!(matches!(read(b""), Err(SnapshotError::NotASnapshot)));
        assert!(matches!(
            read(b"{\"a\":1}"),
            Err(SnapshotError::NotASnapshot)
        ));
        assert!(matches!(read(b"CACHE"), Err(SnapshotError::Truncated)));
        assert!(matches!(
            read(b"CACHELITE-SNAPSHOT 1 json"),
            Err(SnapshotError::Truncated)
        ));
        let long = format!("CACHELITE-SNAPSHOT 1 json {}\n", "1".repeat(200));
        assert!(matches!(
            read(long.as_bytes()),
            Err(SnapshotError::MalformedHeader(_))
        ));
        // A length far beyond the data: no allocation of that size, just Truncated.
        let absurd = b"CACHELITE-SNAPSHOT 1 json 18446744073709551615 00000000\n{}";
        assert!(matches!(read(absurd), Err(SnapshotError::Truncated)));
        let ok = framed(SnapshotFormat::Json, b"{}");
        assert_eq!(read(&ok).unwrap(), (SnapshotFormat::Json, 2));
    }

    #[test]
    fn restore_from_stops_at_the_end_of_the_payload() {
        let a: Cache<u32, u32> = Cache::new(10);
        a.insert(1, 10);
        let b: Cache<u32, u32> = Cache::new(10);
        b.insert(2, 20);
        let mut stream = Vec::new();
        a.snapshot_to(&mut stream, SnapshotFormat::Json).unwrap();
        b.snapshot_to(&mut stream, SnapshotFormat::MessagePack)
            .unwrap();
        stream.extend_from_slice(b"tail");
        let mut r = stream.as_slice();
        let c: Cache<u32, u32> = Cache::new(10);
        assert_eq!(c.restore_from(&mut r).unwrap(), 1);
        assert_eq!(c.restore_from(&mut r).unwrap(), 1);
        assert_eq!(r, b"tail");
        assert_eq!((c.get(&1), c.get(&2)), (Some(10), Some(20)));
    }

    #[test]
    fn a_file_with_bytes_after_the_payload_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        let cache: Cache<u32, u32> = Cache::new(10);
        cache.insert(1, 1);
        cache.snapshot(&path).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes.push(b'\n');
        fs::write(&path, &bytes).unwrap();
        let fresh: Cache<u32, u32> = Cache::new(10);
        assert!(matches!(
            fresh.restore(&path),
            Err(SnapshotError::TrailingData)
        ));
        assert!(fresh.is_empty());
    }

    #[test]
    fn a_declared_length_beyond_the_file_fails_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        fs::write(
            &path,
            b"CACHELITE-SNAPSHOT 1 json 18446744073709551615 00000000\n{}",
        )
        .unwrap();
        let c: Cache<u32, u32> = Cache::new(10);
        assert!(matches!(c.restore(&path), Err(SnapshotError::Truncated)));
    }

    #[test]
    fn wrong_types_fail_to_decode_and_change_nothing() {
        let src: Cache<String, String> = Cache::new(10);
        src.insert("a".into(), "not a number".into());
        let mut buf = Vec::new();
        src.snapshot_to(&mut buf, SnapshotFormat::MessagePack)
            .unwrap();
        let dst: Cache<String, u32> = Cache::new(10);
        dst.insert("keep".into(), 1);
        let err = dst.restore_from(buf.as_slice()).unwrap_err();
        assert!(matches!(err, SnapshotError::Decode(_)), "{err}");
        assert_eq!(dst.keys(), ["keep".to_string()]);
    }

    /// Serializes fine until it meets the poisoned value.
    #[derive(Clone, Debug, PartialEq)]
    struct Fragile(u32);

    impl Serialize for Fragile {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 == 13 {
                Err(serde::ser::Error::custom("unlucky value"))
            } else {
                s.serialize_u32(self.0)
            }
        }
    }

    #[test]
    fn a_failed_save_leaves_the_old_snapshot_and_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache: Cache<u32, Fragile> = Cache::new(100);
        for i in 0..10 {
            cache.insert(i, Fragile(i));
        }
        for format in ["s.json", "s.msgpack"] {
            let path = dir.path().join(format);
            assert_eq!(cache.snapshot(&path).unwrap(), 10);
            let before = fs::read(&path).unwrap();
            cache.insert(99, Fragile(13));
            let err = cache.snapshot(&path).unwrap_err();
            assert!(
                matches!(&err, SnapshotError::Encode(m) if m.contains("unlucky value")),
                "{err}"
            );
            assert_eq!(fs::read(&path).unwrap(), before);
            let mut sink = Vec::new();
            let fmt = SnapshotFormat::from_path(&path).unwrap();
            assert!(cache.snapshot_to(&mut sink, fmt).is_err());
            assert!(sink.is_empty(), "nothing is written when encoding fails");
            cache.remove(&99);
        }
        assert_eq!(dir_names(dir.path()), ["s.json", "s.msgpack"]);
    }

    #[test]
    fn a_failed_rename_removes_the_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A non-empty directory where the snapshot should go: rename fails.
        let target = dir.path().join("taken.json");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("inside"), b"x").unwrap();
        let cache: Cache<u32, u32> = Cache::new(10);
        cache.insert(1, 1);
        assert!(matches!(cache.snapshot(&target), Err(SnapshotError::Io(_))));
        assert_eq!(dir_names(dir.path()), ["taken.json"]);
        assert_eq!(dir_names(&target), ["inside"]);
    }

    #[cfg(unix)]
    #[test]
    fn replacing_a_snapshot_keeps_its_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.json");
        let cache: Cache<u32, u32> = Cache::new(10);
        cache.snapshot(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        cache.insert(1, 1);
        cache.snapshot(&path).unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_relative_path_in_the_current_directory_works() {
        // No parent component: the temporary file goes in ".".
        let name = format!("cachelite-unit-{}.json", std::process::id());
        let cache: Cache<u32, u32> = Cache::new(10);
        cache.insert(1, 2);
        cache.snapshot(&name).unwrap();
        let copy: Cache<u32, u32> = Cache::new(10);
        let restored = copy.restore(&name);
        fs::remove_file(&name).unwrap();
        assert_eq!(restored.unwrap(), 1);
        assert_eq!(copy.get(&1), Some(2));
    }

    #[test]
    fn unknown_extension_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache: Cache<u32, u32> = Cache::new(10);
        for name in ["x.txt", "noext", "x.json.bak"] {
            let err = cache.snapshot(dir.path().join(name)).unwrap_err();
            assert!(
                matches!(&err, SnapshotError::UnknownExtension(p) if p.ends_with(name)),
                "{err}"
            );
            assert!(err.to_string().contains(".json"), "{err}");
        }
        assert!(dir_names(dir.path()).is_empty());
    }

    fn entry_json(key: u32, ttl_nanos: Option<u64>) -> String {
        match ttl_nanos {
            Some(t) => format!(r#"{{"key":{key},"value":{key},"ttl_nanos":{t}}}"#),
            None => format!(r#"{{"key":{key},"value":{key}}}"#),
        }
    }

    #[test]
    fn wall_clock_time_since_the_save_counts_with_the_default_clock() {
        let saved_at = unix_millis() - 10_000;
        let payload = format!(
            r#"{{"policy":"lru","saved_at_unix_ms":{saved_at},"entries":[{},{},{}]}}"#,
            entry_json(1, Some(5_000_000_000)),
            entry_json(2, Some(60_000_000_000)),
            entry_json(3, None),
        );
        let bytes = framed(SnapshotFormat::Json, payload.as_bytes());

        let real: Cache<u32, u32> = Cache::new(10);
        assert_eq!(real.restore_from(bytes.as_slice()).unwrap(), 2);
        assert_eq!(real.get(&1), None, "expired while the snapshot sat on disk");
        let left = real.ttl(&2).unwrap();
        assert!(
            left <= Duration::from_secs(50) && left > Duration::from_secs(45),
            "{left:?}"
        );
        assert_eq!(real.ttl(&3), None);
        assert_eq!(real.get(&3), Some(3));

        // A manual clock is the only time there is: nothing is aged.
        let manual: Cache<u32, u32> = Cache::builder().clock(ManualClock::new()).build();
        assert_eq!(manual.restore_from(bytes.as_slice()).unwrap(), 3);
        assert_eq!(manual.ttl(&1), Some(Duration::from_secs(5)));
    }

    #[test]
    fn expired_or_zero_ttl_entries_are_skipped_at_restore() {
        let payload = format!(
            r#"{{"entries":[{},{}],"from_the_future":true}}"#,
            entry_json(1, Some(0)),
            entry_json(2, Some(1)),
        );
        let c: Cache<u32, u32> = Cache::builder().clock(ManualClock::new()).build();
        assert_eq!(
            c.restore_from(framed(SnapshotFormat::Json, payload.as_bytes()).as_slice())
                .unwrap(),
            1
        );
        assert_eq!(c.keys(), [2]);
    }

    #[test]
    fn shards_interleave_evenly_keeping_each_order() {
        let e = |key: u32, freq: Option<u64>| SavedEntry {
            key,
            value: (),
            ttl_nanos: None,
            tags: Box::default(),
            freq,
        };
        let keys = |v: Vec<SavedEntry<u32, ()>>| v.into_iter().map(|e| e.key).collect::<Vec<_>>();
        let lru = vec![
            (10..14).map(|k| e(k, None)).collect(),
            vec![e(20, None), e(21, None)],
            vec![],
        ];
        // Positions 1/8 3/8 5/8 7/8 and 1/4 3/4.
        assert_eq!(keys(interleave(lru)), [10, 20, 11, 12, 21, 13]);
        let lfu = vec![
            vec![e(10, Some(1)), e(11, Some(1)), e(12, Some(5))],
            vec![e(20, Some(2)), e(21, Some(3))],
        ];
        assert_eq!(keys(interleave(lfu)), [10, 11, 20, 21, 12]);
        assert_eq!(keys(interleave(vec![vec![e(1, None), e(2, None)]])), [1, 2]);
    }

    #[test]
    fn lfu_counts_survive_and_a_merged_key_takes_the_snapshot_count() {
        let src: Cache<u32, u32> = Cache::builder().max_items(10).policy(Policy::Lfu).build();
        src.insert(1, 1);
        src.insert(2, 2);
        for _ in 0..4 {
            src.get(&2);
        }
        let mut buf = Vec::new();
        src.snapshot_to(&mut buf, SnapshotFormat::MessagePack)
            .unwrap();

        let dst: Cache<u32, u32> = Cache::builder().max_items(10).policy(Policy::Lfu).build();
        dst.insert(2, 0);
        for _ in 0..20 {
            dst.get(&2);
        }
        dst.insert(3, 3);
        assert_eq!(dst.restore_from(buf.as_slice()).unwrap(), 2);
        assert_eq!(dst.get(&2), Some(2));
        let mut shard = dst.inner.shards[0].write();
        shard.check_invariants();
        let mut freq = |k: u32| {
            let idx = shard.find(dst.hash(&k), &k).unwrap();
            shard.frequency(idx)
        };
        assert_eq!(freq(1), Some(1));
        assert_eq!(freq(2), Some(6), "5 from the snapshot, then one read");
        assert_eq!(freq(3), Some(1));
        // Equal counts: the restored entry is newer than the existing one.
        let order: Vec<u32> = shard
            .eviction_order()
            .into_iter()
            .map(|i| shard.entry(i).key)
            .collect();
        assert_eq!(order, [3, 1, 2]);
    }

    #[test]
    fn adaptive_entries_and_their_sketch_standing_survive_a_round_trip() {
        let build = || -> Cache<u32, u32> {
            Cache::builder()
                .max_items(10)
                .shards(1)
                .policy(Policy::Adaptive)
                .build()
        };
        let src = build();
        for k in 0..6 {
            src.insert(k, k);
        }
        for _ in 0..5 {
            src.get(&2);
        }
        let mut buf = Vec::new();
        src.snapshot_to(&mut buf, SnapshotFormat::MessagePack)
            .unwrap();
        let dst = build();
        assert_eq!(dst.restore_from(buf.as_slice()).unwrap(), 6);
        let mut shard = dst.inner.shards[0].write();
        shard.check_invariants();
        let mut freq = |k: u32| {
            let idx = shard.find(dst.hash(&k), &k).unwrap();
            shard.frequency(idx).unwrap()
        };
        assert!(freq(2) >= 6, "the hot key keeps its count: {}", freq(2));
        for k in [0, 1, 3, 4, 5] {
            assert!(freq(k) < freq(2), "k{k}");
        }
    }

    #[test]
    fn listeners_hear_restored_inserts_and_replacements() {
        use std::sync::Mutex;
        let log = Arc::new(Mutex::new(Vec::new()));
        let sink = log.clone();
        let dst: Cache<u32, u32> = Cache::builder()
            .on_event(move |e: &Event<'_, u32, u32>| match e {
                Event::Inserted { key, .. } => sink.lock().unwrap().push(format!("ins {key}")),
                Event::Removed { key, cause, .. } => {
                    sink.lock().unwrap().push(format!("rm {key} {cause:?}"));
                }
                _ => {}
            })
            .build();
        dst.insert(1, 0);
        let src: Cache<u32, u32> = Cache::new(10);
        src.insert(1, 1);
        let mut buf = Vec::new();
        src.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
        dst.restore_from(buf.as_slice()).unwrap();
        assert_eq!(*log.lock().unwrap(), ["ins 1", "ins 1", "rm 1 Replaced"]);
    }

    #[test]
    fn entries_too_heavy_for_the_new_cache_are_rejected_not_counted() {
        let src: Cache<u32, String> = Cache::new(10);
        src.insert(1, "x".repeat(10));
        src.insert(2, "x".repeat(1000));
        let mut buf = Vec::new();
        src.snapshot_to(&mut buf, SnapshotFormat::Json).unwrap();
        let dst: Cache<u32, String> = Cache::builder()
            .max_weight(100)
            .weigher(|_, v: &String| v.len())
            .build();
        assert_eq!(dst.restore_from(buf.as_slice()).unwrap(), 1);
        assert_eq!(dst.keys(), [1]);
        assert_eq!(dst.stats().rejections, 1);
    }
}
