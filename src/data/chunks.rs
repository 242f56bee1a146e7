//! A CSV file read a chunk of records at a time, so a file of any size is scored or profiled in
//! constant memory. Each chunk is handed back as CSV bytes (the header, then whole records) that
//! `parse_csv` validates exactly as it validates a whole file; errors are moved to the rows and
//! lines they have in the file. A Parquet file (`parquet::is_parquet`) is cut the same way, into
//! parts of its row groups, so every command that reads a file in chunks reads either format.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use super::load::{parse_csv, Labels, LoadError};
use super::spec::DatasetSpec;
use super::Frame;

/// The most bytes a chunk may grow to while a quoted field is open.
const MAX_CHUNK_BYTES: usize = 64 << 20;

/// One chunk: its records as CSV bytes (header first), where they sit in the file, and how far
/// into the file reading got.
pub struct Chunk {
    pub bytes: Vec<u8>,
    /// Data rows before this chunk.
    pub first_row: usize,
    /// The file line that follows the header in the chunk (its first record, or a blank line
    /// before it).
    pub first_line: usize,
    /// Bytes of the file read so far, for progress.
    pub read: u64,
    /// Lines the header spans (more than one when a name holds a quoted line break).
    header_lines: usize,
    /// A Parquet file's rows, typed as they are stored (`bytes` is then empty).
    parquet: Option<super::parquet::Part>,
}

impl Chunk {
    /// Validates the chunk against `spec`, errors naming the file's rows and lines.
    pub fn parse(
        self,
        path: &Path,
        spec: &DatasetSpec,
        labels: Labels,
    ) -> Result<Frame, LoadError> {
        if let Some(part) = self.parquet {
            return part.parse(path, spec, labels);
        }
        // The chunk's first line after the header is `header_lines + 1`, the file's `first_line`.
        let (rows, lines) = (
            self.first_row,
            self.first_line.saturating_sub(self.header_lines + 1),
        );
        parse_csv(self.bytes, path, spec, labels).map_err(|e| e.shifted(rows, lines))
    }

    /// Bytes of the file the chunk stands for (a Parquet part's share of its row group), to
    /// guess a file's rows from its first chunk.
    pub fn size(&self) -> usize {
        self.parquet.as_ref().map_or(self.bytes.len(), |p| p.size())
    }

    fn of_parquet(part: super::parquet::Part) -> Chunk {
        Chunk {
            bytes: Vec::new(),
            first_row: part.first_row,
            first_line: 0,
            read: part.read,
            header_lines: 0,
            parquet: Some(part),
        }
    }
}

/// Chunks of at most `rows` records of a CSV file, in file order. Lines end as `csv` ends them
/// (`\n`, `\r\n` or a lone `\r`) and blank lines are counted as it counts them, so a chunk's
/// rows and lines are the file's. A Parquet file's chunks come from `parquet::Chunks`.
pub struct CsvChunks {
    /// Set for a Parquet file, which is read through it instead.
    parquet: Option<super::parquet::Chunks>,
    path: PathBuf,
    reader: BufReader<File>,
    /// The header record as it is in the file, ending in a line end.
    header: Vec<u8>,
    header_lines: usize,
    rows: usize,
    rows_before: usize,
    /// The file line the next record starts on.
    line: usize,
    read: u64,
    /// At least one chunk is handed out, so an empty body is reported by `parse_csv`.
    handed: bool,
    done: bool,
    /// The file has no more bytes to read.
    eof: bool,
    /// Times `pending` was refilled, which moves its bytes.
    fills: u64,
    /// Bytes read from the file and not handed out yet start at `pending[at]`.
    pending: Vec<u8>,
    at: usize,
}

