//! Parquet values as cells. Each value is given the text the CSV of the same table holds for it
//! (as pandas writes one: Python's float repr, `True`/`False`), and that text goes through
//! `frame::parse_cell`, the one coercion rule; so ids, labels, missing values and wrong types
//! come out as from the CSV. Numbers a numeric column takes as they are skip the text, with the
//! value `parse_cell` would give it (a test holds the two paths to each other), and values a
//! categorical or label column has seen before are not read again.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::Write;
use std::path::Path;

use super::{Chunks, Kind, ParquetError, Part, Piece, Values};
use crate::data::csv::Table;
use crate::data::frame::{parse_cell, CellError, ColumnBuilder, Frame};
use crate::data::header::check_header;
use crate::data::load::{Labels, LoadError};
use crate::data::spec::{ColumnSpec, DatasetSpec, Role, ValueType};

/// One value as stored.
#[derive(Debug, Clone, Copy)]
enum Raw<'a> {
    Null,
    Int(i64),
    /// An unsigned 64-bit value (only such columns give one).
    UInt(u64),
    Float(f64),
    Float32(f32),
    Bool(bool),
    Bytes(&'a [u8]),
}

/// Why a value was refused, before the file, row and column are added.
#[derive(Debug, PartialEq)]
enum FieldError {
    Cell(CellError, String),
    Missing,
    UnknownLabel(String),
    NotUtf8,
}

impl Raw<'_> {
    /// The value as the CSV of the table writes it; `None` for no value. A float's NaN is
    /// written as pandas writes it, empty.
    fn text<'b>(&'b self, buf: &'b mut String) -> Result<Option<&'b str>, FieldError> {
        buf.clear();
        match *self {
            Raw::Null => return Ok(None),
            Raw::Bytes(b) => {
                return std::str::from_utf8(b)
                    .map(Some)
                    .map_err(|_| FieldError::NotUtf8)
            }
            Raw::Bool(b) => return Ok(Some(if b { "True" } else { "False" })),
            Raw::Int(v) => {
                if v < 0 {
                    buf.push('-');
                }
                push_digits(buf, v.unsigned_abs());
            }
            Raw::UInt(v) => push_digits(buf, v),
            Raw::Float(x) if x.is_finite() => python_float(&format!("{x:e}"), buf),
            Raw::Float32(x) if x.is_finite() => python_float(&format!("{x:e}"), buf),
            Raw::Float(x) => float_special(x, buf),
            Raw::Float32(x) => float_special(f64::from(x), buf),
        }
        Ok(Some(buf.as_str()))
    }

    /// The value's key among those seen before: its bits, or its bytes. A column holds one
    /// physical type, so bits never stand for two values.
    fn key(&self) -> Option<Key<'_>> {
        Some(match *self {
            Raw::Null => return None,
            Raw::Int(v) => Key::Bits(v as u64),
            Raw::UInt(v) => Key::Bits(v),
            Raw::Float(x) => Key::Bits(x.to_bits()),
            Raw::Float32(x) => Key::Bits(u64::from(x.to_bits())),
            Raw::Bool(b) => Key::Bits(u64::from(b)),
            Raw::Bytes(b) => Key::Bytes(b),
        })
    }
}

/// `v` in decimal: ids are written a few hundred thousand times a file, and `write!` spends
/// more on its machinery than on the digits.
fn push_digits(buf: &mut String, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
}

fn float_special(x: f64, buf: &mut String) {
    buf.push_str(match x {
        x if x.is_nan() => "",
        x if x > 0.0 => "inf",
        _ => "-inf",
    });
}

/// A finite number as Python's `repr` (and so pandas' CSV writer) writes it, from Rust's `{:e}`
/// of it (the same shortest digits that read back as the value): fixed with a `.0` on whole
/// numbers from 1e-4 up to 1e16, else `1.5e-05`, `1e+16`.
fn python_float(sci: &str, out: &mut String) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    let digits: String = mantissa.chars().filter(|&c| c != '.').collect();
    if negative {
        out.push('-');
    }
    // Digits before the point.
    let point = exp + 1;
    if -4 < point && point <= 16 {
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else if point as usize >= digits.len() {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', point as usize - digits.len()));
            out.push_str(".0");
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs());
    }
}

