//! Private files and directories, whatever the umask: everything gantry writes that holds
//! state (the database and its `-wal`/`-shm`, the sealing key, the generated admin password,
//! artifacts, exports, backups) is readable by its owner only. Directories gantry creates are
//! 0700, files 0600. On other platforms these are the plain operations.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// The mode of a directory gantry creates.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a file gantry writes.
pub const FILE_MODE: u32 = 0o600;

/// Creates `path` and whichever of its parents are missing, each with mode 0700. Directories
/// that already exist are left as they are.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(DIR_MODE);
    }
    builder.create(path)
}

/// Whether `meta` is a regular file whose mode is not exactly 0600. Anything else (a device
/// such as `/dev/null` given as an output, a FIFO) is never chmod'ed.
#[cfg(unix)]
fn needs_chmod(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt;
    meta.is_file() && meta.permissions().mode() & 0o7777 != FILE_MODE
}

#[cfg(unix)]
fn private_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(FILE_MODE)
}

/// Sets the regular file `path` to mode 0600 (other kinds of file are left alone).
pub fn set_private(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        if needs_chmod(&std::fs::metadata(path)?) {
            std::fs::set_permissions(path, private_permissions())?;
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Sets `path` to mode 0600 if it exists.
pub fn set_private_if_exists(path: &Path) -> io::Result<()> {
    match set_private(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens `path` for writing, creating it (or, with `create_new`, only creating it) mode 0600;
/// a regular file is then set to exactly 0600, before anything is written to it.
fn open_private(path: &Path, create_new: bool) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.write(true);
    if create_new {
        opts.create_new(true);
    } else {
        opts.create(true).truncate(true);
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(FILE_MODE);
    }
    let file = opts.open(path)?;
    #[cfg(unix)]
    {
        if needs_chmod(&file.metadata()?) {
            file.set_permissions(private_permissions())?;
        }
    }
    Ok(file)
}

/// Creates (or truncates) `path` for writing, mode 0600. A regular file that already existed
/// is emptied and set to 0600 before this returns, so nothing written through the handle can be
/// opened by others afterwards (a descriptor someone opened before keeps its access: this is
/// not a substitute for a private directory).
pub fn create_private_file(path: &Path) -> io::Result<File> {
    open_private(path, false)
}

/// Creates `path`, which must not exist yet, for writing, mode 0600.
pub fn create_new_private_file(path: &Path) -> io::Result<File> {
    open_private(path, true)
}

/// Creates `path` empty with mode 0600 if it does not exist; an existing file is left alone.
pub fn ensure_private_file(path: &Path) -> io::Result<()> {
    match open_private(path, true) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_directories_are_0700_and_files_0600_and_existing_files_are_made_private() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b/c");
        create_private_dir(&nested).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            assert_eq!(mode(&dir.path().join(d)), 0o700, "{d}");
        }
        // An existing directory is left as it is.
        std::fs::set_permissions(&nested, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&nested).unwrap();
        assert_eq!(mode(&nested), 0o755);

        let file = nested.join("f");
        std::fs::write(&file, b"old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(create_private_file(&file).unwrap());
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read(&file).unwrap(), b"");

        let new = nested.join("g");
        drop(create_new_private_file(&new).unwrap());
        assert_eq!(mode(&new), 0o600);
        assert!(create_new_private_file(&new).is_err());

        let db = nested.join("db");
        ensure_private_file(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        std::fs::write(&db, b"kept").unwrap();
        ensure_private_file(&db).unwrap();
        assert_eq!(std::fs::read(&db).unwrap(), b"kept");

        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
        set_private_if_exists(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        set_private_if_exists(&nested.join("missing")).unwrap();
    }
}