impl CsvChunks {
    pub fn open(path: &Path, rows: usize) -> Result<CsvChunks, LoadError> {
        let io = |cause| LoadError::Io {
            path: path.to_path_buf(),
            cause,
        };
        crate::util::readable_file(path).map_err(io)?;
        let parquet = match super::parquet::is_parquet(path) {
            true => Some(super::parquet::Chunks::open(path, rows)?),
            false => None,
        };
        let buffer = if parquet.is_some() { 0 } else { 1 << 20 };
        let reader = BufReader::with_capacity(buffer, File::open(path).map_err(io)?);
        let mut c = CsvChunks {
            parquet,
            path: path.to_path_buf(),
            reader,
            header: Vec::new(),
            header_lines: 0,
            rows: rows.max(1),
            rows_before: 0,
            line: 1,
            read: 0,
            handed: false,
            done: false,
            eof: false,
            fills: 0,
            pending: Vec::new(),
            at: 0,
        };
        if c.parquet.is_some() {
            return Ok(c);
        }
        // A byte-order mark, at the start of the file only.
        while c.pending.len() < 3 && !c.eof {
            c.eof = !c.refill().map_err(io)?;
        }
        if c.pending.starts_with(&[0xEF, 0xBB, 0xBF]) {
            c.at = 3;
        }
        // The header is the first record that is not a blank line.
        let mut end = c.at;
        loop {
            let (mut lines, mut quoted) = (0, false);
            while let Some(e) = c.line_end(&mut end).map_err(io)? {
                quoted = super::csv::open_after(&c.pending[end..e], quoted);
                lines += 1;
                end = e;
                if !quoted {
                    break;
                }
                if end - c.at > MAX_CHUNK_BYTES {
                    return Err(c.still_open(c.line));
                }
            }
            if lines == 0 {
                break;
            }
            c.line += lines;
            if lines == 1 && super::csv::is_blank_line(&c.pending[c.at..end]) {
                c.at = end;
                continue;
            }
            c.header = c.pending[c.at..end].to_vec();
            c.header_lines = lines;
            c.at = end;
            break;
        }
        if !c.header.ends_with(b"\n") && !c.header.ends_with(b"\r") {
            c.header.push(b'\n');
        }
        Ok(c)
    }

    /// Bytes of the file.
    pub fn len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
impl CsvChunks {
    /// Works through the file a batch of one chunk per core at a time: `work` runs on a
    /// batch's chunks side by side, then `take` gets each result in file order with the bytes
    /// read so far. The next batch is cut from the file on a thread of its own meanwhile, so
    /// reading overlaps the work. Memory holds two batches; the first error stops the pass.
    pub fn in_batches<T: Send, E: From<LoadError> + Send>(
        self,
        work: impl Fn(Chunk) -> Result<T, E> + Sync,
        mut take: impl FnMut(T, u64) -> Result<(), E>,
    ) -> Result<(), E> {
        use rayon::prelude::*;
        let per_batch = rayon::current_num_threads().max(1);
        std::thread::scope(|scope| {
            let (tx, rx) = std::sync::mpsc::sync_channel(per_batch);
            scope.spawn(move || {
                for chunk in self {
                    // The receiver is gone once the pass stopped: so does the reading.
                    if tx.send(chunk).is_err() {
                        break;
                    }
                }
            });
            loop {
                let batch = rx.iter().take(per_batch).collect::<Result<Vec<_>, _>>()?;
                let Some(read) = batch.last().map(|c| c.read) else {
                    return Ok(());
                };
                let done: Vec<Result<T, E>> = batch.into_par_iter().map(&work).collect();
                for r in done {
                    take(r?, read)?;
                }
            }
        })
    }
}

/// Bytes read from the file at a time.
const BLOCK: usize = 4 << 20;

impl CsvChunks {
    /// Reads the next block of the file into `pending`; false at the end of the file.
    fn refill(&mut self) -> std::io::Result<bool> {
        use std::io::Read;
        // Bytes handed out already are dropped first, so `pending` stays about a block long.
        if self.at > 0 {
            self.pending.drain(..self.at);
            self.at = 0;
        }
        self.fills += 1;
        let have = self.pending.len();
        self.pending.resize(have + BLOCK, 0);
        let n = loop {
            match self.reader.read(&mut self.pending[have..]) {
                Ok(n) => break n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.pending.truncate(have);
                    return Err(e);
                }
            }
        };
        self.pending.truncate(have + n);
        self.read += n as u64;
        Ok(n > 0)
    }