/// A number for a numeric column without its text, where the result is the one `parse_cell`
/// gives the text: an integer's text reads back as itself (as an integer, or as the nearest
/// double, which `as` gives too); a double's shortest text reads back as it; a whole double
/// is an integer below 9e15. Anything else (NaN, infinities, a fraction in an integer column,
/// an unsigned 64-bit value) takes the text's path and its verdict.
#[inline]
fn plain_number(value: ValueType, raw: Raw) -> Option<f64> {
    match (value, raw) {
        (ValueType::Int | ValueType::Float, Raw::Int(v)) => Some(v as f64),
        (ValueType::Float, Raw::Float(x)) if x.is_finite() => Some(x),
        (ValueType::Int, Raw::Float(x)) if x.fract() == 0.0 && x.abs() < 9.0e15 => {
            Some(x as i64 as f64)
        }
        _ => None,
    }
}

enum Key<'a> {
    Bits(u64),
    Bytes(&'a [u8]),
}

type Hasher = foldhash::fast::RandomState;

/// Values seen before and what they became: a categorical code or a label's index. A small
/// direct-mapped table answers most without hashing or comparing text: a number by its bits,
/// a text by the address and length of its bytes. A dictionary-encoded column's values share
/// their dictionary's bytes, and a part's values stay put while it is typed (a `Seen` lives
/// for one part), so an address stands for one text. A miss falls back to hash maps.
struct Seen {
    recent: Box<[(u64, u32, u32)]>,
    bits: HashMap<u64, u32, Hasher>,
    bytes: HashMap<Box<[u8]>, u32, Hasher>,
}

impl Default for Seen {
    fn default() -> Self {
        Seen {
            recent: vec![(0, Seen::EMPTY, 0); Seen::SLOTS].into_boxed_slice(),
            bits: HashMap::default(),
            bytes: HashMap::default(),
        }
    }
}

impl Seen {
    const SLOTS: usize = 256;
    /// The tag of a number's entry; a text's is its length.
    const BITS: u32 = u32::MAX;
    /// The tag of an empty slot, which no key has.
    const EMPTY: u32 = u32::MAX - 1;

    /// The key's slot, and what the slot holds when it holds the key.
    #[inline(always)]
    fn recent(key: &Key) -> Option<(usize, u64, u32)> {
        let (k, tag) = match key {
            Key::Bits(b) => (*b, Seen::BITS),
            Key::Bytes(b) if b.len() < Seen::EMPTY as usize => (b.as_ptr() as u64, b.len() as u32),
            Key::Bytes(_) => return None,
        };
        let slot = (k.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % Seen::SLOTS;
        Some((slot, k, tag))
    }

    #[inline(always)]
    fn get(&mut self, key: &Key) -> Option<u32> {
        let at = Seen::recent(key);
        if let Some((slot, k, tag)) = at {
            let (sk, st, v) = self.recent[slot];
            if sk == k && st == tag {
                return Some(v);
            }
        }
        self.get_hashed(key, at)
    }

    #[inline(never)]
    fn get_hashed(&mut self, key: &Key, at: Option<(usize, u64, u32)>) -> Option<u32> {
        let v = match key {
            Key::Bits(b) => self.bits.get(b),
            Key::Bytes(b) => self.bytes.get(*b),
        }
        .copied()?;
        if let Some((slot, k, tag)) = at {
            self.recent[slot] = (k, tag, v);
        }
        Some(v)
    }

    fn insert(&mut self, key: Key, value: u32) {
        if let Some((slot, k, tag)) = Seen::recent(&key) {
            self.recent[slot] = (k, tag, value);
        }
        match key {
            Key::Bits(b) => self.bits.insert(b, value),
            Key::Bytes(b) => self.bytes.insert(b.into(), value),
        };
    }
}

enum Out {
    Column(ColumnBuilder),
    Labels(Vec<u16>),
}

/// Types one spec column's values as rows come, as `load`'s field reader does a CSV's.
struct Typer<'s> {
    col: &'s ColumnSpec,
    /// The column's position in the file.
    at: usize,
    out: Out,
    seen: Seen,
    buf: String,
}

