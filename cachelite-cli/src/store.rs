//! The file-backed store behind the `cachelite` commands.
//!
//! A store is one snapshot file (JSON or MessagePack, chosen by its
//! extension) plus two sidecars next to it:
//!
//! - `<file>.lock`, an empty file that every invocation locks with
//!   [`File::lock`] (exclusive, for commands that write) or
//!   [`File::lock_shared`] (for commands that only read). A writer holds
//!   the lock from before it restores the file until after it has written
//!   it back, so two concurrent `set`s never lose each other's write.
//! - `<file>.stats`, the hit and miss counters of `get` and the counts of
//!   writes, kept across invocations for `cachelite stats`.
//!
//! The snapshot itself is written atomically by the engine (temporary file,
//! fsync, rename), so a reader, or a crash, never sees half a file.
//!
//! ```no_run
//! use cachelite_cli::store::{Access, Store};
//!
//! let store = Store::new(".cachelite/store.json")?;
//! let session = store.open(Access::Write)?;
//! session.cache().insert("greeting".into(), "hello".into());
//! session.save()?;
//! # Ok::<(), cachelite_cli::store::StoreError>(())
//! ```

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use cachelite::{SnapshotError, SnapshotFormat};
use serde::{Deserialize, Serialize};

use crate::JsonCache;

/// Where the store lives when neither `--store` nor `CACHELITE_STORE` says.
pub const DEFAULT_STORE: &str = ".cachelite/store.json";

/// A store file and its sidecars. Opening a [`Session`] locks it.
#[derive(Clone, Debug)]
pub struct Store {
    path: PathBuf,
}

/// Whether a session will write the store back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Shared lock; the store is not written. Many readers at once.
    Read,
    /// Exclusive lock, held until the session is dropped. Creates the
    /// store's directory if needed.
    Write,
}

/// Counters kept across invocations in the `.stats` sidecar.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counters {
    /// `get`s that found their key.
    pub hits: u64,
    /// `get`s that did not.
    pub misses: u64,
    /// Values stored by `set`.
    pub sets: u64,
    /// Keys removed by `del`.
    pub deletes: u64,
    /// Keys removed by `invalidate` and `flush`.
    pub invalidations: u64,
}

impl Counters {
    /// `hits / (hits + misses)`, or 0 before the first `get`.
    ///
    /// ```
    /// let c = cachelite_cli::store::Counters { hits: 3, misses: 1, ..Default::default() };
    /// assert_eq!(c.hit_rate(), 0.75);
    /// ```
    #[must_use]
    #[allow(clippy::cast_precision_loss)]
    pub fn hit_rate(&self) -> f64 {
        // In floating point: counters read from a `.stats` file may be
        // anything, and their sum must not overflow.
        let reads = self.hits as f64 + self.misses as f64;
        if reads == 0.0 {
            0.0
        } else {
            self.hits as f64 / reads
        }
    }
}

/// An open store: the lock, the restored cache and the counters. Dropping
/// it releases the lock.
#[derive(Debug)]
pub struct Session {
    path: PathBuf,
    cache: JsonCache,
    counters: Counters,
    // Held for its lock; closing the file releases it.
    _lock: Option<File>,
}

/// Why a store could not be opened, read or written. Its `Display` is one
/// line naming the file.
#[derive(Debug)]
pub enum StoreError {
    /// The file's extension names no snapshot format.
    UnknownFormat(PathBuf),
    /// The store file exists but could not be restored.
    Load(PathBuf, SnapshotError),
    /// The store file could not be written.
    Save(PathBuf, SnapshotError),
    /// A file or directory operation failed.
    Io(PathBuf, &'static str, io::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Messages are printed on one line, whatever the inner errors say.
        let line = match self {
            StoreError::UnknownFormat(p) => format!(
                "cannot tell the format of store file {}: name it *.json or *.msgpack (or *.mpk)",
                p.display()
            ),
            StoreError::Load(p, e) => format!("cannot read store file {}: {e}", p.display()),
            StoreError::Save(p, e) => format!("cannot write store file {}: {e}", p.display()),
            StoreError::Io(p, what, e) => format!("cannot {what} {}: {e}", p.display()),
        };
        f.write_str(&one_line(&line))
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::UnknownFormat(_) => None,
            StoreError::Load(_, e) | StoreError::Save(_, e) => Some(e),
            StoreError::Io(_, _, e) => Some(e),
        }
    }
}

