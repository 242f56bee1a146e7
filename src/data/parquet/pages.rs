//! The file as the `parquet` crate's page readers see it: reads at an offset, so the columns
//! of a row group are read side by side; each page's claimed size checked before the reader
//! makes room for it; and every call into the crate guarded, so a damaged file it did not
//! expect is an error, not a panic.

use std::fs::File;
use std::sync::Arc;

use ::parquet::file::reader::{ChunkReader, Length};

/// Reads into `buf` from byte `at` of `f` until it is full or the file ends; the bytes read.
pub(super) fn read_at(f: &File, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut n = 0;
    while n < buf.len() {
        match f.read_at(&mut buf[n..], at + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The file as one column chunk's pages see it: a page whose header says it unpacks to more
/// than the whole chunk's footer entry (which `check_group` bounded) is refused before the
/// reader makes room for it, so a small page cannot claim gigabytes.
pub(super) struct PageGuard {
    pub(super) file: Arc<File>,
    /// The chunk's unpacked size, by the footer.
    pub(super) most: i64,
}

impl Length for PageGuard {
    fn len(&self) -> u64 {
        Length::len(&*self.file)
    }
}

impl ChunkReader for PageGuard {
    type T = std::io::BufReader<FileAt>;

    /// The page reader asks for a reader only to read a page header.
    fn get_read(&self, start: u64) -> ::parquet::errors::Result<Self::T> {
        let mut head = [0u8; 32];
        let n = read_at(&self.file, &mut head, start)?;
        if let Some(size) = page_unpacked_size(&head[..n]) {
            if size > self.most {
                return Err(::parquet::errors::ParquetError::General(format!(
                    "a page claims to unpack to {size} bytes, more than the {} of its whole \
                     column chunk",
                    self.most
                )));
            }
        }
        let at = FileAt {
            file: self.file.clone(),
            at: start,
        };
        Ok(std::io::BufReader::with_capacity(4096, at))
    }

    fn get_bytes(&self, start: u64, length: usize) -> ::parquet::errors::Result<bytes::Bytes> {
        use std::io::Read;
        // Read into fresh room rather than over zeros: pages are most of what is read.
        let mut buf = Vec::with_capacity(length);
        let mut at = FileAt {
            file: self.file.clone(),
            at: start,
        };
        if (&mut at).take(length as u64).read_to_end(&mut buf)? < length {
            return Err(::parquet::errors::ParquetError::EOF(format!(
                "{length} bytes at byte {start} run past the end of the file"
            )));
        }
        Ok(buf.into())
    }
}

/// A file read from a position of its own: reads at an offset (`pread`) share no file
/// position, so the columns of a row group can be read side by side.
pub struct FileAt {
    file: Arc<File>,
    at: u64,
}

impl std::io::Read for FileAt {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = self.file.read_at(buf, self.at)?;
        self.at += n as u64;
        Ok(n)
    }
}

/// The `uncompressed_page_size` of the page header at the start of `head`: Thrift's compact
/// encoding of field 1 (the page type) then field 2 (that size), both 32-bit integers, as every
/// writer orders them. `None` when the header does not start so; the reader then judges it.
fn page_unpacked_size(head: &[u8]) -> Option<i64> {
    fn varint(b: &[u8], at: &mut usize) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *b.get(*at)?;
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    let zigzag = |v: u64| (v >> 1) as i64 ^ -((v & 1) as i64);
    let (mut at, mut id) = (0, 0i64);
    loop {
        let b = *head.get(at)?;
        at += 1;
        // Type 5 is a 32-bit integer; a stop byte (0) or any other type ends the look.
        if b & 0x0f != 5 {
            return None;
        }
        id = match b >> 4 {
            0 => zigzag(varint(head, &mut at)?),
            delta => id + i64::from(delta),
        };
        let v = zigzag(varint(head, &mut at)?);
        match id {
            1 => {}
            2 => return Some(v),
            _ => return None,
        }
    }
}

thread_local! {
    /// Set while this thread is inside `guarded`, whose panics are errors, not news.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs a call into the `parquet` crate, turning a panic inside it (a damaged file it did not
/// expect) into an error, as `capture::segment` does. The panic is not printed: the error says
/// it. (A hook installed once stays quiet on a thread inside this call and passes every other
/// panic on to the hook before it.)
pub(super) fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    static QUIET: std::sync::Once = std::sync::Once::new();
    QUIET.call_once(|| {
        let before = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(std::cell::Cell::get) {
                before(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(false));
    r.unwrap_or_else(|p| {
        let why = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(format!(
            "the Parquet reader gave up on it ({})",
            crate::util::clip(&why, 200)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_are_read_from_the_header_as_writers_write_it() {
        // Field 1 (type 0, a data page), field 2 (1000 zigzagged), field 3 (600).
        let head = [0x15, 0x00, 0x15, 0xd0, 0x0f, 0x15, 0xb0, 0x09, 0x00];
        assert_eq!(page_unpacked_size(&head), Some(1000));
        // A long field id form, then a negative size.
        assert_eq!(
            page_unpacked_size(&[0x15, 0x06, 0x05, 0x04, 0x03]),
            Some(-2)
        );
        // Another type first, a cut header, nothing.
        assert_eq!(page_unpacked_size(&[0x18, 0x02]), None);
        assert_eq!(page_unpacked_size(&[0x15, 0x00, 0x15, 0xd0]), None);
        assert_eq!(page_unpacked_size(&[]), None);
    }
}