impl<'s> Typer<'s> {
    fn new(col: &'s ColumnSpec, at: usize, rows: usize) -> Self {
        let out = if col.role == Role::Target {
            Out::Labels(Vec::with_capacity(rows))
        } else {
            Out::Column(ColumnBuilder::new(col, rows))
        };
        Typer {
            col,
            at,
            out,
            seen: Seen::default(),
            buf: String::new(),
        }
    }

    /// Types rows `..upto` of a column's values; the error names the first bad row. The
    /// common cases (a plain number for a numeric column, a value seen before) are decided per
    /// column, so each loop is tight; the rest go through `push_new`.
    fn read(
        &mut self,
        piece: &Piece,
        kind: Kind,
        upto: usize,
        spec: &DatasetSpec,
    ) -> Result<(), (usize, FieldError)> {
        let value = self.col.value;
        match &self.out {
            Out::Column(ColumnBuilder::Numeric(_)) => piece.each(kind, upto, |row, raw| {
                match (plain_number(value, raw), &mut self.out) {
                    (Some(x), Out::Column(ColumnBuilder::Numeric(v))) => {
                        v.push(x);
                        Ok(())
                    }
                    _ => self.push_new(raw, spec).map_err(|e| (row, e)),
                }
            }),
            Out::Column(ColumnBuilder::Categorical(..)) | Out::Labels(_) => {
                piece.each(kind, upto, |row, raw| {
                    let seen = raw.key().and_then(|k| self.seen.get(&k));
                    match (seen, &mut self.out) {
                        (Some(code), Out::Column(ColumnBuilder::Categorical(c, _))) => {
                            c.codes.push(code);
                            Ok(())
                        }
                        (Some(i), Out::Labels(l)) => {
                            l.push(i as u16);
                            Ok(())
                        }
                        _ => self.push_new(raw, spec).map_err(|e| (row, e)),
                    }
                })
            }
            Out::Column(_) => piece.each(kind, upto, |row, raw| {
                self.push_new(raw, spec).map_err(|e| (row, e))
            }),
        }
    }

    /// Types a value through its text, as the CSV's cell is typed.
    #[inline(never)]
    fn push_new(&mut self, raw: Raw, spec: &DatasetSpec) -> Result<(), FieldError> {
        let Typer {
            col,
            out,
            seen,
            buf,
            ..
        } = self;
        let key = raw.key();
        let text = raw.text(buf)?;
        match out {
            Out::Labels(l) => {
                let v = text.map(str::trim).unwrap_or("");
                if v.is_empty() {
                    return Err(FieldError::Missing);
                }
                let i = spec
                    .label_index(v)
                    .ok_or_else(|| FieldError::UnknownLabel(v.to_string()))?;
                if let Some(k) = key {
                    seen.insert(k, i as u32);
                }
                l.push(i as u16);
            }
            Out::Column(b) => {
                let cell = parse_cell(col, text)
                    .map_err(|e| FieldError::Cell(e, text.unwrap_or_default().to_string()))?;
                let code = b.push(cell);
                if let (Role::Categorical, Some(k), Some(code)) = (col.role, key, code) {
                    seen.insert(k, code);
                }
            }
        }
        Ok(())
    }
}