/// Joins the lines of a message, so errors stay one line on a terminal.
pub(crate) fn one_line(text: &str) -> String {
    text.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Store {
    /// A store at `path`, which must end in an extension that names a
    /// snapshot format (`.json`, `.msgpack`). Touches no file.
    ///
    /// # Errors
    /// [`StoreError::UnknownFormat`] for any other name.
    ///
    /// ```
    /// use cachelite_cli::store::Store;
    /// assert!(Store::new("data/cache.json").is_ok());
    /// assert!(Store::new("data/cache.txt").is_err());
    /// ```
    pub fn new(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        if SnapshotFormat::from_path(&path).is_none() {
            return Err(StoreError::UnknownFormat(path));
        }
        Ok(Self { path })
    }

    /// The store file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Locks the store and restores it into a fresh, unbounded cache (an
    /// empty one if the file does not exist yet).
    ///
    /// A reader of a store whose directory does not exist takes no lock and
    /// creates nothing: it sees an empty store.
    ///
    /// # Errors
    /// If the lock cannot be taken or the file cannot be restored.
    pub fn open(&self, access: Access) -> Result<Session, StoreError> {
        let lock = match access {
            Access::Write => {
                if let Some(dir) = self.dir() {
                    fs::create_dir_all(dir)
                        .map_err(|e| StoreError::Io(dir.to_owned(), "create directory", e))?;
                }
                let file = self.lock_file()?;
                file.lock()
                    .map_err(|e| StoreError::Io(lock_path(&self.path), "lock", e))?;
                remove_stale_temps(&self.path);
                Some(file)
            }
            Access::Read if !self.has_directory() => None,
            Access::Read => match self.lock_file() {
                Ok(file) => {
                    file.lock_shared()
                        .map_err(|e| StoreError::Io(lock_path(&self.path), "lock", e))?;
                    Some(file)
                }
                // A read-only directory: writers cannot be there either, and
                // the file is only ever replaced whole, so read unlocked.
                Err(_) => None,
            },
        };
        let cache = new_store_cache();
        match fs::metadata(&self.path) {
            Ok(_) => {
                cache
                    .restore(&self.path)
                    .map_err(|e| StoreError::Load(self.path.clone(), e))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(StoreError::Io(self.path.clone(), "read", e)),
        }
        let counters = read_counters(&stats_path(&self.path));
        Ok(Session {
            path: self.path.clone(),
            cache,
            counters,
            _lock: lock,
        })
    }

    /// Whether the directory that holds (or will hold) the store file
    /// exists, so that a session can lock it without creating anything.
    #[must_use]
    pub fn has_directory(&self) -> bool {
        self.dir().is_none_or(Path::is_dir)
    }

    fn dir(&self) -> Option<&Path> {
        self.path.parent().filter(|d| !d.as_os_str().is_empty())
    }

    fn lock_file(&self) -> Result<File, StoreError> {
        let path = lock_path(&self.path);
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| StoreError::Io(path, "open lock file", e))
    }
}

/// The cache a store is restored into: unbounded, weighing entries by
/// their JSON size so `stats` can report bytes.
fn new_store_cache() -> JsonCache {
    cachelite::Cache::builder()
        .weigher(|k: &String, v| crate::weigh(k, v))
        .build()
}

impl Session {
    /// The store file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The restored cache. Changes stay in memory until [`Session::save`].
    #[must_use]
    pub fn cache(&self) -> &JsonCache {
        &self.cache
    }

    /// The counters as last saved, plus this session's changes.
    #[must_use]
    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// Changes the counters; they are written by [`Session::save`] or
    /// [`Session::save_counters`].
    pub fn counters_mut(&mut self) -> &mut Counters {
        &mut self.counters
    }

    /// Writes the cache back to the store file atomically, then, on a
    /// best-effort basis, the counters. Returns the number of entries
    /// written.
    ///
    /// # Errors
    /// If the store file cannot be written. A failure to write the
    /// advisory counters is not an error: the data is what matters.
    pub fn save(&self) -> Result<usize, StoreError> {
        let n = self
            .cache
            .snapshot(&self.path)
            .map_err(|e| StoreError::Save(self.path.clone(), e))?;
        let _ = self.save_counters();
        Ok(n)
    }

    /// Writes only the counters.
    ///
    /// # Errors
    /// If the `.stats` file cannot be written.
    pub fn save_counters(&self) -> Result<(), StoreError> {
        let path = stats_path(&self.path);
        let bytes = serde_json::to_vec(&self.counters).unwrap_or_default();
        write_atomic(&path, &bytes).map_err(|e| StoreError::Io(path, "write", e))
    }

    /// The size of the store file in bytes, if it exists.
    #[must_use]
    pub fn file_size(&self) -> Option<u64> {
        fs::metadata(&self.path).ok().map(|m| m.len())
    }
}

/// Takes the exclusive lock of the store at `path` (creating its sidecar
/// lock file), for a writer that does not go through a [`Session`], such
/// as the server saving its snapshot.
///
/// # Errors
/// If the lock file cannot be created or locked.
pub fn lock_exclusive(path: &Path) -> Result<File, StoreError> {
    let lock = lock_path(path);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock)
        .map_err(|e| StoreError::Io(lock.clone(), "open lock file", e))?;
    file.lock().map_err(|e| StoreError::Io(lock, "lock", e))?;
    Ok(file)
}

