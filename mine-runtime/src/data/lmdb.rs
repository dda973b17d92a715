//! One LMDB part of a modality: opened read-only without a lock file, like MineStudio does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use heed::types::Bytes;
use heed::{Database, Env, EnvFlags, EnvOpenOptions, WithoutTls};

use super::error::{DataError, DataResult, Location};
use super::pickle::{self, PyValue};

/// One episode listed in a part's `__chunk_infos__`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Episode name.
    pub episode: String,
    /// Index of the episode inside this part (used in chunk keys).
    pub episode_idx: i64,
    /// Stored frames (a multiple of the chunk size).
    pub num_frames: usize,
}

/// An LMDB environment opened read-only without a lock file (its main database).
pub struct LmdbEnv {
    path: PathBuf,
    env: Env<WithoutTls>,
    db: Database<Bytes, Bytes>,
}

impl std::fmt::Debug for LmdbEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbEnv").field("path", &self.path).finish()
    }
}

/// An opened LMDB part with its decoded meta keys.
pub struct LmdbPart {
    store: LmdbEnv,
    /// Frames per chunk (`__chunk_size__`).
    pub chunk_size: usize,
    /// Episodes of this part (`__chunk_infos__`).
    pub chunk_infos: Vec<ChunkInfo>,
}

impl std::fmt::Debug for LmdbPart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LmdbPart")
            .field("path", &self.store.path)
            .field("chunk_size", &self.chunk_size)
            .field("episodes", &self.chunk_infos.len())
            .finish()
    }
}

/// heed refuses to open one path twice per process, so opened environments are shared.
static OPENED: LazyLock<Mutex<HashMap<PathBuf, Env<WithoutTls>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The chunk key MineStudio writes: Python's `str((episode_idx, chunk_start))`.
pub fn chunk_key(episode_idx: i64, chunk_start: usize) -> String {
    format!("({episode_idx}, {chunk_start})")
}

fn open_env(path: &Path, at: &Location) -> DataResult<Env<WithoutTls>> {
    let data = path.join("data.mdb");
    let meta = std::fs::metadata(&data).map_err(|cause| DataError::Io {
        at: at.clone(),
        path: data.clone(),
        cause,
    })?;
    let canonical = path.canonicalize().map_err(|cause| DataError::Io {
        at: at.clone(),
        path: path.to_path_buf(),
        cause,
    })?;
    let mut opened = OPENED.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(env) = opened.get(&canonical) {
        return Ok(env.clone());
    }
    // Map only the file (rounded up to whole pages) instead of the 1 TiB the writer asked for.
    let page = 4096u64;
    let map_size = meta.len().div_ceil(page).max(1) * page;
    let map_size = usize::try_from(map_size).map_err(|_| DataError::Lmdb {
        at: at.clone(),
        message: "data.mdb is too large to map".into(),
    })?;
    let mut options = EnvOpenOptions::new().read_txn_without_tls();
    options.map_size(map_size).max_readers(1024);
    // SAFETY: the environment is opened read-only; MineStudio datasets are immutable once
    // written, which is the condition LMDB's NO_LOCK mode needs.
    let env = unsafe {
        options.flags(EnvFlags::READ_ONLY | EnvFlags::NO_LOCK);
        options.open(&canonical)
    }
    .map_err(|e| DataError::Lmdb {
        at: at.clone(),
        message: e.to_string(),
    })?;
    opened.insert(canonical, env.clone());
    Ok(env)
}

impl LmdbEnv {
    /// Opens the environment in directory `path` (`data.mdb` inside); `at` says what it is
    /// for error messages.
    pub fn open(path: &Path, at: &Location) -> DataResult<Self> {
        let env = open_env(path, at)?;
        let lmdb_err = |e: heed::Error| DataError::Lmdb {
            at: at.clone(),
            message: e.to_string(),
        };
        let rtxn = env.read_txn().map_err(lmdb_err)?;
        let db = env
            .open_database::<Bytes, Bytes>(&rtxn, None)
            .map_err(lmdb_err)?
            .ok_or_else(|| DataError::Lmdb {
                at: at.clone(),
                message: "no main database".into(),
            })?;
        drop(rtxn);
        Ok(Self {
            path: path.to_path_buf(),
            env,
            db,
        })
    }

    /// The environment's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw value stored under `key`, if any.
    pub fn get(&self, key: &str, at: &Location) -> DataResult<Option<Vec<u8>>> {
        let lmdb_err = |e: heed::Error| DataError::Lmdb {
            at: at.clone(),
            message: e.to_string(),
        };
        let rtxn = self.env.read_txn().map_err(lmdb_err)?;
        let value = self.db.get(&rtxn, key.as_bytes()).map_err(lmdb_err)?;
        Ok(value.map(<[u8]>::to_vec))
    }

