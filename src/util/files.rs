//! Files: owner-only modes, temporaries renamed into place, atomic writes, and the rules for
//! where an output may go.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;

use super::time::now_ms;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
