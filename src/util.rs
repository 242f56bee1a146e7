//! Small helpers shared by every module: atomic writes, owner-only files, time stamps, run ids,
//! text tables.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

/// Mode of every file staytrack creates: the store and the logs hold patient-level inputs.
pub const FILE_MODE: u32 = 0o600;
/// Mode of every folder staytrack creates.
pub const DIR_MODE: u32 = 0o700;

/// `create_dir_all` whose new folders are owner-only.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Makes an existing file owner-only (a file made before staytrack set modes, say).
pub fn make_private(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() && m.permissions().mode() & 0o077 != 0 => {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// A new owner-only file, failing if `path` exists (so a planted link is never followed).
fn create_new_private(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
}

/// A temporary file beside its destination, removed when dropped unless `persist`ed.
pub struct TempFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

impl TempFile {
    pub fn beside(dest: &Path) -> std::io::Result<TempFile> {
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let name = dest
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
        let file = create_new_private(&path)?;
        Ok(TempFile {
            path,
            file: Some(file),
        })
    }

    /// The open file, to write into (once).
    pub fn file(&self) -> std::io::Result<std::fs::File> {
        match &self.file {
            Some(f) => f.try_clone(),
            None => Err(std::io::Error::other("the temporary file is closed")),
        }
    }

    /// Renames the file onto `dest` and syncs the folder.
    pub fn persist(mut self, dest: &Path) -> std::io::Result<()> {
        if let Some(f) = self.file.take() {
            f.sync_all()?;
        }
        std::fs::rename(&self.path, dest)?;
        self.path = PathBuf::new();
        if let Some(dir) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// A private temporary folder, removed with everything in it when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new_in(parent: &Path, prefix: &str) -> std::io::Result<TempDir> {
        create_private_dir(parent)?;
        let dir = parent.join(format!("{prefix}-{}-{}", std::process::id(), now_ms()));
        std::fs::DirBuilder::new().mode(DIR_MODE).create(&dir)?;
        Ok(TempDir(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the `files` that lie inside `dir` (after resolving links and `..`), and nothing
/// else; returns the ones removed. A path from the store is data, not an instruction.
pub fn remove_within(dir: &Path, files: &[PathBuf]) -> Vec<PathBuf> {
    let Ok(root) = dir.canonicalize() else {
        return Vec::new();
    };
    files
        .iter()
        .filter(|f| {
            f.canonicalize()
                .is_ok_and(|c| c.starts_with(&root) && c.is_file())
        })
        .filter(|f| std::fs::remove_file(f).is_ok())
        .cloned()
        .collect()
}

/// The last `n` characters of an id, for tables (ids from another store may hold any text).
pub fn short_id(id: &str, n: usize) -> &str {
    let start = id
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &id[start..]
}

/// Refuses to write `path` when something is there and the user did not say to replace it:
/// an output never replaces an earlier one silently. The one rule for every `--out`.
pub fn ensure_free(path: &Path, replace: bool) -> anyhow::Result<()> {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    anyhow::ensure!(
        replace,
        "{} exists; pass --force to replace it, or name another file with --out",
        path.display()
    );
    // A new file is renamed into place: over a folder, a link or a device (`/dev/stdout`,
    // say) that would replace the thing itself, not write into it.
    anyhow::ensure!(
        meta.is_file(),
        "{} is {}, not a file; --force replaces only a file",
        path.display(),
        kind_of(&meta.file_type())
    );
    Ok(())
}

/// What a thing in the file system is, for messages.
pub fn kind_of(t: &std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if t.is_dir() {
        "a folder"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_fifo() {
        "a named pipe"
    } else if t.is_socket() {
        "a socket"
    } else {
        "a file"
    }
}

/// `path`'s metadata when it is something a file can be read from to its end: a file or a
/// pipe (links followed). A device or a socket is an error: `/dev/zero` never ends.
pub fn readable_file(path: &Path) -> std::io::Result<std::fs::Metadata> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(path)?;
    let t = meta.file_type();
    if t.is_char_device() || t.is_block_device() || t.is_socket() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}, not a file", kind_of(&t)),
        ));
    }
    Ok(meta)
}

/// `path` if nothing is there, else the first of `<stem>-2.<ext>`, `<stem>-3.<ext>`, ... that is
/// free: how an output that would replace an earlier one gets a new name instead.
pub fn unused_path(path: &Path) -> PathBuf {
    if std::fs::symlink_metadata(path).is_err() {
        return path.to_path_buf();
    }
    let stem = path
        .file_stem()
        .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    (2u64..)
        .map(|n| path.with_file_name(format!("{stem}-{n}{ext}")))
        .find(|p| std::fs::symlink_metadata(p).is_err())
        .unwrap_or_else(|| path.to_path_buf())
}

/// Writes `bytes` to `path` so that readers see the old file or the new one, never a part:
/// a temporary file in the same folder, fsync, rename, then fsync of the folder.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let result = (|| -> std::io::Result<()> {
        let tmp = TempFile::beside(path)?;
        let mut f = tmp.file()?;
        f.write_all(bytes)?;
        drop(f);
        tmp.persist(path)
    })();
    result.with_context(|| format!("writing {}", path.display()))
}

