//! The CSV reader every table goes through, files and request bodies alike, so one text reads
//! the same whichever way it comes in: RFC 4180 fields (double quotes around a field that holds
//! a comma, a quote or a line break, `""` for a quote inside one), every field as text.
//!
//! - A line ends at `\n`, `\r\n` or a lone `\r` (old Mac files), outside quotes.
//! - A quote opens a quoted field only at the field's start; elsewhere (`ab"c`, or text after
//!   a closing quote) it is a character of the field, as lenient readers take it. `open_after`
//!   is the same rule for readers that cut a text at line ends.
//! - A blank line (nothing but commas, spaces and tabs) is not a row, before the header or
//!   after it.
//! - The header is the first line that is not blank; a name in it twice is refused, since which
//!   of the two values a reader would take is a guess.
//! - A UTF-8 byte-order mark before the header is dropped (`text`).
//!
//! Each row keeps the file line it starts on, so an error can name it. Fields borrow from the
//! text unless a doubled quote had to be undone. Validation (types, labels, missing values) is
//! the caller's: this only splits text.

use std::borrow::Cow;

/// Why a text is not a table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvError {
    #[error("the text is not UTF-8 (byte {0})")]
    NotUtf8(usize),
    #[error("line {0}: a quoted field is never closed")]
    OpenQuote(usize),
    #[error("line {0}: the row is longer than 4 GB")]
    TooLong(usize),
    /// Positions count from 1, as a spreadsheet shows them; the name is cut, since it may be
    /// a megabyte long.
    #[error(
        "column '{}' appears more than once in the header (positions {first} and {second})",
        crate::util::shown(.column)
    )]
    DuplicateColumn {
        column: String,
        first: usize,
        second: usize,
    },
}

/// A CSV text split into a header and columns of cells.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Table<'a> {
    pub header: Vec<String>,
    /// `columns[c][r]`: row `r`'s field in column `c`; `None` when the field is empty or the row
    /// is short of fields.
    pub columns: Vec<Vec<Option<Cow<'a, str>>>>,
    /// The file line each row starts on, counting the header's line as 1.
    pub lines: Vec<usize>,
    /// Rows with more fields than the header, as (file line, fields found), in file order:
    /// their extra fields are dropped, so a caller that must not guess which field is which
    /// can skip them.
    pub wide: Vec<(usize, usize)>,
}

impl<'a> Table<'a> {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&[Option<Cow<'a, str>>]> {
        let i = self.header.iter().position(|h| h == name)?;
        Some(&self.columns[i])
    }
}

/// Checks that `bytes` are UTF-8 text, naming the first byte that is not, and drops a
/// byte-order mark before it.
pub fn text(bytes: &[u8]) -> Result<&str, CsvError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| CsvError::NotUtf8(e.valid_up_to()))
}

/// Refuses a list of column names that holds one twice, naming it and both positions.
pub fn unique<S: AsRef<str>>(names: &[S]) -> Result<(), CsvError> {
    let mut seen = std::collections::HashMap::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        if let Some(first) = seen.insert(n.as_ref(), i) {
            return Err(CsvError::DuplicateColumn {
                column: n.as_ref().to_string(),
                first: first + 1,
                second: i + 1,
            });
        }
    }
    Ok(())
}

/// A text's header: its column names and where the rows after it start.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Header {
    /// Empty when the text holds nothing but blank lines.
    pub names: Vec<String>,
    /// The byte the first row after the header starts at.
    pub rest: usize,
    /// The file line `rest` is on, counting the first line as 1.
    pub line: usize,
}

/// The header of `text`: its first record that is not a blank line, every name distinct.
pub fn header(text: &str) -> Result<Header, CsvError> {
    let bytes = text.as_bytes();
    let (mut pos, mut line) = (0, 1);
    let mut fields = Vec::new();
    while pos < bytes.len() {
        let start = pos;
        fields.clear();
        let (_, end) = read_record(text, &mut pos, &mut line, &mut fields, usize::MAX)?;
        if is_blank_line(&bytes[start..end]) {
            continue;
        }
        let names: Vec<String> = fields
            .drain(..)
            .map(|f| f.map(Cow::into_owned).unwrap_or_default())
            .collect();
        unique(&names)?;
        return Ok(Header {
            names,
            rest: pos,
            line,
        });
    }
    Ok(Header {
        names: Vec::new(),
        rest: bytes.len(),
        line,
    })
}

