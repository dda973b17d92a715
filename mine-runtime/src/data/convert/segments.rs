//! Finding contractor segments (in directories, or named file by file) and grouping them into
//! episodes like MineStudio's converter.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::data::error::{DataError, DataResult, Location};

/// One recording segment: `<episode>-<digits>.jsonl` with its `.mp4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// File stem.
    pub name: String,
    /// The JSON-lines actions.
    pub jsonl: PathBuf,
    /// The video.
    pub mp4: PathBuf,
}

/// Segments more than this many time units apart start a new episode.
const MAX_GAP: u64 = 1000;

/// Splits `<episode>-<digits>` (the last dash-number group); other names are part `0`.
pub fn split_name(stem: &str) -> (String, String) {
    match stem.rsplit_once('-') {
        Some((eps, part))
            if !eps.is_empty() && !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (eps.to_string(), part.to_string())
        }
        _ => (stem.to_string(), "0".to_string()),
    }
}

/// The recordings among the inputs: complete segments, and files whose other half is missing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Found {
    /// Segments with both files, sorted by the path of their `.jsonl`.
    pub segments: Vec<Segment>,
    /// Recordings missing their video or their actions, sorted by file.
    pub unpaired: Vec<Unpaired>,
}

/// A recording file whose other half (video or actions) is missing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unpaired {
    /// The file found.
    pub file: PathBuf,
    /// Its name (file stem).
    pub name: String,
    /// What is missing.
    pub why: String,
}

fn input_error(path: &Path, message: String) -> DataError {
    DataError::Convert {
        at: Location::dataset(path),
        message,
    }
}

fn has_extension(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> DataResult<()> {
    let read = std::fs::read_dir(dir).map_err(|cause| DataError::Io {
        at: Location::dataset(dir),
        path: dir.to_path_buf(),
        cause,
    })?;
    for entry in read.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if has_extension(&path, "jsonl") || has_extension(&path, "mp4") {
            out.push(path);
        }
    }
    Ok(())
}

/// The recording files named by `inputs`: directories are searched (recursively), files
/// must be `.mp4` or `.jsonl`.
fn recording_files(inputs: &[PathBuf]) -> DataResult<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            walk(input, &mut files)?;
        } else if !input.exists() {
            return Err(input_error(
                input,
                "no such file or directory; pass recordings (`NAME.mp4`/`NAME.jsonl`) or \
                 directories holding them"
                    .into(),
            ));
        } else if has_extension(input, "jsonl") || has_extension(input, "mp4") {
            files.push(input.clone());
        } else {
            return Err(input_error(
                input,
                "not a recording; pass `NAME.mp4` or `NAME.jsonl` files (the other one is \
                 found by name) or directories holding them"
                    .into(),
            ));
        }
    }
    Ok(files)
}

/// The file named `stem.ext` beside `path`, else in a folder `sibling` beside `path`'s folder
/// (the layout with videos under `mp4/` next to the actions' folder).
fn partner(path: &Path, ext: &str, sibling: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    let beside = path.with_extension(ext);
    if beside.is_file() {
        return Some(beside);
    }
    let name = format!("{}.{ext}", path.file_stem()?.to_str()?);
    let grandparent = path.parent()?.parent()?;
    let mut folders: Vec<PathBuf> = std::fs::read_dir(grandparent)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && sibling(p))
        .collect();
    folders.sort();
    folders
        .into_iter()
        .map(|f| f.join(&name))
        .find(|p| p.is_file())
}

fn is_mp4_folder(path: &Path) -> bool {
    path.file_name().is_some_and(|n| n == "mp4")
}