/// Removes the temporary files that writers of `path` killed mid-save
/// left next to it (`.NAME.PID.RANDOM.tmp`, as the engine names them), so
/// that crashes do not pile them up. Called only under the store's
/// exclusive lock, when no other writer of this store can be mid-save, so
/// every such file is stale.
pub(crate) fn remove_stale_temps(path: &Path) {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return;
    };
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = format!(".{name}.");
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(mid) = file_name
            .to_str()
            .and_then(|f| f.strip_prefix(prefix.as_str()))
            .and_then(|r| r.strip_suffix(".tmp"))
        else {
            continue;
        };
        let Some((pid, random)) = mid.split_once('.') else {
            continue;
        };
        if !pid.is_empty()
            && pid.bytes().all(|b| b.is_ascii_digit())
            && random.len() == 16
            && random.bytes().all(|b| b.is_ascii_hexdigit())
        {
            let _ = fs::remove_file(entry.path());
        }
    }
}

fn sidecar(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn lock_path(path: &Path) -> PathBuf {
    sidecar(path, ".lock")
}

fn stats_path(path: &Path) -> PathBuf {
    sidecar(path, ".stats")
}

/// Counters are advisory: a missing or damaged `.stats` file reads as zero
/// rather than making the store unusable.
fn read_counters(path: &Path) -> Counters {
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sidecar(path, ".tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn save_then_open_round_trips_values_and_counters() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path().join("s.json")).unwrap();
        let mut s = store.open(Access::Write).unwrap();
        s.cache().insert("a".into(), json!({"x": 1}));
        s.counters_mut().sets += 1;
        assert_eq!(s.save().unwrap(), 1);
        drop(s);
        let s = store.open(Access::Read).unwrap();
        assert_eq!(s.cache().peek("a"), Some(json!({"x": 1})));
        assert_eq!(s.counters().sets, 1);
    }

    #[test]
    fn reader_of_missing_directory_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/s.json");
        let s = Store::new(&path).unwrap().open(Access::Read).unwrap();
        assert!(s.cache().is_empty());
        assert!(!dir.path().join("nested").exists());
    }

    #[test]
    fn corrupt_file_is_a_one_line_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(&path, "{ not json\n\n").unwrap();
        let err = Store::new(&path).unwrap().open(Access::Read).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("s.json"), "{msg}");
        assert!(!msg.contains('\n'), "{msg}");
    }

    #[test]
    fn a_writer_removes_temporary_files_left_by_killed_writers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        let stale = dir.path().join(".s.json.4242.0123456789abcdef.tmp");
        let other = dir.path().join(".t.json.4242.0123456789abcdef.tmp");
        let mine = dir.path().join(".s.json.notes.tmp");
        for f in [&stale, &other, &mine] {
            fs::write(f, "half a snapshot").unwrap();
        }
        let s = Store::new(&path).unwrap().open(Access::Write).unwrap();
        s.save().unwrap();
        assert!(!stale.exists());
        assert!(other.exists() && mine.exists());
    }

    #[test]
    fn damaged_counters_read_as_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.json");
        fs::write(stats_path(&path), "garbage").unwrap();
        let s = Store::new(&path).unwrap().open(Access::Read).unwrap();
        assert_eq!(s.counters(), Counters::default());
    }
}
