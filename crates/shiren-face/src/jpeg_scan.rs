//! Whether a JPEG's compressed image data is all there, judged from the data itself.
//!
//! JPEG decoders do not tell: when the data stops early they fill the missing rows with grey, and
//! when a marker turns up where coded data should be (a cut-off file with an end-of-image marker
//! appended) they carry on as if the rest of the picture were flat. Either way half a photo would
//! be judged as a whole one. This module walks the Huffman-coded data of every scan block by block,
//! the way a decoder does but without reconstructing any pixel, and calls the file complete only
//! when every scan delivered every one of its blocks from real bytes: needing a single bit past
//! the end of a scan's data is a truncation.
//!
//! It covers what the decoders accept (baseline, extended and progressive Huffman coding, restart
//! intervals, any sampling factors) and returns the frame's geometry, which decoding uses to pick a
//! DCT scale and to price the memory a decode takes. It is written here because no maintained Rust
//! JPEG decoder reports its own progress: zune-jpeg and jpeg-decoder both fill silently.

use crate::error::FaceError;

/// What the frame header says, once the data has been found complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegFrame {
    pub width: u32,
    pub height: u32,
    pub progressive: bool,
    /// 1 (grey), 3 (colour) or 4 (CMYK).
    pub components: usize,
    /// Coefficients of all components at full resolution: what a progressive decoder buffers.
    pub coefficients: u64,
}

/// More scans than this is not a photo but an attempt to make the walk (and the decode) slow;
/// progressive encoders write about ten.
const MAX_SCANS: usize = 64;
/// Coefficient positions all scans together may visit, in multiples of the frame's coefficients.
/// libjpeg's progressive script visits each about three times; end-of-band runs can make a
/// refinement scan visit a band without reading data, so the bound is on visits, not scans.
const MAX_VISITS_PER_COEFFICIENT: u64 = 8;
/// Bits resolved by one table look-up; longer Huffman codes take the slow path.
const FAST_BITS: u32 = 11;

fn truncated(what: &str) -> FaceError {
    FaceError::TruncatedImage(format!("the JPEG data stops early: {what}"))
}

fn corrupt(what: &str) -> FaceError {
    FaceError::CorruptImage(format!("JPEG: {what}"))
}

/// Walks every scan of `bytes` (a JPEG starting with its SOI marker). `check_size` sees the frame's
/// width and height before anything proportional to them is allocated, and can refuse them.
pub fn check_complete(
    bytes: &[u8],
    check_size: impl Fn(u32, u32) -> Result<(), FaceError>,
) -> Result<JpegFrame, FaceError> {
    walk_file(bytes, &check_size, false)
}

/// The frame header alone, without looking at the coded data.
pub fn read_frame(
    bytes: &[u8],
    check_size: impl Fn(u32, u32) -> Result<(), FaceError>,
) -> Result<JpegFrame, FaceError> {
    walk_file(bytes, &check_size, true)
}

fn walk_file(
    bytes: &[u8],
    check_size: &impl Fn(u32, u32) -> Result<(), FaceError>,
    header_only: bool,
) -> Result<JpegFrame, FaceError> {
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Err(corrupt("no start-of-image marker"));
    }
    let mut walk = Walk { tables: Default::default(), restart_interval: 0, frame: None, scans: 0, visits: 0 };
    let mut pos = 2;
    loop {
        let Some((marker, after)) = next_marker(bytes, pos) else {
            return walk.finish_without_eoi();
        };
        pos = after;
        match marker {
            0xD9 => return walk.finish(),
            0xD8 => return Err(corrupt("a second start-of-image marker")),
            // Some encoders end a scan with a restart marker after its last block; decoders
            // accept that, and nothing follows it that belongs to the scan.
            0xD0..=0xD7 => continue,
            0x01 => continue,
            _ => {}
        }
        let segment = segment(bytes, pos)?;
        pos += segment.len() + 2;
        match marker {
            0xC0..=0xC2 => {
                walk.frame(segment, marker == 0xC2, check_size)?;
                if header_only {
                    return walk.geometry();
                }
            }
            0xC3 | 0xC5..=0xC7 | 0xC9..=0xCB | 0xCD..=0xCF => {
                return Err(FaceError::UnsupportedFormat(
                    "lossless, hierarchical or arithmetic-coded JPEGs are not accepted".into(),
                ));
            }
            0xC4 => walk.huffman_tables(segment)?,
            0xDD => walk.restart_interval = usize::from(u16::from_be_bytes(two(segment, 0)?)),
            0xDC => return Err(FaceError::UnsupportedFormat("JPEGs that give their height later (DNL)".into())),
            0xDA => pos = walk.scan(bytes, pos, segment)?,
            // APPn, COM, DQT and the rest carry nothing the walk needs.
            _ => {}
        }
    }
}