/// The same file however it was named (`a/x.mp4`, `./a/x.mp4`).
fn identity(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The segments among `inputs`: directories (searched recursively) and recording files
/// (`NAME.mp4` or `NAME.jsonl`, the other file found by name). A video sits beside its
/// `.jsonl` or in a sibling `mp4/` folder. A recording named twice counts once; two different
/// recordings with one name are an error (they would be one episode).
pub fn find_segments(inputs: &[PathBuf]) -> DataResult<Found> {
    let mut files: Vec<(PathBuf, PathBuf)> = recording_files(inputs)?
        .into_iter()
        .map(|f| (identity(&f), f))
        .collect();
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let mut named = HashSet::new();
    files.retain(|(id, _)| named.insert(id.clone()));
    let (mut jsonls, mp4s): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|(_, f)| has_extension(f, "jsonl"));
    // Videos named without their `.jsonl` bring it in.
    let mut found = Found::default();
    for (_, mp4) in &mp4s {
        match partner(mp4, "jsonl", |p| !is_mp4_folder(p)) {
            Some(jsonl) => jsonls.push((identity(&jsonl), jsonl)),
            None => found.unpaired.push(Unpaired {
                file: mp4.clone(),
                name: stem(mp4),
                why: format!("`{}` has no `.jsonl` of actions beside it", mp4.display()),
            }),
        }
    }
    jsonls.sort_by(|a, b| a.1.cmp(&b.1));
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for (id, jsonl) in jsonls {
        let name = stem(&jsonl);
        match seen.get(&name) {
            Some(first) if *first == id => continue,
            Some(first) => {
                return Err(input_error(
                    &jsonl,
                    format!(
                        "recording `{name}` is also at `{}`; every recording needs its own name",
                        first.display()
                    ),
                ));
            }
            None => seen.insert(name.clone(), id),
        };
        match partner(&jsonl, "mp4", is_mp4_folder) {
            Some(mp4) => found.segments.push(Segment { name, jsonl, mp4 }),
            None => found.unpaired.push(Unpaired {
                why: format!(
                    "`{}` has no video beside it (or in a sibling `mp4/` folder)",
                    jsonl.display()
                ),
                file: jsonl,
                name,
            }),
        }
    }
    found.unpaired.sort();
    Ok(found)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned())
}

/// Groups segments into episodes: same prefix, sorted by the numeric suffix, split where
/// consecutive suffixes differ by 1000 or more; an episode is named after its first segment.
pub fn group_episodes(segments: Vec<Segment>) -> Vec<(String, Vec<Segment>)> {
    type Numbered = (u64, String, Segment);
    let mut by_prefix: Vec<(String, Vec<Numbered>)> = Vec::new();
    for seg in segments {
        let (eps, part) = split_name(&seg.name);
        let n: u64 = part.parse().unwrap_or(u64::MAX);
        match by_prefix.iter_mut().find(|(e, _)| *e == eps) {
            Some((_, v)) => v.push((n, part, seg)),
            None => by_prefix.push((eps, vec![(n, part, seg)])),
        }
    }
    let mut out: Vec<(String, Vec<Segment>)> = Vec::new();
    for (eps, mut parts) in by_prefix {
        parts.sort_by_key(|(n, _, _)| *n);
        let mut last: Option<u64> = None;
        for (n, part, seg) in parts {
            if last.is_none_or(|l| n.saturating_sub(l) >= MAX_GAP) {
                out.push((format!("{eps}-{part}"), Vec::new()));
            }
            last = Some(n);
            if let Some(group) = out.last_mut() {
                group.1.push(seg);
            }
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(name: &str) -> Segment {
        Segment {
            name: name.into(),
            jsonl: PathBuf::from(format!("{name}.jsonl")),
            mp4: PathBuf::from(format!("{name}.mp4")),
        }
    }

    #[test]
    fn contractor_names_split_at_the_last_number() {
        assert_eq!(
            split_name("squeaky-aqua-llama-1234567890ab-20220510-101500"),
            (
                "squeaky-aqua-llama-1234567890ab-20220510".into(),
                "101500".into()
            )
        );
        assert_eq!(split_name("plain"), ("plain".into(), "0".into()));
    }

    #[test]
    fn close_segments_merge_and_distant_ones_split() {
        let groups = group_episodes(vec![
            seg("a-x-101530"),
            seg("a-x-101500"),
            seg("a-x-105000"),
            seg("b-7"),
        ]);
        let names: Vec<(&str, usize)> = groups.iter().map(|(n, s)| (n.as_str(), s.len())).collect();
        assert_eq!(
            names,
            vec![("a-x-101500", 2), ("a-x-105000", 1), ("b-7", 1)]
        );
        assert_eq!(groups[0].1[0].name, "a-x-101500");
    }
}
