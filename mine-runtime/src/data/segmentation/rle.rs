//! MineStudio's run-length encoding of object masks (`SegmentationKernelCallback.rle_encode` /
//! `rle_decode`): the mask flattened row-major, runs of ones as `"start length start length
//! ..."` with 1-based starts, separated by whitespace; a run may continue across a row end.

/// The mask size MineStudio's reader decodes every mask at, `(height, width)`, whatever the
/// video size (hard-coded in `SegmentationKernelCallback.do_merge`).
pub const RLE_SHAPE: (usize, usize) = (360, 640);

/// Encodes a 0/1 mask of `height * width` values (row-major; any non-zero value is 1).
pub fn rle_encode(mask: &[u8]) -> String {
    let mut runs: Vec<String> = Vec::new();
    let mut start = None;
    for (i, &v) in mask.iter().chain(std::iter::once(&0)).enumerate() {
        match (v != 0, start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                runs.push(format!("{} {}", s + 1, i - s));
                start = None;
            }
            _ => {}
        }
    }
    runs.join(" ")
}

/// Decodes an RLE string into a 0/1 mask of `shape = (height, width)`, row-major.
///
/// MineStudio's decoder silently drops a trailing start without a length and clips runs at
/// the end of the mask; this one refuses both, and anything that is not a pair list of
/// positive integers, saying what is wrong (the caller adds where).
pub fn rle_decode(rle: &str, shape: (usize, usize)) -> Result<Vec<u8>, String> {
    let size = shape.0 * shape.1;
    let mut mask = vec![0u8; size];
    let tokens: Vec<&str> = rle.split_whitespace().collect();
    if !tokens.len().is_multiple_of(2) {
        return Err(format!(
            "the RLE string has {} numbers, expected start/length pairs",
            tokens.len()
        ));
    }
    for (pair, run) in tokens.chunks_exact(2).enumerate() {
        let number = |t: &str| {
            t.parse::<usize>()
                .map_err(|_| format!("run {pair}: `{t}` is not a non-negative integer"))
        };
        let (start, len) = (number(run[0])?, number(run[1])?);
        if start == 0 {
            return Err(format!("run {pair}: start 0 (starts are 1-based)"));
        }
        let lo = start - 1;
        let hi = lo
            .checked_add(len)
            .filter(|&hi| hi <= size)
            .ok_or_else(|| {
                format!(
                    "run {pair}: `{start} {len}` ends past the {}x{} mask ({size} pixels)",
                    shape.0, shape.1
                )
            })?;
        mask[lo..hi].fill(1);
    }
    Ok(mask)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_runs_across_rows() {
        let mut mask = vec![0u8; 4 * 5];
        for i in [0, 1, 4, 5, 6, 19] {
            mask[i] = 1;
        }
        let rle = rle_encode(&mask);
        assert_eq!(rle, "1 2 5 3 20 1");
        assert_eq!(rle_decode(&rle, (4, 5)).unwrap(), mask);
        assert_eq!(rle_decode("", (4, 5)).unwrap(), vec![0; 20]);
    }

    #[test]
    fn bad_strings_are_refused() {
        let err = |s: &str| rle_decode(s, (4, 5)).unwrap_err();
        assert!(err("1 2 5").contains("3 numbers"));
        assert!(err("1 x").contains("`x`"));
        assert!(err("0 2").contains("1-based"));
        assert!(err("19 3").contains("ends past the 4x5 mask"));
        assert!(err("-1 3").contains("`-1`"));
    }
}