    /// Whether `key` is present (the value is not copied).
    pub fn contains(&self, key: &str, at: &Location) -> DataResult<bool> {
        let lmdb_err = |e: heed::Error| DataError::Lmdb {
            at: at.clone(),
            message: e.to_string(),
        };
        let rtxn = self.env.read_txn().map_err(lmdb_err)?;
        Ok(self
            .db
            .get(&rtxn, key.as_bytes())
            .map_err(lmdb_err)?
            .is_some())
    }

    /// The value under `key`, or an error naming the missing key.
    pub fn require(&self, key: &str, at: &Location) -> DataResult<Vec<u8>> {
        self.get(key, at)?.ok_or_else(|| DataError::MissingKey {
            at: at.clone(),
            key: key.to_string(),
        })
    }

    /// All keys in LMDB order.
    pub fn keys(&self) -> DataResult<Vec<String>> {
        let at = Location::dataset(&self.path);
        let lmdb_err = |e: heed::Error| DataError::Lmdb {
            at: at.clone(),
            message: e.to_string(),
        };
        let rtxn = self.env.read_txn().map_err(lmdb_err)?;
        let mut keys = Vec::new();
        for entry in self.db.iter(&rtxn).map_err(lmdb_err)? {
            let (k, _) = entry.map_err(lmdb_err)?;
            keys.push(String::from_utf8_lossy(k).into_owned());
        }
        Ok(keys)
    }

    /// The pickle under `key`, decoded (errors name the key).
    pub fn pickle(&self, key: &str, at: &Location) -> DataResult<PyValue> {
        let bytes = self.require(key, at)?;
        pickle::loads(&bytes).map_err(|e| DataError::Pickle {
            at: at.clone().with_chunk(key),
            message: e.to_string(),
        })
    }
}

impl LmdbPart {
    /// Opens a part directory (`data.mdb` inside) and reads its meta keys.
    pub fn open(path: &Path, modality: &str) -> DataResult<Self> {
        let at = Location::dataset(path).with_modality(modality);
        let mut part = Self {
            store: LmdbEnv::open(path, &at)?,
            chunk_size: 0,
            chunk_infos: Vec::new(),
        };
        let chunk_size = part.meta_int("__chunk_size__", &at)?;
        part.chunk_size = usize::try_from(chunk_size)
            .ok()
            .filter(|&c| c > 0)
            .ok_or_else(|| DataError::Pickle {
                at: at.clone(),
                message: format!("__chunk_size__ is {chunk_size}"),
            })?;
        part.chunk_infos = part.read_chunk_infos(&at)?;
        Ok(part)
    }

    /// The part's directory.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The raw value stored under `key`, if any.
    pub fn get(&self, key: &str, at: &Location) -> DataResult<Option<Vec<u8>>> {
        self.store.get(key, at)
    }

    /// Whether `key` is present (the value is not copied).
    pub fn contains(&self, key: &str, at: &Location) -> DataResult<bool> {
        self.store.contains(key, at)
    }

    /// The value under `key`, or an error naming the missing key.
    pub fn require(&self, key: &str, at: &Location) -> DataResult<Vec<u8>> {
        self.store.require(key, at)
    }

    /// All keys in LMDB order.
    pub fn keys(&self) -> DataResult<Vec<String>> {
        self.store.keys()
    }

    fn meta(&self, key: &str, at: &Location) -> DataResult<PyValue> {
        self.store.pickle(key, at)
    }

    fn meta_int(&self, key: &str, at: &Location) -> DataResult<i64> {
        let value = self.meta(key, at)?;
        value.as_int().ok_or_else(|| DataError::Pickle {
            at: at.clone().with_chunk(key),
            message: format!("expected an int, found a {}", value.type_name()),
        })
    }

    fn read_chunk_infos(&self, at: &Location) -> DataResult<Vec<ChunkInfo>> {
        let key = "__chunk_infos__";
        let bad = |message: String| DataError::Pickle {
            at: at.clone().with_chunk(key),
            message,
        };
        let PyValue::List(items) = self.meta(key, at)? else {
            return Err(bad("expected a list".into()));
        };
        items
            .iter()
            .map(|item| {
                let episode = item.get("episode").and_then(PyValue::as_str);
                let idx = item.get("episode_idx").and_then(PyValue::as_int);
                let frames = item.get("num_frames").and_then(PyValue::as_int);
                match (episode, idx, frames) {
                    (Some(e), Some(i), Some(n)) if n >= 0 => Ok(ChunkInfo {
                        episode: e.to_string(),
                        episode_idx: i,
                        num_frames: n as usize,
                    }),
                    _ => Err(bad(format!(
                        "entry is not {{episode: str, episode_idx: int, num_frames: int}}: {item:?}"
                    ))),
                }
            })
            .collect()
    }
}
