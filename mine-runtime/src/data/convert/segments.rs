//! Finding contractor segments and grouping them into episodes like MineStudio's converter.

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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> DataResult<()> {
    let read = std::fs::read_dir(dir).map_err(|source| DataError::Io {
        at: Location::dataset(dir),
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in read.flatten() {
        let path = entry.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "jsonl") {
            out.push(path);
        }
    }
    Ok(())
}

/// All `.jsonl` files under `dirs` whose video sits beside them (or in a sibling `mp4/`).
pub fn find_segments(dirs: &[PathBuf]) -> DataResult<Vec<Segment>> {
    let mut files = Vec::new();
    for d in dirs {
        walk(d, &mut files)?;
    }
    files.sort();
    let mut out = Vec::new();
    for jsonl in files {
        let Some(stem) = jsonl.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        let beside = jsonl.with_extension("mp4");
        let sibling = jsonl
            .parent()
            .and_then(Path::parent)
            .map(|p| p.join("mp4").join(format!("{stem}.mp4")));
        let mp4 = if beside.is_file() {
            beside
        } else if let Some(s) = sibling.filter(|s| s.is_file()) {
            s
        } else {
            tracing::warn!("`{}` has no video beside it; skipped", jsonl.display());
            continue;
        };
        out.push(Segment {
            name: stem.to_string(),
            jsonl,
            mp4,
        });
    }
    Ok(out)
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