/// Line breaks in `bytes`, a `\r\n` counted once: the lines a text spans, less one.
fn line_breaks(bytes: &[u8]) -> usize {
    memchr::memchr2_iter(b'\n', b'\r', bytes)
        .filter(|&i| bytes[i] == b'\n' || bytes.get(i + 1) != Some(&b'\n'))
        .count()
}

/// Splits `text` (the header first) into a table. Fields past the header's count are dropped
/// (callers that care check counts first); a row short of fields has `None` for the rest.
pub fn parse(text: &str) -> Result<Table<'_>, CsvError> {
    // Most files quote nothing: then every line break ends a record, and the text can be cut
    // at line breaks and split on every core.
    if !text.as_bytes().contains(&b'"') && text.len() < u32::MAX as usize {
        return parse_plain(text);
    }
    parse_quoted(text)
}

/// The general reader's table, whatever the text holds.
fn parse_quoted(text: &str) -> Result<Table<'_>, CsvError> {
    let mut table = Table::default();
    table.header = quoted_rows(text, |r: Row| {
        table.columns.resize(r.fields.len(), Vec::new());
        for (all, f) in table.columns.iter_mut().zip(r.fields) {
            all.push(f.clone());
        }
        table.lines.push(r.line);
        if r.found > r.fields.len() {
            table.wide.push((r.line, r.found));
        }
        true
    })?;
    table.columns.resize(table.header.len(), Vec::new());
    Ok(table)
}

/// One data row of a quoted text as `quoted_rows` hands it out.
struct Row<'r, 'a> {
    /// The file line the row starts on, counting the header's line as 1.
    line: usize,
    /// How many fields the record has, before `fields` is cut or padded to the header's count.
    found: usize,
    /// The header's count of fields; `None` when empty or missing.
    fields: &'r [Option<Cow<'a, str>>],
}

/// What to do with a row whose count of fields is not the header's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Misfits {
    /// Stop before it and report it: a file checked against a spec.
    Stop,
    /// Drop its extra fields or leave its missing ones empty: a file read as it is.
    Fit,
}

/// A row with another count of fields than the header, where `Misfits::Stop` stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Misfit {
    pub line: usize,
    pub found: usize,
}

/// Some consecutive data rows, each cut to the header's count of fields, as offsets into one
/// text: a reader can then take a column of the rows at a time, and nothing is held per field
/// but a number.
#[derive(Clone, Copy)]
pub struct Tile<'a, 'b> {
    text: &'a str,
    width: usize,
    /// Per row, `width + 1` offsets: the byte before its first field, then the byte after
    /// each field (offsets wrap, so a row at offset 0 starts at `u32::MAX`).
    bounds: &'b [u32],
    /// The file line each row starts on, counting the header's line as 1.
    lines: &'b [usize],
}

impl<'a> Tile<'a, '_> {
    pub fn rows(&self) -> usize {
        self.lines.len()
    }

    /// The file line row `row` starts on.
    pub fn line(&self, row: usize) -> usize {
        self.lines[row]
    }

    /// Row `row`'s field in column `col`; `None` when empty (or missing).
    #[inline]
    pub fn field(&self, row: usize, col: usize) -> Option<&'a str> {
        let k = row * (self.width + 1) + col;
        let start = self.bounds[k].wrapping_add(1) as usize;
        let end = self.bounds[k + 1] as usize;
        (start < end).then(|| &self.text[start..end])
    }
}

/// Splits `text` (the header first) into tiles of at most `rows` data rows each and hands
/// them to `tile` in order, until it returns false. Returns the header, and under
/// `Misfits::Stop` the row that stopped the split. Blank lines, and lines of empty fields, are
/// not rows.
pub fn for_each_tile(
    text: &str,
    rows: usize,
    misfits: Misfits,
    mut tile: impl FnMut(Tile<'_, '_>) -> bool,
) -> Result<(Vec<String>, Option<Misfit>), CsvError> {
    if text.as_bytes().contains(&b'"') || text.len() >= u32::MAX as usize {
        return quoted_tiles(text, rows, misfits, tile);
    }
    let Header {
        names: header,
        rest,
        line,
    } = self::header(text)?;
    if header.is_empty() {
        return Ok((header, None));
    }
    let mut split = PlainSplit::new(text, rest, line, header.len(), misfits);
    while let Some(t) = split.next_tile(rows) {
        if !tile(t) {
            break;
        }
    }
    let misfit = split.misfit;
    Ok((header, misfit))
}