/// The marker at or after `pos` (fill bytes and stray data before it skipped) and the position
/// after it; `None` at the end of the data.
pub(crate) fn next_marker(bytes: &[u8], mut pos: usize) -> Option<(u8, usize)> {
    loop {
        let rest = bytes.get(pos..)?;
        let ff = rest.iter().position(|&b| b == 0xFF)?;
        pos += ff + 1;
        // Any number of 0xFF may precede a marker.
        while bytes.get(pos) == Some(&0xFF) {
            pos += 1;
        }
        match bytes.get(pos) {
            None => return None,
            Some(0x00) => pos += 1,
            Some(&m) => return Some((m, pos + 1)),
        }
    }
}

/// The body of the segment whose length field starts at `pos`.
pub(crate) fn segment(bytes: &[u8], pos: usize) -> Result<&[u8], FaceError> {
    let length = usize::from(u16::from_be_bytes(two(bytes, pos)?));
    if length < 2 {
        return Err(corrupt("a marker segment shorter than its length field"));
    }
    bytes.get(pos + 2..pos + length).ok_or_else(|| truncated("inside a header segment"))
}

fn two(bytes: &[u8], at: usize) -> Result<[u8; 2], FaceError> {
    match bytes.get(at..at + 2) {
        Some(&[a, b]) => Ok([a, b]),
        _ => Err(truncated("inside a header segment")),
    }
}

#[derive(Debug)]
struct Component {
    id: u8,
    h: usize,
    v: usize,
    /// Blocks across and down when the component is scanned alone.
    blocks_w: usize,
    blocks_h: usize,
    /// Per block, which AC coefficients (bit k = zig-zag index k) earlier progressive scans made
    /// non-zero: refinement scans send a correction bit for each of them. Empty until needed.
    nonzero: Vec<u64>,
    scanned: bool,
}

#[derive(Debug)]
struct Frame {
    width: usize,
    height: usize,
    progressive: bool,
    components: Vec<Component>,
    h_max: usize,
    v_max: usize,
}

struct Walk {
    /// `[class][slot]`: class 0 DC, 1 AC.
    tables: [[Option<HuffmanTable>; 4]; 2],
    restart_interval: usize,
    frame: Option<Frame>,
    scans: usize,
    /// Coefficient positions the scans walked so far may visit (see MAX_VISITS_PER_COEFFICIENT).
    visits: u64,
}

/// One component of a scan, with its tables resolved.
struct ScanComponent<'t> {
    index: usize,
    dc: Option<&'t HuffmanTable>,
    ac: Option<&'t HuffmanTable>,
}

/// Which kind of block coding a scan uses (ITU T.81 annex G for the progressive ones).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Coding {
    Sequential,
    DcFirst,
    DcRefine,
    AcFirst { start: usize, end: usize },
    AcRefine { start: usize, end: usize },
}

