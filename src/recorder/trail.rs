//! The recorder file (`recorder-<session8>.jsonl`): one JSON line per sample, a start
//! record, and the `exit` record that tells how the process ended; rotated past
//! [`RECORDER_MAX_BYTES`].

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::report::{ProcessEnd, StackFrame};
use crate::timefmt::UtcTime;

/// A recorder file is rotated to `<name>.1` (replacing any older one) past this size,
/// so one session keeps at most twice this on disk: 4 MiB is about 10 hours of
/// one-second samples.
pub const RECORDER_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The append-only recorder file of one process and session, rotated at
/// [`RECORDER_MAX_BYTES`]. Its name is this process's alone
/// (`recorder-<session8>-<pid>-<token>.jsonl`): it is created exclusively (never an
/// existing file, link or FIFO), locked ([`crate::writer::filelock`]) while open (so retention, in any
/// process, never removes it), and every file, the rotated ones included, starts with a
/// `start` record.
pub struct RecorderFile {
    dir: PathBuf,
    session: String,
    interval_ms: u64,
    pub(super) name: String,
    file: Option<File>,
    pub(super) size: u64,
    rotations: u32,
}

impl RecorderFile {
    pub fn file_name(session_short: &str) -> String {
        crate::writer::recorder_file_name(session_short)
    }

    pub fn new(dir: &Path, session_short: &str, interval_ms: u64) -> Self {
        RecorderFile {
            dir: dir.to_path_buf(),
            session: session_short.to_string(),
            interval_ms,
            name: Self::file_name(session_short),
            file: None,
            size: 0,
            rotations: 0,
        }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Creates the file (a fresh name if ours is taken) and writes its `start` record.
    fn open(&mut self) -> std::io::Result<()> {
        crate::writer::prepare_dir(&self.dir).map_err(|e| std::io::Error::other(e.to_string()))?;
        let mut attempts = 0;
        let f = loop {
            match open_exclusive(&self.path()) {
                Ok(f) => break f,
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempts < 8 => {
                    attempts += 1;
                    self.name = Self::file_name(&self.session);
                }
                Err(e) => return Err(e),
            }
        };
        self.size = 0;
        self.file = Some(f);
        let now = UtcTime::now();
        let start = StartRecord {
            kind: "start",
            t: now.iso8601(),
            epoch_ms: now.epoch_ms,
            pid: std::process::id(),
            process_start_ms: crate::report::process_start_ms(),
            session_id: &self.session,
            interval_ms: self.interval_ms,
            schema_version: crate::report::SCHEMA_VERSION,
            continues: self.rotations > 0,
        };
        let line = json_line(&start)?;
        self.write_line(&line)
    }

    fn write_line(&mut self, line: &[u8]) -> std::io::Result<()> {
        let f = self.file.as_mut().expect("opened");
        f.write_all(line)?;
        self.size += line.len() as u64;
        Ok(())
    }

    /// Opens the file now (writing its `start` record) if it is not open yet.
    pub fn ensure_open(&mut self) -> std::io::Result<()> {
        if self.file.is_none() {
            self.open()?;
        }
        Ok(())
    }

    /// Appends one JSON line with a single write, rotating first if the file is full.
    pub fn append<T: Serialize>(&mut self, record: &T) -> std::io::Result<()> {
        let line = json_line(record)?;
        // A file no name links any more (its directory or the file was removed while the
        // process ran) would swallow the rest of the trail: start a new one (the directory
        // made again), as after a rotation. One fstat per record.
        #[cfg(unix)]
        if let Some(f) = &self.file {
            use std::os::unix::fs::MetadataExt;
            if f.metadata().is_ok_and(|m| m.nlink() == 0) {
                self.file = None;
                self.rotations += 1;
            }
        }
        self.ensure_open()?;
        if self.size + line.len() as u64 > RECORDER_MAX_BYTES {
            let rotated = self.dir.join(crate::writer::rotated_name(&self.name));
            fs::rename(self.path(), rotated)?;
            // Closing releases the lock of the rotated file; the new one is locked.
            self.file = None;
            self.rotations += 1;
            self.open()?;
        }
        self.write_line(&line)
    }
}

fn json_line<T: Serialize>(record: &T) -> std::io::Result<Vec<u8>> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    Ok(line)
}

/// Creates `path` exclusively for appending, mode 0600, never through a link and never
/// blocking (a FIFO planted at the name is refused, not opened), and locks it.
pub(super) fn open_exclusive(path: &Path) -> std::io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC);
    }
    let f = o.open(path)?;
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if !crate::writer::filelock::lock_new(&f, path) {
        // A retention pass took the new file's lock and removed it: a fresh name (the
        // caller retries on AlreadyExists).
        return Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "removed by retention before it could be locked",
        ));
    }
    Ok(f)
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StartRecord<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    t: String,
    epoch_ms: i64,
    pid: u32,
    process_start_ms: u64,
    session_id: &'a str,
    interval_ms: u64,
    schema_version: u32,
    /// True in a file that continues the same trail after a rotation.
    continues: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ExitRecord<'a> {
    #[serde(rename = "type")]
    pub(super) kind: &'static str,
    pub(super) t: String,
    pub(super) epoch_ms: i64,
    pub(super) reason: &'static str,
    /// How the process ended, when the record is written from its `exit` event.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub(super) end: Option<&'a ProcessEnd>,
}

/// The ways a process can end that `lib/dumper/process-end.js` tells apart ([`ProcessEnd::how`]).
pub const END_HOWS: [&str; 4] = [
    "uncaughtException",
    "unhandledRejection",
    "processExit",
    "loopEnded",
];

/// The longest error class name kept.
pub const MAX_ERROR_CLASS_CHARS: usize = 100;

/// How the process ended, from what `lib/dumper/process-end.js` saw (its `exit` event and Node's
/// `uncaughtExceptionMonitor`), checked here: an unknown `how` is none, a class name is kept
/// only when it is an identifier's (cut to [`MAX_ERROR_CLASS_CHARS`]), and the frame goes
/// through the place rule and the frame bounds (`places::clean_frame`).
pub fn process_end(
    code: Option<i32>,
    how: Option<&str>,
    error_class: Option<&str>,
    thrown_at: Option<StackFrame>,
) -> Option<ProcessEnd> {
    let how = END_HOWS.into_iter().find(|h| Some(*h) == how)?;
    let uncaught = how.starts_with("uncaught") || how.starts_with("unhandled");
    // A name that is not an identifier's is not kept at all: removing its other characters
    // would join what they separate (a URL's password and query) into one word.
    let error_class = error_class
        .filter(|c| {
            uncaught
                && !c.is_empty()
                && c.chars()
                    .all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '$' | '.'))
        })
        .map(|c| c.chars().take(MAX_ERROR_CLASS_CHARS).collect::<String>());
    let home = crate::places::home();
    let thrown_at = thrown_at.filter(|_| uncaught).map(|mut f| {
        crate::places::clean_frame(&mut f, home.as_deref());
        f
    });
    Some(ProcessEnd {
        code,
        how,
        error_class,
        thrown_at,
    })
}