/// Whether a quoted field is still open at the end of `line` (one line of a text, its line end
/// included), given whether one was open at its start. This is `read_field`'s rule, so a reader
/// that cuts a text at line ends (`chunks`) cuts where this reader ends records: a quote opens
/// a field only at the field's start; inside one, `""` is a quote and a lone `"` closes it; any
/// other quote (`ab"c`, or `"a"b"` after the closing one) is a character of its field. Counting
/// quotes instead would take `ab"c` for an open field, or miss one opened after it.
pub fn open_after(line: &[u8], open: bool) -> bool {
    // The line's first field starts at its first byte, unless a quoted field goes on.
    let (mut i, mut quoted) = match (open, line.first()) {
        (false, Some(b'"')) => (1, true),
        _ => (0, open),
    };
    loop {
        if quoted {
            match memchr::memchr(b'"', &line[i..]) {
                None => return true,
                Some(k) if line.get(i + k + 1) == Some(&b'"') => i += k + 2,
                Some(k) => {
                    i += k + 1;
                    quoted = false;
                }
            }
            continue;
        }
        // Outside quotes: the rest of this field is its text, up to the next comma.
        match memchr::memchr(b',', &line[i..]) {
            None => return false,
            Some(k) => i += k + 1,
        }
        if line.get(i) == Some(&b'"') {
            i += 1;
            quoted = true;
        }
    }
}

/// Whether a line (with or without its line end) is blank: nothing but commas, spaces and tabs.
/// Such a line is no row: it holds no value, and readers differ on how many fields it has.
pub fn is_blank_line(line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    line.iter().all(|&b| is_blank_byte(b))
}

#[inline]
fn is_blank_byte(b: u8) -> bool {
    matches!(b, b',' | b' ' | b'\t')
}

/// The rows of a text without quotes, cut into tiles as they are asked for.
struct PlainSplit<'a> {
    text: &'a str,
    /// Where the next row starts, and its file line.
    at: usize,
    line: usize,
    width: usize,
    misfits: Misfits,
    misfit: Option<Misfit>,
    /// Under `Misfits::Fit`, rows cut to the header's count, as `Table::wide` has them.
    wide: Vec<(usize, usize)>,
    bounds: Vec<u32>,
    lines: Vec<usize>,
}

impl<'a> PlainSplit<'a> {
    /// The rows of `text` from byte `at`, a line start that is file line `line`.
    fn new(text: &'a str, at: usize, line: usize, width: usize, misfits: Misfits) -> Self {
        PlainSplit {
            text,
            at,
            line,
            width,
            misfits,
            misfit: None,
            wide: Vec::new(),
            bounds: Vec::new(),
            lines: Vec::new(),
        }
    }

