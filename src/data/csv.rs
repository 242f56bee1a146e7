//! The CSV reader every file goes through: RFC 4180 fields (double quotes around a field that
//! holds a comma, a quote or a line break, `""` for a quote inside one), `\n` or `\r\n` line
//! ends, every field as text. Blank lines are not rows; each row keeps the file line it starts
//! on, so an error can name it. Fields borrow from the file's text unless a doubled quote had
//! to be undone.
//!
//! Validation (types, labels, missing values) is the caller's: this only splits text.

use std::borrow::Cow;

/// Why a text is not a table.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CsvError {
    #[error("the text is not UTF-8 (byte {0})")]
    NotUtf8(usize),
    #[error("line {0}: a quoted field is never closed")]
    OpenQuote(usize),
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

/// Checks that `bytes` are UTF-8 text, naming the first byte that is not.
pub fn text(bytes: &[u8]) -> Result<&str, CsvError> {
    std::str::from_utf8(bytes).map_err(|e| CsvError::NotUtf8(e.valid_up_to()))
}

/// Splits `text` (the header first) into a table. Fields past the header's count are dropped
/// (callers that care check counts first); a row short of fields has `None` for the rest.
pub fn parse(text: &str) -> Result<Table<'_>, CsvError> {
    // Most files quote nothing: then every line break ends a record, and the text can be cut
    // at line breaks and split on every core.
    if !text.as_bytes().contains(&b'"') {
        return Ok(parse_plain(text));
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
        true
    })?;
    table.columns.resize(table.header.len(), Vec::new());
    Ok(table)
}

/// One data row as `for_each_row` hands it out.
pub struct Row<'r, 'a> {
    /// The file line the row starts on, counting the header's line as 1.
    pub line: usize,
    /// How many fields the record has, before `fields` is cut or padded to the header's count.
    pub found: usize,
    /// The header's count of fields; `None` when empty or missing.
    pub fields: &'r [Option<Cow<'a, str>>],
}

/// Splits `text` as `parse` does, handing each data row to `row` instead of keeping its cells:
/// a reader that types fields as they come then holds no cell per field. `row` returns false
/// to stop early. Returns the header.
pub fn for_each_row<'a>(
    text: &'a str,
    mut row: impl FnMut(Row<'_, 'a>) -> bool,
) -> Result<Vec<String>, CsvError> {
    if text.as_bytes().contains(&b'"') {
        return quoted_rows(text, row);
    }
    let (header, rest, line) = plain_header(text);
    if !header.is_empty() {
        plain_rows(rest, line + 1, header.len(), &mut row);
    }
    Ok(header)
}

/// The header of a text without quotes (the first line with a field), the text after it and
/// the header's line.
fn plain_header(text: &str) -> (Vec<String>, &str, usize) {
    let mut rest = text;
    let mut line = 1;
    while !rest.is_empty() {
        let (head, tail) = rest.split_once('\n').unwrap_or((rest, ""));
        rest = tail;
        let head = head.strip_suffix('\r').unwrap_or(head);
        if head.split(',').any(|f| !f.is_empty()) {
            return (head.split(',').map(str::to_string).collect(), rest, line);
        }
        line += 1;
    }
    (Vec::new(), "", line)
}

/// Hands each row of `piece`, a text without quotes whose first line is file line `first`, to
/// `row` as `width` fields; lines of empty fields are skipped. One pass finds every comma and
/// line break, and fields borrow from the text. Returns false if `row` stopped it.
fn plain_rows<'a>(
    piece: &'a str,
    first: usize,
    width: usize,
    row: &mut impl FnMut(Row<'_, 'a>) -> bool,
) -> bool {
    let bytes = piece.as_bytes();
    let mut fields: Vec<Option<Cow<'a, str>>> = Vec::with_capacity(width);
    let mut line = first;
    let mut start = 0;
    let mut any = false;
    let mut found = 0;
    let mut stops = Separators::new(bytes);
    let mut done = false;
    while !done {
        // The text's end ends its last field.
        let at = stops.next().unwrap_or_else(|| {
            done = true;
            bytes.len()
        });
        let ends_line = done || bytes[at] == b'\n';
        let mut field = &piece[start..at];
        if ends_line {
            field = field.strip_suffix('\r').unwrap_or(field);
        }
        start = at + 1;
        any |= !field.is_empty();
        found += 1;
        if fields.len() < width {
            fields.push((!field.is_empty()).then_some(Cow::Borrowed(field)));
        }
        if ends_line {
            if any {
                fields.resize(width, None);
                let fields = &fields;
                if !row(Row {
                    line,
                    found,
                    fields,
                }) {
                    return false;
                }
            }
            fields.clear();
            any = false;
            found = 0;
            line += 1;
        }
    }
    true
}