/// `100ms`, `30m`, `6h`, `7d`, `45s` in milliseconds; None for anything else, zero, or a
/// duration too long to count.
pub fn parse_duration_ms(s: &str) -> Option<i64> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let ms: i64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms)
}

/// A number as charts and tables label it (a bin edge, a parameter): whole numbers as they are, others to four significant
/// digits with no trailing zeros (`3181.2`, not `3181.200`).
pub fn short_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let digits = (4 - (x.abs().log10().floor() as i32 + 1)).clamp(0, 6) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// A CSV field as RFC 4180 writes it: quoted (inner quotes doubled) when it holds a comma, a
/// quote or a line break, as is otherwise.
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\"")).into()
    } else {
        s.into()
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC, for tables and logs.
pub fn format_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The most names an error lists; it counts the rest, so an answer's size never grows with
/// what the request held.
pub const MAX_LISTED: usize = 20;

/// The first `MAX_LISTED` items, copied, and how many more there were.
pub fn first_few<'a>(items: impl Iterator<Item = &'a str>) -> (Vec<String>, usize) {
    let mut first = Vec::new();
    let mut more = 0;
    for s in items {
        if first.len() < MAX_LISTED {
            first.push(s.to_string());
        } else {
            more += 1;
        }
    }
    (first, more)
}

/// `a, b, c`, and ` … and 37,980 more <noun>` when `more` were left out.
pub fn listing(first: &[String], more: usize, noun: &str) -> String {
    let mut out = first.join(", ");
    if more > 0 {
        out.push_str(&format!(" … and {} more {noun}", thousands(more)));
    }
    out
}

/// Work on fewer rows than this stays on the calling thread: handing it to the thread pool and
/// waiting for it (about 20 µs) costs more than it saves. `cargo bench --bench serve` measures
/// the crossover: between 64 and 128 rows of a 96-tree ensemble on two cores.
pub const POOL_FROM_ROWS: usize = 128;

/// A UUID version 7: time-ordered, so runs sort by creation in any table.
pub fn new_run_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = now_ms() as u64 & 0xFFFF_FFFF_FFFF;
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    let rand_a = r1 & 0x0FFF;
    let rand_b = r2 & 0x3FFF_FFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        0x7000 | rand_a,
        0x8000 | (rand_b >> 48),
        rand_b & 0xFFFF_FFFF_FFFF
    )
}

/// The most characters a table cell shows; a wider value is cut with "…". Tables go to
/// terminals, files and logs alike, so the bound is fixed rather than a terminal's width.
pub const MAX_CELL: usize = 80;

/// `s` cut to at most `max` characters, the last one "…" when anything was cut.
pub fn clip(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match s.char_indices().nth(max) {
        None => s.into(),
        Some(_) => {
            let keep = s
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(s.len(), |(i, _)| i);
            format!("{}…", &s[..keep]).into()
        }
    }
}