    /// The next tile of at most `rows` rows; `None` at the end of the text or at a misfit.
    ///
    /// One pass marks the commas and line breaks of 64 bytes at a time in two words, then
    /// takes the marks in order: fields are a few bytes long, so a search per field would
    /// spend more setting up than it saves.
    fn next_tile(&mut self, rows: usize) -> Option<Tile<'a, '_>> {
        let bytes = self.text.as_bytes();
        let width = self.width;
        self.bounds.clear();
        self.lines.clear();
        if self.at >= bytes.len() || self.misfit.is_some() {
            return None;
        }
        let mut row_start = self.at;
        let mut first = 0;
        // Commas of the current line past its `width + 1`th bound, counted and not kept, so a
        // line of a million commas holds no more than a block's bounds beyond the header's.
        let mut extra = 0;
        self.bounds.push((row_start as u32).wrapping_sub(1));
        let mut base = self.at;
        'blocks: while base <= bytes.len() {
            let block = &bytes[base..bytes.len().min(base + 64)];
            let (commas, mut breaks) = separators(block);
            // The text's end ends its last line.
            let ends = block.len() < 64;
            if ends {
                breaks |= 1u64 << block.len();
            }
            let mut marks = commas | breaks;
            while marks != 0 {
                let bit = marks.trailing_zeros();
                marks &= marks - 1;
                let pos = base + bit as usize;
                if breaks >> bit & 1 == 0 {
                    self.bounds.push(pos as u32);
                    continue;
                }
                // The `\n` of a `\r\n`: the `\r` ended the line already.
                if pos == row_start
                    && pos > 0
                    && bytes.get(pos) == Some(&b'\n')
                    && bytes[pos - 1] == b'\r'
                {
                    row_start = pos + 1;
                    self.at = row_start;
                    self.bounds[first] = (row_start as u32).wrapping_sub(1);
                    if row_start >= bytes.len() {
                        break 'blocks;
                    }
                    continue;
                }
                // A line ends at `pos`.
                let end = pos;
                self.bounds.push(end as u32);
                let found = self.bounds.len() - first - 1 + extra;
                extra = 0;
                // `is_blank_line`: from the count when the line is its commas alone, else
                // looked at only when it starts as a blank line would.
                let blank = end - row_start == found - 1
                    || (is_blank_byte(bytes[row_start])
                        && bytes[row_start..end].iter().all(|&b| is_blank_byte(b)));
                if blank {
                    self.bounds.truncate(first);
                } else if found != width {
                    match self.misfits {
                        Misfits::Stop => {
                            self.misfit = Some(Misfit {
                                line: self.line,
                                found,
                            });
                            self.bounds.truncate(first);
                            self.at = bytes.len();
                            break 'blocks;
                        }
                        Misfits::Fit => {
                            if found > width {
                                self.wide.push((self.line, found));
                            }
                            let last = *self.bounds.last().expect("a bound");
                            // Extra fields are cut: the last kept one ends at its comma.
                            self.bounds.resize(first + width + 1, last);
                            self.lines.push(self.line);
                        }
                    }
                } else {
                    self.lines.push(self.line);
                }
                self.line += 1;
                row_start = pos + 1;
                self.at = row_start;
                first = self.bounds.len();
                if self.lines.len() == rows || row_start >= bytes.len() {
                    break 'blocks;
                }
                self.bounds.push((row_start as u32).wrapping_sub(1));
            }
            if ends {
                break;
            }
            let kept = self.bounds.len() - first;
            if kept > width + 1 {
                extra += kept - (width + 1);
                self.bounds.truncate(first + width + 1);
            }
            base += 64;
        }
        self.bounds.truncate(first);
        if self.lines.is_empty() {
            return None;
        }
        Some(Tile {
            text: self.text,
            width,
            bounds: &self.bounds,
            lines: &self.lines,
        })
    }
}