/// Where the commas and line breaks of a text are, eight bytes at a time: fields are a few
/// bytes long, so a vector search per field would spend more setting up than it saves, and a
/// byte at a time is a branch per byte.
struct Separators<'b> {
    words: std::slice::ChunksExact<'b, u8>,
    tail: &'b [u8],
    /// The offset of the word being read, and a high bit per separator byte of it not yet
    /// handed out.
    base: usize,
    mask: u64,
    /// The offset of the next word.
    next: usize,
}

impl<'b> Separators<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        let words = bytes.chunks_exact(8);
        let tail = words.remainder();
        Separators {
            words,
            tail,
            base: 0,
            mask: 0,
            next: 0,
        }
    }

    /// A high bit for each byte of `word` equal to `b`; exact, with no carry between bytes.
    #[inline]
    fn equal(word: u64, b: u8) -> u64 {
        const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
        let x = word ^ (u64::from(b) * 0x0101_0101_0101_0101);
        !(((x & LOW7) + LOW7) | x | LOW7)
    }

    /// The next eight bytes (the last zero-padded, and zero is no separator).
    #[inline]
    fn word(&mut self) -> Option<u64> {
        let word = match self.words.next() {
            Some(w) => u64::from_le_bytes(w.try_into().expect("8 bytes")),
            None if !self.tail.is_empty() => {
                let mut w = [0u8; 8];
                w[..self.tail.len()].copy_from_slice(self.tail);
                self.tail = &[];
                u64::from_le_bytes(w)
            }
            None => return None,
        };
        self.base = self.next;
        self.next += 8;
        Some(word)
    }
}

impl Iterator for Separators<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.mask == 0 {
            let word = self.word()?;
            self.mask = Self::equal(word, b',') | Self::equal(word, b'\n');
        }
        let at = self.base + self.mask.trailing_zeros() as usize / 8;
        self.mask &= self.mask - 1;
        Some(at)
    }
}

/// A text without quotes: cut into one part per core at line breaks, parts split side by side.
fn parse_plain(text: &str) -> Table<'_> {
    use rayon::prelude::*;
    let mut table = Table::default();
    let (header, rest, line) = plain_header(text);
    table.header = header;
    let width = table.header.len();
    table.columns = vec![Vec::new(); width];
    if width == 0 || rest.is_empty() {
        return table;
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
    // Each part's first line: the header's, plus the line breaks before it.
    let mut firsts = Vec::with_capacity(pieces.len());
    let mut at = line + 1;
    for p in &pieces {
        firsts.push(at);
        at += memchr::memchr_iter(b'\n', p.as_bytes()).count();
    }
    let split: Vec<Table> = pieces
        .into_par_iter()
        .zip(firsts)
        .map(|(piece, first)| {
            let rows = memchr::memchr_iter(b'\n', piece.as_bytes()).count() + 1;
            let mut t = Table {
                header: Vec::new(),
                columns: (0..width).map(|_| Vec::with_capacity(rows)).collect(),
                lines: Vec::with_capacity(rows),
            };
            plain_rows(piece, first, width, &mut |r: Row| {
                for (col, f) in t.columns.iter_mut().zip(r.fields) {
                    col.push(f.clone());
                }
                t.lines.push(r.line);
                true
            });
            t
        })
        .collect();
    if split.len() == 1 {
        let mut only = split.into_iter().next().expect("one part");
        only.header = table.header;
        return only;
    }
    for t in split {
        for (all, part) in table.columns.iter_mut().zip(t.columns) {
            all.extend(part);
        }
        table.lines.extend(t.lines);
    }
    table
}

/// Texts shorter than this are split into fields on one thread.
const SPLIT_ALONE_BYTES: usize = 8 << 20;

/// The general reader, for texts with quoted fields: each data row to `row` (see
/// `for_each_row`); returns the header.
fn quoted_rows<'a>(
    text: &'a str,
    mut row: impl FnMut(Row<'_, 'a>) -> bool,
) -> Result<Vec<String>, CsvError> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut line = 1;
    let mut header: Option<Vec<String>> = None;
    let mut fields: Vec<Option<Cow<'_, str>>> = Vec::new();
    while pos < bytes.len() {
        let start_line = line;
        fields.clear();
        let end = read_record(text, &mut pos, &mut line, &mut fields)?;
        // A blank line, or a line of empty fields, is no row.
        let blank = fields.iter().all(Option::is_none);
        match &header {
            None if blank => continue,
            None => {
                header = Some(
                    fields
                        .drain(..)
                        .map(|f| f.map(Cow::into_owned).unwrap_or_default())
                        .collect(),
                );
            }
            Some(h) if !blank => {
                let found = fields.len();
                fields.resize(h.len(), None);
                if !row(Row {
                    line: start_line,
                    found,
                    fields: &fields,
                }) {
                    break;
                }
            }
            Some(_) => {}
        }
        if end {
            break;
        }
    }
    Ok(header.unwrap_or_default())
}