impl Walk {
    fn frame(
        &mut self,
        seg: &[u8],
        progressive: bool,
        check_size: &impl Fn(u32, u32) -> Result<(), FaceError>,
    ) -> Result<(), FaceError> {
        if self.frame.is_some() {
            return Err(corrupt("more than one frame header"));
        }
        let height = usize::from(u16::from_be_bytes(two(seg, 1)?));
        let width = usize::from(u16::from_be_bytes(two(seg, 3)?));
        let count = usize::from(*seg.get(5).ok_or_else(|| truncated("inside the frame header"))?);
        if height == 0 {
            return Err(FaceError::UnsupportedFormat("JPEGs that give their height later (DNL)".into()));
        }
        if width == 0 || !(1..=4).contains(&count) {
            return Err(corrupt("a frame header with no width or an unusual number of components"));
        }
        check_size(width as u32, height as u32)?;
        let mut components = Vec::with_capacity(count);
        for i in 0..count {
            let spec = seg.get(6 + 3 * i..9 + 3 * i).ok_or_else(|| truncated("inside the frame header"))?;
            let (h, v) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return Err(corrupt("a sampling factor outside 1-4"));
            }
            if components.iter().any(|c: &Component| c.id == spec[0]) {
                return Err(corrupt("two components with the same id"));
            }
            components.push(Component {
                id: spec[0],
                h,
                v,
                blocks_w: 0,
                blocks_h: 0,
                nonzero: Vec::new(),
                scanned: false,
            });
        }
        let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
        let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
        for c in &mut components {
            c.blocks_w = (width * c.h).div_ceil(h_max).div_ceil(8);
            c.blocks_h = (height * c.v).div_ceil(v_max).div_ceil(8);
        }
        self.frame = Some(Frame { width, height, progressive, components, h_max, v_max });
        Ok(())
    }

    fn huffman_tables(&mut self, mut seg: &[u8]) -> Result<(), FaceError> {
        while let Some((&spec, rest)) = seg.split_first() {
            let (class, slot) = (usize::from(spec >> 4), usize::from(spec & 15));
            if class > 1 || slot > 3 {
                return Err(corrupt("a Huffman table with an invalid class or slot"));
            }
            let counts: [u8; 16] =
                rest.get(..16).and_then(|c| c.try_into().ok()).ok_or_else(|| truncated("inside a Huffman table"))?;
            let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
            let values = rest.get(16..16 + total).ok_or_else(|| truncated("inside a Huffman table"))?;
            self.tables[class][slot] = Some(HuffmanTable::new(&counts, values, class == 1)?);
            seg = &rest[16 + total..];
        }
        Ok(())
    }

    /// Walks one scan whose header is `header` and whose coded data starts at `data_start`;
    /// returns where the data ends (the next marker).
    fn scan(&mut self, bytes: &[u8], data_start: usize, header: &[u8]) -> Result<usize, FaceError> {
        self.scans += 1;
        if self.scans > MAX_SCANS {
            return Err(corrupt("more scans than any photo has"));
        }
        let frame = self.frame.as_mut().ok_or_else(|| corrupt("a scan before the frame header"))?;
        let count = usize::from(*header.first().ok_or_else(|| truncated("inside a scan header"))?);
        if !(1..=4).contains(&count) {
            return Err(corrupt("a scan with an invalid number of components"));
        }
        let params = header.get(1 + 2 * count..4 + 2 * count).ok_or_else(|| truncated("inside a scan header"))?;
        let (start, end, high, low) = (usize::from(params[0]), usize::from(params[1]), params[2] >> 4, params[2] & 15);
        let coding = if !frame.progressive {
            Coding::Sequential
        } else if start == 0 && end == 0 {
            if high == 0 { Coding::DcFirst } else { Coding::DcRefine }
        } else if start >= 1 && end <= 63 && start <= end && count == 1 {
            if high == 0 { Coding::AcFirst { start, end } } else { Coding::AcRefine { start, end } }
        } else {
            return Err(corrupt("a progressive scan with an invalid spectral band"));
        };
        if high > 13 || low > 13 {
            return Err(corrupt("an invalid successive-approximation position"));
        }
        let mut members = Vec::with_capacity(count);
        for i in 0..count {
            let (id, tables) = (header[1 + 2 * i], header[2 + 2 * i]);
            let index = frame
                .components
                .iter()
                .position(|c| c.id == id)
                .ok_or_else(|| corrupt("a scan names a component the frame does not have"))?;
            if members.iter().any(|m: &ScanComponent| m.index == index) {
                return Err(corrupt("a scan names a component twice"));
            }
            let pick = |class: usize, slot: u8| self.tables[class].get(usize::from(slot)).and_then(Option::as_ref);
            let (dc, ac) = (pick(0, tables >> 4), pick(1, tables & 15));
            let needs_dc = matches!(coding, Coding::Sequential | Coding::DcFirst);
            let needs_ac = matches!(coding, Coding::Sequential | Coding::AcFirst { .. } | Coding::AcRefine { .. });
            if (needs_dc && dc.is_none()) || (needs_ac && ac.is_none()) {
                return Err(corrupt("a scan uses a Huffman table that was never defined"));
            }
            members.push(ScanComponent { index, dc, ac });
        }
        if let Coding::AcFirst { .. } | Coding::AcRefine { .. } = coding {
            let c = &mut frame.components[members[0].index];
            if c.nonzero.is_empty() {
                c.nonzero = vec![0; c.blocks_w * c.blocks_h];
            }
        }
        for m in &members {
            frame.components[m.index].scanned = true;
        }
        let band = match coding {
            Coding::Sequential => 64,
            Coding::DcFirst | Coding::DcRefine => 1,
            Coding::AcFirst { start, end } | Coding::AcRefine { start, end } => (end - start + 1) as u64,
        };
        let blocks: u64 = members
            .iter()
            .map(|m| (frame.components[m.index].blocks_w * frame.components[m.index].blocks_h) as u64)
            .sum();
        let coefficients: u64 = frame.components.iter().map(|c| (c.blocks_w * c.blocks_h) as u64 * 64).sum();
        self.visits += band * blocks;
        if self.visits > MAX_VISITS_PER_COEFFICIENT * coefficients {
            return Err(corrupt("more scan work than any photo needs"));
        }
        let mut reader = BitReader::new(bytes, data_start);
        walk_blocks(frame, &members, coding, self.restart_interval, &mut reader)?;
        Ok(reader.end_of_scan())
    }

    fn geometry(&self) -> Result<JpegFrame, FaceError> {
        let frame = self.frame.as_ref().ok_or_else(|| corrupt("no frame header"))?;
        Ok(JpegFrame {
            width: frame.width as u32,
            height: frame.height as u32,
            progressive: frame.progressive,
            components: frame.components.len(),
            coefficients: frame.components.iter().map(|c| (c.blocks_w * c.blocks_h) as u64 * 64).sum(),
        })
    }

    fn finish(self) -> Result<JpegFrame, FaceError> {
        let geometry = self.geometry()?;
        if let Some(missing) = self.frame.iter().flat_map(|f| &f.components).find(|c| !c.scanned) {
            return Err(truncated(&format!("component {} never arrives", missing.id)));
        }
        Ok(geometry)
    }

    /// A file that ends without its end-of-image marker is still complete when every scan it has
    /// was whole and every component was coded: nothing the decoder shows is invented.
    fn finish_without_eoi(self) -> Result<JpegFrame, FaceError> {
        if self.scans == 0 {
            return Err(truncated("the file ends before any image data"));
        }
        self.finish()
    }
}