/// `s` for a message: cut to `MAX_CELL` characters, and escaped when it holds a control
/// character (a NUL or an escape sequence never reaches a terminal as itself).
pub fn shown(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(char::is_control) {
        clip(&s.escape_debug().to_string(), MAX_CELL)
            .into_owned()
            .into()
    } else {
        clip(s, MAX_CELL)
    }
}

/// Renders rows as a left-aligned text table with a header rule; every cell at most
/// `MAX_CELL` characters. Padding is written by hand: the formatter's width argument panics
/// past 65,535.
pub fn render_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let clipped: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| clip(c, MAX_CELL)).collect())
        .collect();
    let heads: Vec<std::borrow::Cow<'_, str>> = headers.iter().map(|h| clip(h, MAX_CELL)).collect();
    let mut widths: Vec<usize> = heads.iter().map(|h| h.chars().count()).collect();
    for r in &clipped {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut out = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(c.chars().count()),
            ));
        }
        out.trim_end().to_string()
    };
    let mut out = line(heads.iter().map(|h| h.as_ref()).collect());
    out.push('\n');
    out.push_str(&line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(|s| s.as_str())
            .collect(),
    ));
    out.push('\n');
    for r in &clipped {
        out.push_str(&line(r.iter().map(|s| s.as_ref()).collect()));
        out.push('\n');
    }
    out
}

/// `318438` ⇒ `318,438`.
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_known_values() {
        assert_eq!(format_ms(0), "1970-01-01 00:00:00");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(format_ms(1_795_786_370_000), "2026-11-27 13:32:50");
    }

    #[test]
    fn run_ids_are_v7_and_ordered() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert!(a < b);
        assert_ne!(new_run_id(), new_run_id());
    }

    #[test]
    fn removal_stays_inside_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let inside = dir.path().join("in");
        std::fs::create_dir(&inside).unwrap();
        let (a, b) = (inside.join("a"), dir.path().join("b"));
        std::fs::write(&a, b"a").unwrap();
        std::fs::write(&b, b"b").unwrap();
        let sneaky = inside.join("..").join("b");
        let gone = remove_within(&inside, &[a.clone(), b.clone(), sneaky]);
        assert_eq!(gone, vec![a.clone()]);
        assert!(!a.exists() && b.exists());
    }

    #[test]
    fn durations_never_overflow() {
        assert_eq!(parse_duration_ms("30m"), Some(1_800_000));
        assert_eq!(parse_duration_ms("7d"), Some(604_800_000));
        assert_eq!(parse_duration_ms("9223372036854775807d"), None);
        assert_eq!(parse_duration_ms("99999999999999999999d"), None);
        for bad in ["", "d", "0h", "-1h", "1w", "1", "1hh"] {
            assert_eq!(parse_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn short_ids_never_split_a_character() {
        assert_eq!(short_id("0193-abcdef", 6), "abcdef");
        assert_eq!(short_id("ab", 6), "ab");
        assert_eq!(short_id("ééééééé", 6), "éééééé");
        assert_eq!(short_id("x\u{1F600}\u{1F600}", 2), "\u{1F600}\u{1F600}");
        assert_eq!(short_id("", 6), "");
    }

    #[test]
    fn written_files_are_owner_only_and_temporaries_go() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        atomic_write(&p, b"x").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, FILE_MODE);
        {
            let t = TempDir::new_in(dir.path(), ".backup").unwrap();
            std::fs::write(t.path().join("a"), b"a").unwrap();
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left, vec![std::ffi::OsString::from("f.txt")]);
    }

    #[test]
    fn atomic_write_replaces_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_wide_cell_is_cut_and_never_panics() {
        let wide = "x".repeat(70_000);
        let t = render_table(&["A", "B"], &[vec![wide.clone(), "b".into()]]);
        let row = t.lines().nth(2).unwrap();
        assert_eq!(row, format!("{}…  b", "x".repeat(MAX_CELL - 1)));
        assert_eq!(clip("é".repeat(81).as_str(), 80).chars().count(), 80);
        assert_eq!(clip("short", 80), "short");
    }

    #[test]
    fn tables_and_numbers() {
        let t = render_table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxyz  1\n");
        assert_eq!(thousands(318_438), "318,438");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000_000), "1,000,000");
    }
}
