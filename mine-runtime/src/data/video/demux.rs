//! MP4 demuxing: the first AVC track's parameter sets and samples as Annex B access units.

use std::io::Cursor;

/// An H.264 track taken out of its MP4 container.
#[derive(Clone, Debug)]
pub struct Demuxed {
    /// SPS and PPS NAL units as one Annex B buffer.
    pub parameter_sets: Vec<u8>,
    /// Access units in decode order, Annex B (start code + NAL), with their display time.
    pub samples: Vec<(Vec<u8>, i64)>,
    /// Picture width from the sample description.
    pub width: usize,
    /// Picture height from the sample description.
    pub height: usize,
}

const START_CODE: [u8; 4] = [0, 0, 0, 1];

/// Splits length-prefixed NAL units into an Annex B stream.
fn to_annex_b(data: &[u8], length_size: usize, out: &mut Vec<u8>) -> Result<(), String> {
    let mut pos = 0;
    while pos < data.len() {
        if pos + length_size > data.len() {
            return Err("truncated NAL length prefix".into());
        }
        let len = data[pos..pos + length_size]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        pos += length_size;
        if len == 0 || pos + len > data.len() {
            return Err(format!("NAL unit of {len} bytes overruns its sample"));
        }
        out.extend_from_slice(&START_CODE);
        out.extend_from_slice(&data[pos..pos + len]);
        pos += len;
    }
    Ok(())
}

/// Reads an MP4 file held in memory.
pub fn demux_mp4(bytes: &[u8]) -> Result<Demuxed, String> {
    // The mp4 crate may panic on malformed boxes; turn that into an error for this chunk.
    std::panic::catch_unwind(|| demux_inner(bytes))
        .unwrap_or_else(|_| Err("malformed MP4 container".into()))
}

fn demux_inner(bytes: &[u8]) -> Result<Demuxed, String> {
    let mut reader = mp4::Mp4Reader::read_header(Cursor::new(bytes), bytes.len() as u64)
        .map_err(|e| format!("MP4 header: {e}"))?;
    let (track_id, avcc, width, height) = reader
        .tracks()
        .values()
        .find_map(|t| {
            let avc1 = t.trak.mdia.minf.stbl.stsd.avc1.as_ref()?;
            Some((
                t.track_id(),
                avc1.avcc.clone(),
                avc1.width as usize,
                avc1.height as usize,
            ))
        })
        .ok_or("no H.264 (avc1) video track")?;
    let length_size = avcc.length_size_minus_one as usize + 1;
    if !matches!(length_size, 1 | 2 | 4) {
        return Err(format!("invalid NAL length size {length_size}"));
    }
    let mut parameter_sets = Vec::new();
    for nal in avcc
        .sequence_parameter_sets
        .iter()
        .chain(&avcc.picture_parameter_sets)
    {
        parameter_sets.extend_from_slice(&START_CODE);
        parameter_sets.extend_from_slice(&nal.bytes);
    }
    if avcc.sequence_parameter_sets.is_empty() || avcc.picture_parameter_sets.is_empty() {
        return Err("avcC holds no SPS/PPS".into());
    }
    let count = reader
        .sample_count(track_id)
        .map_err(|e| format!("sample table: {e}"))?;
    let mut samples = Vec::with_capacity(count as usize);
    for id in 1..=count {
        let sample = reader
            .read_sample(track_id, id)
            .map_err(|e| format!("sample {id}: {e}"))?
            .ok_or_else(|| format!("sample {id} is missing"))?;
        let mut annex_b = Vec::with_capacity(sample.bytes.len() + 16);
        to_annex_b(&sample.bytes, length_size, &mut annex_b)
            .map_err(|e| format!("sample {id}: {e}"))?;
        let pts = sample.start_time as i64 + sample.rendering_offset as i64;
        samples.push((annex_b, pts));
    }
    Ok(Demuxed {
        parameter_sets,
        samples,
        width,
        height,
    })
}