/// Walks every block of one scan, in the order the encoder wrote them.
fn walk_blocks(
    frame: &mut Frame,
    members: &[ScanComponent<'_>],
    coding: Coding,
    restart_interval: usize,
    reader: &mut BitReader<'_>,
) -> Result<(), FaceError> {
    // A scan of one component codes its blocks one by one; several components interleave in
    // MCUs of H×V blocks each.
    let (mcus_x, mcus_y) = if members.len() == 1 {
        let c = &frame.components[members[0].index];
        (c.blocks_w, c.blocks_h)
    } else {
        (frame.width.div_ceil(8 * frame.h_max), frame.height.div_ceil(8 * frame.v_max))
    };
    let total = mcus_x * mcus_y;
    let mut eob_run = 0u32;
    let mut restarts = 0usize;
    for mcu in 0..total {
        if restart_interval > 0 && mcu > 0 && mcu % restart_interval == 0 {
            reader.restart(restarts)?;
            restarts += 1;
            eob_run = 0;
        }
        let (mx, my) = (mcu % mcus_x, mcu / mcus_x);
        for m in members {
            let component = &mut frame.components[m.index];
            if members.len() == 1 {
                let block = my * component.blocks_w + mx;
                block_coding(reader, m, component, block, coding, &mut eob_run)?;
            } else {
                // Interleaved scans are sequential or progressive DC scans, which keep no
                // per-block state, so the blocks (edge padding included) need no index.
                for _ in 0..component.v * component.h {
                    block_coding(reader, m, component, usize::MAX, coding, &mut eob_run)?;
                }
            }
        }
        if reader.overrun {
            return Err(truncated(&format!("the scan's data ends after {mcu} of its {total} blocks or block groups")));
        }
    }
    Ok(())
}

/// Reads the coding of one block.
fn block_coding(
    reader: &mut BitReader<'_>,
    member: &ScanComponent<'_>,
    component: &mut Component,
    block: usize,
    coding: Coding,
    eob_run: &mut u32,
) -> Result<(), FaceError> {
    let (dc, ac) = (member.dc, member.ac);
    match coding {
        Coding::Sequential => {
            let dc = dc.ok_or_else(|| corrupt("missing DC table"))?;
            let ac = ac.ok_or_else(|| corrupt("missing AC table"))?;
            reader.skip_coded_value(dc)?;
            let mut k = 1;
            while k < 64 {
                // Most codes and their extra bits fit one look-up.
                let skip = ac.skip[reader.peek(FAST_BITS) as usize];
                if skip != 0 {
                    reader.consume(u32::from(skip & 0x1f));
                    match skip >> 11 {
                        SKIP_END_OF_BLOCK => break,
                        SKIP_SIXTEEN_ZEROS => k += 16,
                        _ => k += usize::from((skip >> 5) & 0x3f),
                    }
                    continue;
                }
                let symbol = reader.decode(ac)?;
                let (run, size) = (usize::from(symbol >> 4), u32::from(symbol & 15));
                if size == 0 {
                    if run != 15 {
                        break;
                    }
                    k += 16;
                } else {
                    k += run;
                    reader.skip(size)?;
                    k += 1;
                }
            }
            if k > 64 {
                return Err(corrupt("a block with more than 64 coefficients"));
            }
        }
        Coding::DcFirst => {
            let dc = dc.ok_or_else(|| corrupt("missing DC table"))?;
            reader.skip_coded_value(dc)?;
        }
        Coding::DcRefine => reader.skip(1)?,
        Coding::AcFirst { start, end } => {
            let ac = ac.ok_or_else(|| corrupt("missing AC table"))?;
            let nonzero = component.nonzero.get_mut(block).ok_or_else(|| corrupt("block outside the frame"))?;
            if *eob_run > 0 {
                *eob_run -= 1;
                return Ok(());
            }
            let mut k = start;
            while k <= end {
                let symbol = reader.decode(ac)?;
                let (run, size) = (u32::from(symbol >> 4), u32::from(symbol & 15));
                if size == 0 {
                    if run < 15 {
                        *eob_run = (1 << run) + reader.bits(run)? - 1;
                        break;
                    }
                    k += 16;
                } else {
                    k += run as usize;
                    reader.skip(size)?;
                    if k > end {
                        return Err(corrupt("a coefficient outside the scan's band"));
                    }
                    *nonzero |= 1 << k;
                    k += 1;
                }
            }
        }
        Coding::AcRefine { start, end } => {
            let ac = ac.ok_or_else(|| corrupt("missing AC table"))?;
            let nonzero = component.nonzero.get_mut(block).ok_or_else(|| corrupt("block outside the frame"))?;
            let mut k = start;
            if *eob_run == 0 {
                while k <= end {
                    let symbol = reader.decode(ac)?;
                    let (mut run, size) = (u32::from(symbol >> 4), symbol & 15);
                    if size != 0 {
                        if size != 1 {
                            return Err(corrupt("a refinement with a coefficient larger than one step"));
                        }
                        reader.skip(1)?;
                    } else if run != 15 {
                        *eob_run = (1 << run) + reader.bits(run)?;
                        break;
                    }
                    // Past coefficients already non-zero (each sends a correction bit) and `run`
                    // zero ones; a new coefficient lands on the next zero.
                    while k <= end {
                        if *nonzero & (1 << k) != 0 {
                            reader.skip(1)?;
                        } else {
                            if run == 0 {
                                break;
                            }
                            run -= 1;
                        }
                        k += 1;
                    }
                    if size != 0 && k <= end {
                        *nonzero |= 1 << k;
                    }
                    k += 1;
                }
            }
            if *eob_run > 0 {
                // The rest of the band: correction bits for the non-zero coefficients only.
                while k <= end {
                    if *nonzero & (1 << k) != 0 {
                        reader.skip(1)?;
                    }
                    k += 1;
                }
                *eob_run -= 1;
            }
        }
    }
    Ok(())
}

/// Kinds of entry in [`HuffmanTable::skip`].
const SKIP_VALUE: u16 = 1;
const SKIP_END_OF_BLOCK: u16 = 2;
const SKIP_SIXTEEN_ZEROS: u16 = 3;

/// A canonical Huffman code (ITU T.81 annex C), for decoding symbols.
struct HuffmanTable {
    /// Indexed by the next `FAST_BITS` bits: `(length << 8) | symbol`, 0 when the code is longer.
    fast: Vec<u16>,
    /// Indexed the same way, for when the walk needs no symbol, only how far to go: bits 0-4 the
    /// code's length plus its extra bits, 5-10 how many coefficients it covers (AC tables), 11-12
    /// the kind (`SKIP_*`); 0 when the two do not fit `FAST_BITS`.
    skip: Vec<u16>,
    /// Per code length, the largest code of that length (-1 when none).
    max_code: [i32; 17],
    /// Per code length, what to add to a code of that length to index `values`.
    offset: [i32; 17],
    values: Vec<u8>,
}

impl HuffmanTable {
    fn new(counts: &[u8; 16], values: &[u8], ac: bool) -> Result<Self, FaceError> {
        let mut fast = vec![0u16; 1 << FAST_BITS];
        let mut skip = vec![0u16; 1 << FAST_BITS];
        let mut max_code = [-1i32; 17];
        let mut offset = [0i32; 17];
        let (mut code, mut index) = (0u32, 0usize);
        for length in 1..=16u32 {
            let n = u32::from(counts[length as usize - 1]);
            if n > 0 {
                if code + n > 1 << length {
                    return Err(corrupt("a Huffman table with more codes than fit their lengths"));
                }
                offset[length as usize] = index as i32 - code as i32;
                for _ in 0..n {
                    if length <= FAST_BITS {
                        let shift = FAST_BITS - length;
                        let first = (code << shift) as usize;
                        let symbol = values[index];
                        fast[first..first + (1 << shift)].fill(((length as u16) << 8) | u16::from(symbol));
                        let extra = u32::from(symbol & 15);
                        let (kind, covers) = match (ac, symbol) {
                            (true, 0x00) => (SKIP_END_OF_BLOCK, 0),
                            (true, 0xF0) => (SKIP_SIXTEEN_ZEROS, 16),
                            // Zero-size symbols other than ZRL end the block in sequential coding,
                            // as the slow path and the decoders read them.
                            (true, s) if s & 15 == 0 => (SKIP_END_OF_BLOCK, 0),
                            (true, s) => (SKIP_VALUE, u16::from(s >> 4) + 1),
                            (false, _) => (SKIP_VALUE, 0),
                        };
                        if length + extra <= FAST_BITS {
                            skip[first..first + (1 << shift)]
                                .fill((kind << 11) | (covers << 5) | (length + extra) as u16);
                        }
                    }
                    code += 1;
                    index += 1;
                }
                max_code[length as usize] = code as i32 - 1;
            }
            code <<= 1;
        }
        Ok(Self { fast, skip, max_code, offset, values: values.to_vec() })
    }
}

/// Reads the bits of a scan's coded data, undoing byte stuffing. Past the data (a marker or the
/// end of the file) it supplies 1-bits so that look-ups can proceed, and notes when any of them
/// was actually consumed: that is the truncation this module exists to find.
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Bits not yet consumed, most significant first.
    acc: u64,
    bits: u32,
    /// How many of `bits` came from the data rather than past its end.
    real: u32,
    at_end: bool,
    overrun: bool,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8], pos: usize) -> Self {
        Self { bytes, pos, acc: 0, bits: 0, real: 0, at_end: false, overrun: false }
    }

    /// The next data byte, or `None` at a marker or the end of the file.
    fn data_byte(&mut self) -> Option<u8> {
        let byte = *self.bytes.get(self.pos)?;
        if byte != 0xFF {
            self.pos += 1;
            return Some(byte);
        }
        if self.bytes.get(self.pos + 1) == Some(&0x00) {
            self.pos += 2;
            return Some(0xFF);
        }
        None
    }

    fn fill(&mut self) {
        // Four bytes at once when none of them is 0xFF (no stuffing, no marker): the common case.
        if !self.at_end
            && self.bits <= 32
            && let Some(&[a, b, c, d]) = self.bytes.get(self.pos..self.pos + 4)
            && a != 0xFF
            && b != 0xFF
            && c != 0xFF
            && d != 0xFF
        {
            self.acc |= u64::from(u32::from_be_bytes([a, b, c, d])) << (32 - self.bits);
            self.bits += 32;
            self.real += 32;
            self.pos += 4;
        }
        while self.bits <= 56 {
            let next = if self.at_end { None } else { self.data_byte() };
            let byte = match next {
                Some(b) => {
                    self.real += 8;
                    b
                }
                None => {
                    self.at_end = true;
                    0xFF
                }
            };
            self.acc |= u64::from(byte) << (56 - self.bits);
            self.bits += 8;
        }
    }

    fn peek(&mut self, count: u32) -> u32 {
        if self.bits < count {
            self.fill();
        }
        (self.acc >> (64 - count)) as u32
    }

    fn consume(&mut self, count: u32) {
        self.acc <<= count;
        self.bits -= count;
        if count > self.real {
            self.overrun = true;
            self.real = 0;
        } else {
            self.real -= count;
        }
    }

    /// `count` (0-16) bits as a number.
    fn bits(&mut self, count: u32) -> Result<u32, FaceError> {
        if count == 0 {
            return Ok(0);
        }
        if count > 16 {
            return Err(corrupt("a value wider than 16 bits"));
        }
        let value = self.peek(count);
        self.consume(count);
        Ok(value)
    }

    fn skip(&mut self, count: u32) -> Result<(), FaceError> {
        self.bits(count).map(|_| ())
    }

    /// A DC-style code (the symbol is the number of extra bits) and its extra bits.
    fn skip_coded_value(&mut self, table: &HuffmanTable) -> Result<(), FaceError> {
        let skip = table.skip[self.peek(FAST_BITS) as usize];
        if skip != 0 {
            self.consume(u32::from(skip & 0x1f));
            return Ok(());
        }
        let size = self.decode(table)?;
        self.skip(u32::from(size & 15))
    }

    fn decode(&mut self, table: &HuffmanTable) -> Result<u8, FaceError> {
        let entry = table.fast[self.peek(FAST_BITS) as usize];
        if entry != 0 {
            self.consume(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        let code16 = self.peek(16);
        for length in FAST_BITS + 1..=16 {
            let code = (code16 >> (16 - length)) as i32;
            if code <= table.max_code[length as usize] {
                self.consume(length);
                let index = code + table.offset[length as usize];
                return table.values.get(index as usize).copied().ok_or_else(|| corrupt("a Huffman code out of range"));
            }
        }
        // No valid code; past the data (where the reader supplies 1-bits) that means the data ended.
        if self.at_end && self.real < 16 {
            self.overrun = true;
            Err(truncated("a block is cut off"))
        } else {
            Err(corrupt("an invalid Huffman code"))
        }
    }

    /// Skips to the next restart marker, which must be the `count`-th (modulo 8).
    fn restart(&mut self, count: usize) -> Result<(), FaceError> {
        self.discard_to_marker();
        let expected = 0xD0 + (count % 8) as u8;
        match next_marker(self.bytes, self.pos) {
            Some((m, after)) if m == expected => {
                self.pos = after;
                self.acc = 0;
                self.bits = 0;
                self.real = 0;
                self.at_end = false;
                Ok(())
            }
            Some((0xD0..=0xD7, _)) => Err(corrupt("restart markers out of order (data is missing)")),
            _ => Err(truncated("a restart interval is cut off")),
        }
    }

    /// Drops the bits left over (the last byte's padding) and any stray bytes before the marker
    /// that ends the data, as decoders do.
    fn discard_to_marker(&mut self) {
        while !self.at_end && self.data_byte().is_some() {}
        self.at_end = true;
    }

    /// Where the scan's data ends: the position of the marker after it.
    fn end_of_scan(mut self) -> usize {
        self.discard_to_marker();
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_limit(_: u32, _: u32) -> Result<(), FaceError> {
        Ok(())
    }

    fn photo(w: u32, h: u32) -> image::RgbImage {
        image::RgbImage::from_fn(w, h, |x, y| {
            let t = ((x * 7 + y * 13) % 256) as u8;
            image::Rgb([t, ((x * x + y) % 251) as u8, ((x ^ y) % 256) as u8])
        })
    }

    fn encode(
        img: &image::RgbImage,
        progressive: bool,
        restart: u16,
        sampling: jpeg_encoder::SamplingFactor,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 85);
        encoder.set_progressive(progressive);
        encoder.set_sampling_factor(sampling);
        if restart > 0 {
            encoder.set_restart_interval(restart);
        }
        encoder.encode(img.as_raw(), img.width() as u16, img.height() as u16, jpeg_encoder::ColorType::Rgb).unwrap();
        out
    }

    fn variants() -> Vec<(String, Vec<u8>)> {
        use jpeg_encoder::SamplingFactor as S;
        let mut out = Vec::new();
        for (w, h) in [(64, 48), (77, 35), (130, 97)] {
            let img = photo(w, h);
            for progressive in [false, true] {
                for restart in [0u16, 3] {
                    for sampling in [S::R_4_4_4, S::R_4_2_0, S::R_4_2_2, S::F_1_2] {
                        out.push((
                            format!("{w}x{h} progressive={progressive} restart={restart} {sampling:?}"),
                            encode(&img, progressive, restart, sampling),
                        ));
                    }
                }
            }
        }
        let gray = image::GrayImage::from_fn(50, 41, |x, y| image::Luma([((x * 5 + y * 3) % 256) as u8]));
        let mut g = Vec::new();
        image::DynamicImage::ImageLuma8(gray)
            .write_to(&mut std::io::Cursor::new(&mut g), image::ImageFormat::Jpeg)
            .unwrap();
        out.push(("grayscale".into(), g));
        out
    }

    #[test]
    fn complete_files_of_every_kind_pass() {
        for (name, jpeg) in variants() {
            let frame = check_complete(&jpeg, no_limit).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(frame.progressive, name.contains("progressive=true"), "{name}");
            // Trailing bytes after the end-of-image marker are not image data.
            let mut padded = jpeg.clone();
            padded.extend_from_slice(b"trailing");
            check_complete(&padded, no_limit).unwrap_or_else(|e| panic!("{name} + trailer: {e}"));
        }
    }

    #[test]
    fn every_cut_is_found_with_or_without_an_end_marker() {
        for (name, jpeg) in variants() {
            let data_start = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
            // Every position was checked once (28 s); a stride of 7 keeps the test quick.
            let step = 7;
            for cut in (data_start + 12..jpeg.len() - 2).step_by(step) {
                for suffix in [&[][..], &[0xFF, 0xD9]] {
                    let mut damaged = jpeg[..cut].to_vec();
                    damaged.extend_from_slice(suffix);
                    // A progressive file cut between two scans is a valid, coarser JPEG; any other
                    // cut must be found.
                    if check_complete(&damaged, no_limit).is_ok() {
                        let between_scans = scan_data(&jpeg).iter().all(|&(start, end)| cut <= start || cut >= end);
                        assert!(
                            name.contains("progressive=true") && between_scans,
                            "{name} cut at {cut}/{} {suffix:?} passed",
                            jpeg.len()
                        );
                        continue;
                    }
                    let err = check_complete(&damaged, no_limit).unwrap_err();
                    assert!(
                        matches!(err, FaceError::TruncatedImage(_) | FaceError::CorruptImage(_)),
                        "{name} cut at {cut}: {err:?}"
                    );
                }
            }
        }
    }

    /// Each scan's coded data: where it starts (after the scan header) and where it ends.
    fn scan_data(jpeg: &[u8]) -> Vec<(usize, usize)> {
        let mut spans = Vec::new();
        let mut pos = 0;
        while let Some(sos) = jpeg[pos..].windows(2).position(|w| w == [0xFF, 0xDA]).map(|p| p + pos) {
            let start = sos + 2 + usize::from(u16::from_be_bytes([jpeg[sos + 2], jpeg[sos + 3]]));
            let mut end = start;
            while end + 1 < jpeg.len() && (jpeg[end] != 0xFF || matches!(jpeg[end + 1], 0x00 | 0xD0..=0xD7 | 0xFF)) {
                end += 1;
            }
            spans.push((start, end));
            pos = end;
        }
        spans
    }

    #[test]
    fn restart_markers_after_the_last_block_and_odd_zero_size_symbols() {
        // A final restart marker after the scan's last block, as some encoders write it.
        let jpeg = encode(&photo(64, 48), false, 0, jpeg_encoder::SamplingFactor::R_4_4_4);
        let eoi = jpeg.len() - 2;
        let mut with_rst = jpeg[..eoi].to_vec();
        with_rst.extend_from_slice(&[0xFF, 0xD0, 0xFF, 0xD9]);
        check_complete(&with_rst, no_limit).unwrap();
        // An AC table giving the zero-size symbol 0x10 a short code: both look-up paths must read
        // it as the end of the block.
        let table = HuffmanTable::new(&[0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], &[0x10, 0x01], true).unwrap();
        let entry = table.skip[0];
        assert_eq!(entry >> 11, SKIP_END_OF_BLOCK, "{entry:#x}");
    }

    #[test]
    fn scans_cannot_buy_unbounded_work() {
        // The same complete scan repeated: every repetition is valid on its own, but past eight
        // full passes over the coefficients the walk refuses, whatever the number of scans.
        let jpeg = encode(&photo(64, 48), false, 0, jpeg_encoder::SamplingFactor::R_4_4_4);
        let sos = jpeg.windows(2).position(|w| w == [0xFF, 0xDA]).unwrap();
        let end = scan_data(&jpeg)[0].1;
        let repeated = |times: usize| {
            let mut out = jpeg[..sos].to_vec();
            for _ in 0..times {
                out.extend_from_slice(&jpeg[sos..end]);
            }
            out.extend_from_slice(&[0xFF, 0xD9]);
            out
        };
        check_complete(&repeated(8), no_limit).unwrap();
        match check_complete(&repeated(9), no_limit) {
            Err(FaceError::CorruptImage(m)) => assert!(m.contains("scan work"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_half_file_with_an_end_marker_is_truncated() {
        use jpeg_encoder::SamplingFactor as S;
        let jpeg = encode(&photo(300, 200), false, 0, S::R_4_2_0);
        let mut half = jpeg[..jpeg.len() / 2].to_vec();
        half.extend_from_slice(&[0xFF, 0xD9]);
        assert!(matches!(check_complete(&half, no_limit), Err(FaceError::TruncatedImage(_))));
        let progressive = encode(&photo(300, 200), true, 0, S::R_4_2_0);
        let mut half = progressive[..progressive.len() / 2].to_vec();
        half.extend_from_slice(&[0xFF, 0xD9]);
        // The cut lands inside a scan.
        assert!(check_complete(&half, no_limit).is_err());
    }

    #[test]
    fn size_is_checked_before_the_walk() {
        let jpeg = encode(&photo(64, 48), true, 0, jpeg_encoder::SamplingFactor::R_4_2_0);
        let refused =
            check_complete(&jpeg, |w, h| Err(FaceError::ImageTooSmall { width: w, height: h, min_side: 100 }));
        assert!(matches!(refused, Err(FaceError::ImageTooSmall { width: 64, height: 48, .. })));
    }

    #[test]
    fn arithmetic_and_lossless_coding_are_refused() {
        let mut jpeg = encode(&photo(32, 32), false, 0, jpeg_encoder::SamplingFactor::R_4_4_4);
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 1] = 0xC9;
        assert!(matches!(check_complete(&jpeg, no_limit), Err(FaceError::UnsupportedFormat(_))));
    }
}