impl Piece {
    /// Calls `f` with each of rows `..upto` and its value.
    fn each<'a, E>(
        &'a self,
        kind: Kind,
        upto: usize,
        mut f: impl FnMut(usize, Raw<'a>) -> Result<(), E>,
    ) -> Result<(), E> {
        // Monomorphised per stored type, so each loop is tight.
        #[inline(always)]
        fn walk<'a, T, E>(
            values: &'a [T],
            levels: Option<&[i16]>,
            upto: usize,
            raw: impl Fn(&'a T) -> Raw<'a>,
            f: &mut impl FnMut(usize, Raw<'a>) -> Result<(), E>,
        ) -> Result<(), E> {
            match levels {
                None => {
                    for (row, v) in values[..upto].iter().enumerate() {
                        f(row, raw(v))?;
                    }
                }
                Some(levels) => {
                    let mut next = values.iter();
                    for (row, &d) in levels[..upto].iter().enumerate() {
                        match if d == 1 { next.next() } else { None } {
                            Some(v) => f(row, raw(v))?,
                            None => f(row, Raw::Null)?,
                        }
                    }
                }
            }
            Ok(())
        }
        let l = self.levels.as_deref();
        match &self.values {
            Values::Bool(v) => walk(v, l, upto, |&b| Raw::Bool(b), &mut f),
            Values::I32(v) if kind == Kind::UInt32 => {
                walk(v, l, upto, |&x| Raw::Int(i64::from(x as u32)), &mut f)
            }
            Values::I32(v) => walk(v, l, upto, |&x| Raw::Int(i64::from(x)), &mut f),
            Values::I64(v) if kind == Kind::UInt64 => {
                walk(v, l, upto, |&x| Raw::UInt(x as u64), &mut f)
            }
            Values::I64(v) => walk(v, l, upto, |&x| Raw::Int(x), &mut f),
            Values::F32(v) => walk(v, l, upto, |&x| Raw::Float32(x), &mut f),
            Values::F64(v) => walk(v, l, upto, |&x| Raw::Float(x), &mut f),
            Values::Text(v) => walk(v, l, upto, |b| Raw::Bytes(b.as_ref()), &mut f),
        }
    }
}

impl Part {
    /// Validates the part against `spec` as `parse_csv` validates a CSV's rows: the same
    /// header checks, the same cells, the first bad row's error and in it the first bad column
    /// in spec order; the frame is the one the CSV of the same rows gives.
    pub fn parse(
        self,
        path: &Path,
        spec: &DatasetSpec,
        labels: Labels,
    ) -> Result<Frame, LoadError> {
        let p = || path.to_path_buf();
        let header: Vec<String> = self.shared.fields.iter().map(|f| f.name.clone()).collect();
        if header.is_empty() {
            return Err(LoadError::Empty { path: p() });
        }
        check_header(&header, spec, labels, path)?;
        if self.rows == 0 {
            return Err(LoadError::HeaderOnly { path: p() });
        }
        let mut typers: Vec<Typer> = spec
            .columns
            .iter()
            .filter_map(|col| {
                let at = header.iter().position(|h| h == &col.name)?;
                Some(Typer::new(col, at, self.rows))
            })
            .collect();
        let mut first: Option<(usize, FieldError, usize)> = None;
        for (i, t) in typers.iter_mut().enumerate() {
            // Rows after a bad one already found need no look.
            let upto = first.as_ref().map_or(self.rows, |f| f.0);
            let kind = self.shared.fields[t.at].kind;
            if let Err((row, e)) = t.read(&self.pieces[t.at], kind, upto, spec) {
                first = Some((row, e, i));
            }
        }
        if let Some((row, e, i)) = first {
            return Err(self.locate(path, spec, typers[i].col, row, e).into());
        }
        let mut columns = Vec::new();
        let mut label_idx = None;
        for t in typers {
            match t.out {
                Out::Column(b) => columns.push((t.col.name.clone(), b.finish())),
                Out::Labels(l) => label_idx = Some(l),
            }
        }
        Ok(Frame::assemble(
            spec,
            path.display().to_string(),
            columns,
            label_idx,
        ))
    }