/// A bit for each comma, and one for each `\n` or `\r`, of up to 64 bytes: eight bytes at a
/// time, exact, with no carry between bytes.
#[inline]
fn separators(block: &[u8]) -> (u64, u64) {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    const ONES: u64 = 0x0101_0101_0101_0101;
    // A high bit for each byte of `word` equal to `b`.
    let equal = |word: u64, b: u8| {
        let x = word ^ (u64::from(b) * ONES);
        !(((x & LOW7) + LOW7) | x | LOW7)
    };
    // The high bits of the eight bytes, as the eight low bits.
    let pack = |high: u64| (high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56;
    let mut padded = [0u8; 64];
    let block: &[u8; 64] = match block.try_into() {
        Ok(b) => b,
        Err(_) => {
            padded[..block.len()].copy_from_slice(block);
            &padded
        }
    };
    let (mut commas, mut breaks) = (0u64, 0u64);
    for (k, word) in block.chunks_exact(8).enumerate() {
        let word = u64::from_le_bytes(word.try_into().expect("8 bytes"));
        commas |= pack(equal(word, b',')) << (k * 8);
        breaks |= pack(equal(word, b'\n') | equal(word, b'\r')) << (k * 8);
    }
    (commas, breaks)
}

/// A text without quotes: cut into one part per core at line breaks, parts split side by side.
fn parse_plain(text: &str) -> Result<Table<'_>, CsvError> {
    use rayon::prelude::*;
    let mut table = Table::default();
    let Header { names, rest, line } = header(text)?;
    let rest = &text[rest..];
    table.header = names;
    let width = table.header.len();
    table.columns = vec![Vec::new(); width];
    if width == 0 || rest.is_empty() {
        return Ok(table);
    }
    // A part of a file already read a part per core (`CsvChunks`) is split here in one piece:
    // splitting it again would only add the copy that joins the pieces.
    let parts = if rest.len() < SPLIT_ALONE_BYTES {
        1
    } else {
        rayon::current_num_threads().max(1)
    };
    let mut cuts = vec![0];
    for k in 1..parts {
        let at = rest.len() * k / parts;
        let at = match rest.as_bytes()[at.max(*cuts.last().expect("one cut"))..]
            .iter()
            .position(|&b| b == b'\n')
        {
            Some(i) => at.max(*cuts.last().expect("one cut")) + i + 1,
            None => rest.len(),
        };
        cuts.push(at);
    }
    cuts.push(rest.len());
    cuts.dedup();
    let pieces: Vec<&str> = cuts.windows(2).map(|w| &rest[w[0]..w[1]]).collect();
    // Each part's first line: the one after the header's, plus the line breaks before it.
    // Parts end at a `\n`, so none splits a `\r\n`.
    let mut firsts = Vec::with_capacity(pieces.len());
    let mut at = line;
    for p in &pieces {
        firsts.push(at);
        at += line_breaks(p.as_bytes());
    }
    let split: Vec<Table> = pieces
        .into_par_iter()
        .zip(firsts)
        .map(|(piece, first)| {
            let rows = line_breaks(piece.as_bytes()) + 1;
            let mut t = Table {
                header: Vec::new(),
                columns: (0..width).map(|_| Vec::with_capacity(rows)).collect(),
                lines: Vec::with_capacity(rows),
                wide: Vec::new(),
            };
            let mut split = PlainSplit::new(piece, 0, first, width, Misfits::Fit);
            while let Some(tile) = split.next_tile(TILE_ROWS) {
                for (c, col) in t.columns.iter_mut().enumerate() {
                    col.extend((0..tile.rows()).map(|r| tile.field(r, c).map(Cow::Borrowed)));
                }
                t.lines.extend_from_slice(tile.lines);
            }
            t.wide = split.wide;
            t
        })
        .collect();
    if split.len() == 1 {
        let mut only = split.into_iter().next().expect("one part");
        only.header = table.header;
        return Ok(only);
    }
    for t in split {
        for (all, part) in table.columns.iter_mut().zip(t.columns) {
            all.extend(part);
        }
        table.lines.extend(t.lines);
        table.wide.extend(t.wide);
    }
    Ok(table)
}

/// Texts shorter than this are split into fields on one thread.
const SPLIT_ALONE_BYTES: usize = 8 << 20;

/// Rows per tile when a whole text becomes a table.
const TILE_ROWS: usize = 4096;

/// `for_each_tile` for any text: each row's fields are copied, their quotes undone, into a
/// text the tile owns.
fn quoted_tiles(
    text: &str,
    rows: usize,
    misfits: Misfits,
    mut tile: impl FnMut(Tile<'_, '_>) -> bool,
) -> Result<(Vec<String>, Option<Misfit>), CsvError> {
    // A tile's text is handed out before it grows past this, so the offsets fit in `u32`
    // unless a single row does not.
    const FLUSH_BYTES: usize = 16 << 20;
    let rows = rows.max(1);
    let mut own = String::new();
    let (mut bounds, mut lines) = (Vec::<u32>::new(), Vec::new());
    let (mut misfit, mut too_long, mut stopped) = (None, None, false);
    let mut width = 0;
    let header = quoted_rows(text, |r: Row| {
        width = r.fields.len();
        if r.found != width && misfits == Misfits::Stop {
            misfit = Some(Misfit {
                line: r.line,
                found: r.found,
            });
            return false;
        }
        let size: usize = r.fields.iter().flatten().map(|f| f.len() + 1).sum();
        if own.len() + size + width >= u32::MAX as usize {
            too_long = Some(r.line);
            return false;
        }
        bounds.push((own.len() as u32).wrapping_sub(1));
        for f in r.fields {
            own.push_str(f.as_deref().unwrap_or_default());
            bounds.push(own.len() as u32);
            own.push(',');
        }
        lines.push(r.line);
        if lines.len() == rows || own.len() > FLUSH_BYTES {
            let go = tile(Tile {
                text: &own,
                width,
                bounds: &bounds,
                lines: &lines,
            });
            own.clear();
            bounds.clear();
            lines.clear();
            stopped = !go;
            return go;
        }
        true
    })?;
    if let Some(line) = too_long {
        return Err(CsvError::TooLong(line));
    }
    if !stopped && !lines.is_empty() {
        tile(Tile {
            text: &own,
            width,
            bounds: &bounds,
            lines: &lines,
        });
    }
    Ok((header, misfit))
}

