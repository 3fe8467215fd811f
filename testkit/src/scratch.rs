//! Where tests keep their throwaway files (databases, a PostgreSQL cluster,
//! a browser profile): in RAM (`/dev/shm`) when the machine has it, else the
//! usual temp dir. On a small VM a full suite writes gigabytes; on disk, the
//! fsyncs of one test stalled the others for tens of seconds behind a slow
//! block device (an app's pool timing out, Chromium not starting in 30 s).

use std::io;
use std::path::Path;

use tempfile::TempDir;

/// A fresh directory, removed on drop.
pub fn scratch_dir(prefix: &str) -> io::Result<TempDir> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(prefix);
    let ram = Path::new("/dev/shm");
    if ram.is_dir()
        && let Ok(dir) = builder.tempdir_in(ram)
    {
        return Ok(dir);
    }
    builder.tempdir()
}