    /// The error for row `row` of the part, in the words a CSV's error uses.
    fn locate(
        &self,
        path: &Path,
        spec: &DatasetSpec,
        col: &ColumnSpec,
        row: usize,
        e: FieldError,
    ) -> ParquetError {
        let shown = crate::util::shown;
        let why = match e {
            FieldError::Missing | FieldError::Cell(CellError::Missing, _) => {
                "the value is missing and this column has no gaps in the dataset".to_string()
            }
            FieldError::Cell(CellError::WrongType { expected }, v) => {
                format!("expected {expected}, found '{}'", shown(&v))
            }
            FieldError::UnknownLabel(v) => format!(
                "unknown label '{}' (known: {})",
                shown(&v),
                spec.target.labels.join(", ")
            ),
            FieldError::NotUtf8 => "the value is not UTF-8 text".to_string(),
        };
        ParquetError::Value {
            path: path.to_path_buf(),
            row: self.first_row + row + 1,
            group: self.group,
            groups: self.shared.groups,
            column: col.name.clone(),
            why,
        }
    }
}

/// Every column of a Parquet file as the text its CSV would hold, with no spec: `data init` and
/// outcomes read it as they read a CSV. A row's "line" is the one it would have in that CSV,
/// the header's line being 1.
pub fn read_text_columns(path: &Path) -> anyhow::Result<Table<'static>> {
    let chunks = Chunks::open(path, 1 << 16)?;
    let header = chunks.header();
    let mut columns: Vec<Vec<Option<Cow<'static, str>>>> = vec![Vec::new(); header.len()];
    let mut buf = String::new();
    let mut rows = 0;
    for part in chunks {
        let part = part?;
        for (c, piece) in part.pieces.iter().enumerate() {
            let out = &mut columns[c];
            piece.each(part.shared.fields[c].kind, part.rows, |row, raw| {
                let text = raw.text(&mut buf).map_err(|_| ParquetError::Value {
                    path: path.to_path_buf(),
                    row: part.first_row + row + 1,
                    group: part.group,
                    groups: part.shared.groups,
                    column: part.shared.fields[c].name.clone(),
                    why: "the value is not UTF-8 text".into(),
                })?;
                out.push(
                    text.filter(|t| !t.is_empty())
                        .map(|t| Cow::Owned(t.to_string())),
                );
                Ok::<_, ParquetError>(())
            })?;
        }
        rows += part.rows;
    }
    Ok(Table {
        header,
        columns,
        lines: (0..rows).map(|r| r + 2).collect(),
        wide: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_written_as_python_writes_them() {
        // Python's `repr` of each.
        for (x, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (12345678901234567.0, "1.2345678901234568e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (1e100, "1e+100"),
            (-2.5e-300, "-2.5e-300"),
            (123.456, "123.456"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (4142.0, "4142.0"),
            (2f64.powi(60), "1.152921504606847e+18"),
        ] {
            let mut buf = String::new();
            assert_eq!(Raw::Float(x).text(&mut buf).unwrap(), Some(want), "{x:e}");
        }
        let mut buf = String::new();
        assert_eq!(Raw::Float32(0.1).text(&mut buf).unwrap(), Some("0.1"));
        assert_eq!(Raw::Float(f64::NAN).text(&mut buf).unwrap(), Some(""));
        assert_eq!(
            Raw::Float(f64::NEG_INFINITY).text(&mut buf).unwrap(),
            Some("-inf")
        );
        assert_eq!(Raw::Bool(true).text(&mut buf).unwrap(), Some("True"));
        assert_eq!(Raw::Bytes(b"\xff").text(&mut buf), Err(FieldError::NotUtf8));
    }

    /// Every kind of column, every kind of value: typed as a part types it, and as
    /// `parse_cell` types the value's text, the columns and the errors are the same.
    #[test]
    fn typed_values_are_the_cells_their_text_gives() {
        let mut rng = crate::data::rng::Rng::new(7);
        let mut raws: Vec<Raw> = vec![
            Raw::Null,
            Raw::Int(0),
            Raw::Int(-7),
            Raw::Int(i64::MAX),
            Raw::Int(i64::MIN),
            Raw::Int(9_007_199_254_740_993),
            Raw::UInt(u64::MAX),
            Raw::UInt(12),
            Raw::Float(-0.0),
            Raw::Float(3.0),
            Raw::Float(2.5),
            Raw::Float(9.0e15),
            Raw::Float(8.999_999_999_999_998e15),
            Raw::Float(1e300),
            Raw::Float(f64::NAN),
            Raw::Float(f64::INFINITY),
            Raw::Float32(0.1),
            Raw::Float32(7.0),
            Raw::Bool(true),
            Raw::Bytes(b"7"),
            Raw::Bytes(b" 7.0 "),
            Raw::Bytes(b"NA"),
            Raw::Bytes(b""),
            Raw::Bytes(b"0-10"),
            Raw::Bytes(b"seven"),
        ];
        for _ in 0..400 {
            let v = rng.below(2_000_000) as i64 - 1_000_000;
            raws.push(Raw::Int(v));
            raws.push(Raw::Float(
                v as f64 / [1.0, 4.0, 1000.0][rng.below(3) as usize],
            ));
        }
        // Twice, so values seen before take their shortcut.
        let raws: Vec<Raw> = raws.iter().chain(raws.iter()).copied().collect();
        let spec = DatasetSpec::hospital();
        let mut cols = Vec::new();
        for role in [Role::Id, Role::Categorical, Role::Numeric, Role::Target] {
            for value in [ValueType::Int, ValueType::Float, ValueType::Text] {
                for nullable in [false, true] {
                    cols.push(ColumnSpec {
                        name: "c".into(),
                        role,
                        value,
                        nullable,
                    });
                }
            }
        }
        // A column holds one stored type (and so one kind of key), and nulls.
        fn kinds<'a>(r: &Raw<'a>) -> std::mem::Discriminant<Raw<'a>> {
            std::mem::discriminant(r)
        }
        let mut groups: Vec<Vec<Raw>> = Vec::new();
        for r in raws.iter().filter(|r| !matches!(r, Raw::Null)) {
            match groups.iter_mut().find(|g| kinds(&g[1]) == kinds(r)) {
                Some(g) => g.push(*r),
                None => groups.push(vec![Raw::Null, *r]),
            }
        }
        // Each value as a one-row part's column, all kept while they are typed (as a part's
        // values are), so a text's address stands for it.
        let piece = |raw: &Raw| {
            let levels = Some(vec![i16::from(!matches!(raw, Raw::Null))]);
            let (values, kind) = match *raw {
                Raw::Null => (Values::I64(vec![]), Kind::Int64),
                Raw::Int(v) => (Values::I64(vec![v]), Kind::Int64),
                Raw::UInt(v) => (Values::I64(vec![v as i64]), Kind::UInt64),
                Raw::Float(x) => (Values::F64(vec![x]), Kind::Double),
                Raw::Float32(x) => (Values::F32(vec![x]), Kind::Float),
                Raw::Bool(b) => (Values::Bool(vec![b]), Kind::Bool),
                Raw::Bytes(b) => (Values::Text(vec![b.into()]), Kind::Text),
            };
            (Piece { values, levels }, kind)
        };
        for (col, raws) in cols.iter().flat_map(|c| groups.iter().map(move |g| (c, g))) {
            let mut typer = Typer::new(col, 0, 0);
            let mut want = Typer::new(col, 0, 0);
            let (mut got_errors, mut want_errors) = (Vec::new(), Vec::new());
            let pieces: Vec<_> = raws.iter().map(piece).collect();
            for (i, (raw, (p, kind))) in raws.iter().zip(&pieces).enumerate() {
                if let Err((_, e)) = typer.read(p, *kind, 1, &spec) {
                    got_errors.push((i, e));
                }
                let mut buf = String::new();
                let text = raw.text(&mut buf);
                let r = match (&mut want.out, text) {
                    (_, Err(e)) => Err(e),
                    (Out::Labels(l), Ok(t)) => match t.map(str::trim).unwrap_or("") {
                        "" => Err(FieldError::Missing),
                        v => spec
                            .label_index(v)
                            .map(|i| l.push(i as u16))
                            .ok_or_else(|| FieldError::UnknownLabel(v.to_string())),
                    },
                    (Out::Column(b), Ok(t)) => parse_cell(col, t)
                        .map(|c| {
                            b.push(c);
                        })
                        .map_err(|e| FieldError::Cell(e, t.unwrap_or_default().to_string())),
                };
                if let Err(e) = r {
                    want_errors.push((i, e));
                }
            }
            assert_eq!(got_errors, want_errors, "{col:?}");
            let show = |o: Out| match o {
                Out::Column(b) => format!("{:?}", b.finish()),
                Out::Labels(l) => format!("{l:?}"),
            };
            assert_eq!(show(typer.out), show(want.out), "{col:?}");
        }
    }
}
