//! A CSV file read a chunk of records at a time, so a file of any size is scored or profiled in
//! constant memory. Each chunk is handed back as CSV bytes (the header, then whole records) that
//! `parse_csv` validates exactly as it validates a whole file; errors are moved to the rows and
//! lines they have in the file.

use std::fs::File;
use std::io::{BufRead, BufReader};
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
}

impl Chunk {
    /// Validates the chunk against `spec`, errors naming the file's rows and lines.
    pub fn parse(
        self,
        path: &Path,
        spec: &DatasetSpec,
        labels: Labels,
    ) -> Result<Frame, LoadError> {
        let (rows, lines) = (self.first_row, self.first_line.saturating_sub(2));
        parse_csv(self.bytes, path, spec, labels).map_err(|e| e.shifted(rows, lines))
    }
}

/// Chunks of at most `rows` records of a CSV file, in file order.
pub struct CsvChunks {
    path: PathBuf,
    reader: BufReader<File>,
    header: Vec<u8>,
    rows: usize,
    rows_before: usize,
    /// The file line the next record starts on.
    line: usize,
    read: u64,
    /// At least one chunk is handed out, so an empty body is reported by `parse_csv`.
    handed: bool,
    done: bool,
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
        let mut reader = BufReader::with_capacity(1 << 20, File::open(path).map_err(io)?);
        let mut header = Vec::new();
        let mut read = 0u64;
        let mut line = 0;
        // The header is the first line that is not blank (after a byte-order mark).
        loop {
            header.clear();
            let n = reader.read_until(b'\n', &mut header).map_err(io)?;
            read += n as u64;
            if n == 0 {
                break;
            }
            line += 1;
            if header.starts_with(&[0xEF, 0xBB, 0xBF]) {
                header.drain(..3);
            }
            if header.iter().any(|b| !b.is_ascii_whitespace()) {
                break;
            }
        }
        if !header.ends_with(b"\n") {
            header.push(b'\n');
        }
        Ok(CsvChunks {
            path: path.to_path_buf(),
            reader,
            header,
            rows: rows.max(1),
            rows_before: 0,
            line: line + 1,
            read,
            handed: false,
            done: false,
            pending: Vec::new(),
            at: 0,
        })
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
}

impl Iterator for CsvChunks {
    type Item = Result<Chunk, LoadError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let (first_row, first_line) = (self.rows_before, self.line);
        let mut records = 0;
        let mut quoted = false;
        // The chunk's bytes are pending[start..end]; a line at a time is walked, its end found
        // with memchr, never copied until the chunk is whole.
        let mut start = self.at;
        let mut end = self.at;
        let mut eof = false;
        // The next quote at or after `end` (or the end of what is read): lines before it need
        // no count of their quotes, and most files have none.
        let next_quote = |pending: &[u8], from: usize| {
            memchr::memchr(b'"', &pending[from..]).map_or(pending.len(), |i| from + i)
        };
        let mut quote_at = next_quote(&self.pending, end);
        while records < self.rows || quoted {
            let line_end = match memchr::memchr(b'\n', &self.pending[end..]) {
                Some(i) => end + i + 1,
                None if eof => {
                    if end == self.pending.len() {
                        self.done = true;
                        break;
                    }
                    self.pending.len()
                }
                None => {
                    // Refilling may move the bytes: keep the positions relative.
                    let (s, e) = (start - self.at, end - self.at);
                    match self.refill() {
                        Ok(more) => eof = !more,
                        Err(cause) => {
                            self.done = true;
                            return Some(Err(LoadError::Io {
                                path: self.path.clone(),
                                cause,
                            }));
                        }
                    }
                    (start, end) = (self.at + s, self.at + e);
                    quote_at = next_quote(&self.pending, end);
                    continue;
                }
            };
            let line = &self.pending[end..line_end];
            self.line += 1;
            let starts_record = !quoted;
            // A quote toggles; a record ends at a newline outside quotes.
            if quote_at < line_end {
                quoted ^= memchr::memchr_iter(b'"', line).count() % 2 == 1;
                quote_at = next_quote(&self.pending, line_end);
            }
            // Counted as the reader counts rows, so later chunks' rows are the file's.
            let body = line.strip_suffix(b"\n").unwrap_or(line);
            if starts_record && !super::csv::is_blank_line(body) {
                records += 1;
            }
            end = line_end;
            // A quote that never closes would make the rest of the file one record; past
            // `MAX_CHUNK_BYTES` that is an error, not a chunk the size of the file.
            if quoted && end - start > MAX_CHUNK_BYTES {
                self.done = true;
                return Some(Err(LoadError::Parse {
                    path: self.path.clone(),
                    message: format!(
                        "line {first_line} onwards: a quoted field is still open after {} MB",
                        MAX_CHUNK_BYTES >> 20
                    ),
                }));
            }
        }
        if records == 0 && self.handed {
            return None;
        }
        let mut bytes = Vec::with_capacity(self.header.len() + end - start);
        bytes.extend_from_slice(&self.header);
        bytes.extend_from_slice(&self.pending[start..end]);
        self.at = end;
        self.handed = true;
        self.rows_before += records;
        Some(Ok(Chunk {
            bytes,
            first_row,
            first_line,
            read: self.read - (self.pending.len() - self.at) as u64,
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
}