/// The general reader, for texts with quoted fields: each data row to `row`, which returns
/// false to stop; returns the header.
fn quoted_rows<'a>(
    text: &'a str,
    mut row: impl FnMut(Row<'_, 'a>) -> bool,
) -> Result<Vec<String>, CsvError> {
    let bytes = text.as_bytes();
    let Header {
        names,
        mut rest,
        mut line,
    } = header(text)?;
    let width = names.len();
    let mut fields: Vec<Option<Cow<'_, str>>> = Vec::with_capacity(width);
    while rest < bytes.len() {
        let (start, start_line) = (rest, line);
        fields.clear();
        // Fields past the header's count are counted, not kept: a line of commas holds no
        // more than the header's.
        let (found, end) = read_record(text, &mut rest, &mut line, &mut fields, width)?;
        if is_blank_line(&bytes[start..end]) {
            continue;
        }
        fields.resize(width, None);
        if !row(Row {
            line: start_line,
            found,
            fields: &fields,
        }) {
            break;
        }
    }
    Ok(names)
}

/// Reads one record from `pos`, pushing its first `keep` fields; moves `pos` past its line end
/// and counts the lines it spans. Returns how many fields it has and where its text ends
/// (before the line end).
fn read_record<'a>(
    text: &'a str,
    pos: &mut usize,
    line: &mut usize,
    fields: &mut Vec<Option<Cow<'a, str>>>,
    keep: usize,
) -> Result<(usize, usize), CsvError> {
    let bytes = text.as_bytes();
    let mut found = 0;
    loop {
        let (field, next) = read_field(text, *pos, line)?;
        if found < keep {
            fields.push(field);
        }
        found += 1;
        match bytes.get(next) {
            Some(b',') => *pos = next + 1,
            Some(b'\n') => {
                *pos = next + 1;
                *line += 1;
                return Ok((found, next));
            }
            Some(b'\r') => {
                *pos = next + 1 + usize::from(bytes.get(next + 1) == Some(&b'\n'));
                *line += 1;
                return Ok((found, next));
            }
            _ => {
                *pos = bytes.len();
                return Ok((found, next));
            }
        }
    }
}

/// One field from `start`: its text (`None` when empty) and where it ends (at the comma or line
/// end after it).
fn read_field<'a>(
    text: &'a str,
    start: usize,
    line: &mut usize,
) -> Result<(Option<Cow<'a, str>>, usize), CsvError> {
    let bytes = text.as_bytes();
    if bytes.get(start) == Some(&b'"') {
        let open_line = *line;
        let mut i = start + 1;
        let mut owned: Option<String> = None;
        let mut piece = i;
        loop {
            match bytes.get(i) {
                None => return Err(CsvError::OpenQuote(open_line)),
                Some(b'"') if bytes.get(i + 1) == Some(&b'"') => {
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&text[piece..=i]);
                    i += 2;
                    piece = i;
                }
                Some(b'"') => {
                    let value = match owned {
                        Some(mut s) => {
                            s.push_str(&text[piece..i]);
                            Cow::Owned(s)
                        }
                        None => Cow::Borrowed(&text[piece..i]),
                    };
                    // Text after the closing quote up to the separator belongs to the field,
                    // as most readers take it (`"a"b` is `ab`).
                    let mut end = i + 1;
                    while let Some(&b) = bytes.get(end) {
                        if matches!(b, b',' | b'\n' | b'\r') {
                            break;
                        }
                        end += 1;
                    }
                    let value = if end > i + 1 {
                        Cow::Owned(format!("{value}{}", &text[i + 1..end]))
                    } else {
                        value
                    };
                    return Ok(((!value.is_empty()).then_some(value), end));
                }
                // Line breaks inside quotes are the field's, and still count as lines.
                Some(b'\n') => {
                    *line += 1;
                    i += 1;
                }
                Some(b'\r') => {
                    if bytes.get(i + 1) != Some(&b'\n') {
                        *line += 1;
                    }
                    i += 1;
                }
                Some(_) => i += 1,
            }
        }
    }
    let end =
        memchr::memchr3(b',', b'\n', b'\r', &bytes[start..]).map_or(bytes.len(), |i| start + i);
    // A quote inside a field that did not start with one is a character of it.
    let value = &text[start..end];
    Ok(((!value.is_empty()).then_some(Cow::Borrowed(value)), end))
}

#[cfg(test)]
mod tests;