    /// Where the line starting at `pending[*from]` ends: past its `\n`, `\r\n` or lone `\r`, or
    /// at the end of the file; `None` when the file ends at `from`. Reads more of the file as
    /// needed; refilling moves the bytes, and `from` with them.
    fn line_end(&mut self, from: &mut usize) -> std::io::Result<Option<usize>> {
        loop {
            let p = &self.pending;
            match memchr::memchr2(b'\n', b'\r', &p[*from..]) {
                Some(i) if p[*from + i] == b'\n' => return Ok(Some(*from + i + 1)),
                // A `\r`: whether a `\n` follows may need the next block.
                Some(i) if *from + i + 1 < p.len() || self.eof => {
                    let at = *from + i + 1;
                    return Ok(Some(at + usize::from(p.get(at) == Some(&b'\n'))));
                }
                None if self.eof => return Ok((*from < p.len()).then_some(p.len())),
                // A line with no end in sight (a file of one endless line, a pipe of zeros) is
                // refused rather than held.
                None if p.len() - *from > MAX_CHUNK_BYTES => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        format!(
                            "a line runs past {} MB without a line break; is it a CSV file?",
                            MAX_CHUNK_BYTES >> 20
                        ),
                    ))
                }
                _ => {}
            }
            let before = self.at;
            self.eof = !self.refill()?;
            *from -= before;
        }
    }

    /// The error for a quoted field open since `line` that passed `MAX_CHUNK_BYTES`: the rest
    /// of the file would be one record, so it is refused rather than held.
    fn still_open(&mut self, line: usize) -> LoadError {
        self.done = true;
        LoadError::Parse {
            path: self.path.clone(),
            message: format!(
                "line {line} onwards: a quoted field is still open after {} MB",
                MAX_CHUNK_BYTES >> 20
            ),
        }
    }
}

