//! Writing LMDB parts in MineStudio's layout (used by the converter and by tests).

use std::path::{Path, PathBuf};

use heed::types::Bytes;
use heed::{Database, Env, EnvOpenOptions, WithoutTls};

use super::error::{DataError, DataResult, Location};
use super::lmdb::{ChunkInfo, chunk_key};
use super::pickle::{PyValue, dumps};

/// Address space reserved for a part being written (LMDB grows the file only as needed).
const MAP_SIZE: usize = 1 << 40;

/// A writable LMDB environment (directory mode, unnamed main database).
pub struct LmdbWriter {
    path: PathBuf,
    env: Env<WithoutTls>,
    db: Database<Bytes, Bytes>,
}

impl LmdbWriter {
    /// Creates (or opens for writing) the environment in directory `path`.
    pub fn open(path: &Path) -> DataResult<Self> {
        let at = Location::dataset(path);
        std::fs::create_dir_all(path).map_err(|cause| DataError::Io {
            at: at.clone(),
            path: path.to_path_buf(),
            cause,
        })?;
        let err = |e: heed::Error| DataError::Lmdb {
            at: at.clone(),
            message: e.to_string(),
        };
        let mut options = EnvOpenOptions::new().read_txn_without_tls();
        options.map_size(MAP_SIZE);
        // SAFETY: the directory is written by this process only while the writer lives.
        let env = unsafe { options.open(path) }.map_err(err)?;
        let mut wtxn = env.write_txn().map_err(err)?;
        let db = env
            .create_database::<Bytes, Bytes>(&mut wtxn, None)
            .map_err(err)?;
        wtxn.commit().map_err(err)?;
        Ok(Self {
            path: path.to_path_buf(),
            env,
            db,
        })
    }

    /// Stores `value` under `key` (one transaction per call).
    pub fn put(&self, key: &str, value: &[u8]) -> DataResult<()> {
        let err = |e: heed::Error| DataError::Lmdb {
            at: Location::dataset(&self.path).with_chunk(key),
            message: e.to_string(),
        };
        let mut wtxn = self.env.write_txn().map_err(err)?;
        self.db.put(&mut wtxn, key.as_bytes(), value).map_err(err)?;
        wtxn.commit().map_err(err)
    }

    /// Removes `key`.
    pub fn delete(&self, key: &str) -> DataResult<()> {
        let err = |e: heed::Error| DataError::Lmdb {
            at: Location::dataset(&self.path).with_chunk(key),
            message: e.to_string(),
        };
        let mut wtxn = self.env.write_txn().map_err(err)?;
        self.db.delete(&mut wtxn, key.as_bytes()).map_err(err)?;
        wtxn.commit().map_err(err)
    }

    /// Flushes and closes the environment.
    pub fn finish(self) -> DataResult<()> {
        let at = Location::dataset(&self.path);
        self.env.force_sync().map_err(|e| DataError::Lmdb {
            at,
            message: e.to_string(),
        })?;
        self.env.prepare_for_closing().wait();
        Ok(())
    }
}

/// Writes one modality part: chunks of `chunk_size` frames plus the four meta keys.
///
/// Episodes are written chunk by chunk (`begin_episode`, `push_chunk`, `end_episode`); an
/// episode without a single chunk takes no index, like MineStudio's converter.
pub struct PartWriter {
    lmdb: LmdbWriter,
    chunk_size: usize,
    infos: Vec<ChunkInfo>,
    current: Option<(String, usize)>,
}

impl PartWriter {
    /// Creates the part directory.
    pub fn create(path: &Path, chunk_size: usize) -> DataResult<Self> {
        Ok(Self {
            lmdb: LmdbWriter::open(path)?,
            chunk_size,
            infos: Vec::new(),
            current: None,
        })
    }

    /// Starts an episode (ending any open one first).
    pub fn begin_episode(&mut self, episode: &str) -> DataResult<()> {
        self.end_episode()?;
        self.current = Some((episode.to_string(), 0));
        Ok(())
    }

    /// Appends the next chunk (holding `chunk_size` frames) of the open episode.
    pub fn push_chunk(&mut self, value: &[u8]) -> DataResult<()> {
        let idx = self.infos.len() as i64;
        let Some((_, chunks)) = self.current.as_mut() else {
            return Err(DataError::Config("push_chunk outside an episode".into()));
        };
        self.lmdb
            .put(&chunk_key(idx, *chunks * self.chunk_size), value)?;
        *chunks += 1;
        Ok(())
    }

    /// Chunks written so far for the open episode.
    pub fn open_chunks(&self) -> usize {
        self.current.as_ref().map_or(0, |c| c.1)
    }

    /// Closes the open episode, recording it when it has chunks.
    pub fn end_episode(&mut self) -> DataResult<()> {
        if let Some((episode, chunks)) = self.current.take()
            && chunks > 0
        {
            self.infos.push(ChunkInfo {
                episode_idx: self.infos.len() as i64,
                episode,
                num_frames: chunks * self.chunk_size,
            });
        }
        Ok(())
    }

    /// Drops the open episode and removes its chunks.
    pub fn abort_episode(&mut self) -> DataResult<()> {
        if let Some((_, chunks)) = self.current.take() {
            let idx = self.infos.len() as i64;
            for c in 0..chunks {
                self.lmdb.delete(&chunk_key(idx, c * self.chunk_size))?;
            }
        }
        Ok(())
    }

    /// Adds a whole episode given its chunk values in order.
    pub fn add_episode(&mut self, episode: &str, chunks: &[Vec<u8>]) -> DataResult<()> {
        self.begin_episode(episode)?;
        for c in chunks {
            self.push_chunk(c)?;
        }
        self.end_episode()
    }

    /// Writes the meta keys and closes the part.
    pub fn finish(mut self) -> DataResult<()> {
        self.end_episode()?;
        let infos = PyValue::List(
            self.infos
                .iter()
                .map(|i| {
                    PyValue::Dict(vec![
                        (
                            PyValue::Str("episode".into()),
                            PyValue::Str(i.episode.clone()),
                        ),
                        (
                            PyValue::Str("episode_idx".into()),
                            PyValue::Int(i.episode_idx),
                        ),
                        (
                            PyValue::Str("num_frames".into()),
                            PyValue::Int(i.num_frames as i64),
                        ),
                    ])
                })
                .collect(),
        );
        let total: usize = self.infos.iter().map(|i| i.num_frames).sum();
        self.lmdb.put(
            "__chunk_size__",
            &dumps(&PyValue::Int(self.chunk_size as i64)),
        )?;
        self.lmdb.put("__chunk_infos__", &dumps(&infos))?;
        self.lmdb.put(
            "__num_episodes__",
            &dumps(&PyValue::Int(self.infos.len() as i64)),
        )?;
        self.lmdb
            .put("__num_total_frames__", &dumps(&PyValue::Int(total as i64)))?;
        self.lmdb.finish()
    }
}