/// Reads one record from `pos`, pushing its fields; moves `pos` past its line end and counts
/// the lines it spans. Returns whether the text ended.
fn read_record<'a>(
    text: &'a str,
    pos: &mut usize,
    line: &mut usize,
    fields: &mut Vec<Option<Cow<'a, str>>>,
) -> Result<bool, CsvError> {
    let bytes = text.as_bytes();
    loop {
        let (field, next) = read_field(text, *pos, line)?;
        fields.push(field);
        match bytes.get(next) {
            Some(b',') => *pos = next + 1,
            Some(b'\n') => {
                *pos = next + 1;
                *line += 1;
                return Ok(*pos >= bytes.len());
            }
            Some(b'\r') if bytes.get(next + 1) == Some(&b'\n') => {
                *pos = next + 2;
                *line += 1;
                return Ok(*pos >= bytes.len());
            }
            _ => {
                *pos = bytes.len();
                return Ok(true);
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
                        if matches!(b, b',' | b'\n')
                            || (b == b'\r' && bytes.get(end + 1) == Some(&b'\n'))
                        {
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
                Some(b'\n') => {
                    *line += 1;
                    i += 1;
                }
                Some(_) => i += 1,
            }
        }
    }
    let mut end = start;
    while let Some(&b) = bytes.get(end) {
        match b {
            b',' | b'\n' => break,
            b'\r' if bytes.get(end + 1) == Some(&b'\n') => break,
            // A quote inside a field that did not start with one is a character of it.
            _ => end += 1,
        }
    }
    let value = &text[start..end];
    Ok(((!value.is_empty()).then_some(Cow::Borrowed(value)), end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells(t: &Table) -> Vec<Vec<Option<String>>> {
        (0..t.rows())
            .map(|r| {
                t.columns
                    .iter()
                    .map(|c| c[r].as_ref().map(|v| v.to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn quotes_line_ends_and_blank_lines() {
        let text = "\n\na,b,c\r\n1,\"x, \"\"y\"\"\",\r\n\n2,\"two\nlines\",3\n\n4,,\"\"\n5";
        let t = parse(text).unwrap();
        assert_eq!(t.header, vec!["a", "b", "c"]);
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            cells(&t),
            vec![
                vec![s("1"), s("x, \"y\""), None],
                vec![s("2"), s("two\nlines"), s("3")],
                vec![s("4"), None, None],
                vec![s("5"), None, None],
            ]
        );
        assert_eq!(t.lines, vec![4, 6, 9, 10]);
        assert_eq!(t.column("b").unwrap()[1].as_deref(), Some("two\nlines"));
    }

    #[test]
    fn a_text_without_quotes_splits_on_every_core_the_same_way() {
        let mut text = String::from("\r\n\na,b,c\r\n");
        for i in 0..5000 {
            match i % 7 {
                0 => text.push('\n'),
                1 => text.push_str(",,\r\n"),
                2 => text.push_str(&format!("{i},,x\r\n")),
                _ => text.push_str(&format!("{i},{},y\n", i * 2)),
            }
        }
        text.push_str("last,1");
        let plain = parse(&text).unwrap();
        // The general reader (a quote added to a field that does not start with one changes
        // nothing but the path).
        let quoted = parse_quoted(&text).unwrap();
        assert_eq!(plain, quoted);
        assert_eq!(plain.header, vec!["a", "b", "c"]);
        assert_eq!(plain.lines.last(), Some(&5004));
        assert_eq!(plain.rows(), 5000 - 2 * 715 + 1);
    }

    #[test]
    fn broken_text_is_an_error_naming_its_line() {
        assert_eq!(parse("a\n\"open\n\n"), Err(CsvError::OpenQuote(2)));
        assert_eq!(
            parse("a\nx\"y\n").unwrap().columns[0][0].as_deref(),
            Some("x\"y")
        );
        assert_eq!(text(b"a\n\xff"), Err(CsvError::NotUtf8(2)));
        assert_eq!(parse("").unwrap().rows(), 0);
        assert_eq!(parse("a,b\n").unwrap().header, vec!["a", "b"]);
    }
}