impl Iterator for CsvChunks {
    type Item = Result<Chunk, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(p) = &mut self.parquet {
            return p.next().map(|r| r.map(Chunk::of_parquet));
        }
        if self.done {
            return None;
        }
        let (first_row, first_line) = (self.rows_before, self.line);
        let mut records = 0;
        let mut quoted = false;
        // The chunk's bytes are pending[self.at..end]; a line at a time is walked, never
        // copied until the chunk is whole.
        let mut end = self.at;
        // The next quote at or after `end` (or the end of what is read): lines before it need
        // no count of their quotes, and most files have none.
        let next_quote = |pending: &[u8], from: usize| {
            memchr::memchr(b'"', &pending[from..]).map_or(pending.len(), |i| from + i)
        };
        let mut quote_at = next_quote(&self.pending, end);
        while records < self.rows || quoted {
            let fills = self.fills;
            let line_end = match self.line_end(&mut end) {
                Ok(Some(e)) => e,
                Ok(None) => {
                    self.done = true;
                    break;
                }
                Err(cause) => {
                    self.done = true;
                    return Some(Err(LoadError::Io {
                        path: self.path.clone(),
                        cause,
                    }));
                }
            };
            if self.fills != fills {
                quote_at = next_quote(&self.pending, end);
            }
            let line = &self.pending[end..line_end];
            self.line += 1;
            let starts_record = !quoted;
            // A record ends at a line end outside quotes, as the reader has them (a stray
            // quote inside a field opens nothing); a line without a quote changes nothing.
            if quote_at < line_end {
                quoted = super::csv::open_after(line, quoted);
                quote_at = next_quote(&self.pending, line_end);
            }
            // Counted as the reader counts rows, so later chunks' rows are the file's.
            if starts_record && !super::csv::is_blank_line(line) {
                records += 1;
            }
            end = line_end;
            // A quote that never closes would make the rest of the file one record; past
            // `MAX_CHUNK_BYTES` that is an error, not a chunk the size of the file.
            if quoted && end - self.at > MAX_CHUNK_BYTES {
                return Some(Err(self.still_open(first_line)));
            }
        }
        if records == 0 && self.handed {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.header.len() + end - self.at);
        bytes.extend_from_slice(&self.header);
        bytes.extend_from_slice(&self.pending[self.at..end]);
        self.at = end;
        self.handed = true;
        self.rows_before += records;
        Some(Ok(Chunk {
            bytes,
            first_row,
            first_line,
            read: self.read - (self.pending.len() - self.at) as u64,
            header_lines: self.header_lines,
            parquet: None,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_hold_whole_records_and_errors_name_the_file_s_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        std::fs::write(
            &path,
            "\u{feff}\n\na,b\n1,\"two\nlines\"\n2,x\n\n3,y\n4,z\n5,w\n",
        )
        .unwrap();
        let chunks: Vec<Chunk> = CsvChunks::open(&path, 2)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let texts: Vec<String> = chunks
            .iter()
            .map(|c| String::from_utf8(c.bytes.clone()).unwrap())
            .collect();
        assert_eq!(
            texts,
            vec![
                "a,b\n1,\"two\nlines\"\n2,x\n",
                "a,b\n\n3,y\n4,z\n",
                "a,b\n5,w\n"
            ]
        );
        assert_eq!(
            chunks
                .iter()
                .map(|c| (c.first_row, c.first_line))
                .collect::<Vec<_>>(),
            vec![(0, 4), (2, 7), (4, 10)]
        );
        // A quote that never closes is an error once the chunk passes its bound.
        let mut big = String::from("a,b\n1,\"open\n");
        while big.len() <= MAX_CHUNK_BYTES + 1024 {
            big.push_str("x,y\n");
        }
        std::fs::write(&path, &big).unwrap();
        let err = CsvChunks::open(&path, 2)
            .unwrap()
            .find_map(Result::err)
            .unwrap();
        assert!(err.to_string().contains("still open"), "{err}");
        // A header with no rows still gives one chunk, for the error.
        std::fs::write(&path, "a,b\n").unwrap();
        assert_eq!(CsvChunks::open(&path, 2).unwrap().count(), 1);
    }

    #[test]
    fn every_line_end_cuts_the_same_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.csv");
        let cut = |text: &str| {
            std::fs::write(&path, text).unwrap();
            CsvChunks::open(&path, 2)
                .unwrap()
                .map(|c| {
                    let c = c.unwrap();
                    let t = String::from_utf8(c.bytes).unwrap().replace("\r\n", "\n");
                    (t.replace('\r', "\n"), c.first_row, c.first_line)
                })
                .collect::<Vec<_>>()
        };
        let want = cut("a,b\n1,x\n \n2,y\n3,z\n");
        assert_eq!(want.len(), 2);
        assert_eq!((want[1].1, want[1].2), (2, 5));
        for text in [
            "a,b\r1,x\r \r2,y\r3,z\r",
            "a,b\r\n1,x\r\n \r\n2,y\r\n3,z\r\n",
            "a,b\r1,x\n \r\n2,y\r3,z\n",
        ] {
            assert_eq!(cut(text), want, "{text:?}");
        }
        // A header that spans lines moves the chunk's lines, not the file's.
        let parts = cut("\r\"a\rb\",c\r1,2\r3,4\r5,6\r");
        assert_eq!(
            parts.iter().map(|p| (p.1, p.2)).collect::<Vec<_>>(),
            vec![(0, 4), (2, 6)]
        );
        assert!(parts[1].0.starts_with("\"a\nb\",c\n5,6"), "{parts:?}");
    }
}
