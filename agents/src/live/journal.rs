//! The call journal: one JSON line per model call, appended as the call completes. The same
//! format serves as the response cache (successful calls, kept across runs) and as a run's
//! trace (every call the run used, which replays it).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use crate::cells::Usage;

/// One model call and its outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    /// SHA-256 of the request (model and body; never the URL or the key), in hex.
    pub key: String,
    /// `plan`, `refine`, `judge`, `execute` or `embed`.
    pub kind: String,
    pub agent: String,
    pub model: String,
    /// The task's key in its file (empty for embeddings).
    pub task: String,
    pub ok: bool,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub usage: Usage,
    #[serde(default)]
    pub usage_reported: bool,
    #[serde(default)]
    pub entropy: Option<f64>,
    #[serde(default)]
    pub vector: Option<Vec<f32>>,
    /// The reply stopped at its token limit.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
    pub attempts: u32,
    pub latency_ms: u64,
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: not a call record: {message}")]
    Record { path: PathBuf, line: usize, message: String },
}

/// The complete lines of a JSON-lines stream, each with the byte offset it starts at. A last line
/// without its newline is a write a crash cut short, and not a line. Every journal in Tender (the
/// call journal here, the sweep store's rows and points) reads through this.
pub fn complete_lines<R: BufRead>(reader: R) -> CompleteLines<R> {
    CompleteLines { reader, offset: 0 }
}

/// See [`complete_lines`].
pub struct CompleteLines<R> {
    reader: R,
    offset: u64,
}

impl<R: BufRead> Iterator for CompleteLines<R> {
    type Item = std::io::Result<(u64, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut line = Vec::new();
        match self.reader.read_until(b'\n', &mut line) {
            Err(e) => Some(Err(e)),
            Ok(_) if line.last() != Some(&b'\n') => None,
            Ok(n) => {
                let at = self.offset;
                self.offset += n as u64;
                Some(Ok((at, line)))
            }
        }
    }
}

/// Open `path` (created if missing) to append after its first `keep` bytes, cutting off what
/// follows: the torn tail a crash left.
pub fn reopen_at(path: &Path, keep: u64) -> std::io::Result<File> {
    let mut file = OpenOptions::new().create(true).truncate(false).read(true).write(true).open(path)?;
    file.set_len(keep)?;
    file.seek(SeekFrom::End(0))?;
    Ok(file)
}

/// Parse journal text. A last line without its newline is a write cut short by a crash and is
/// left out; `Ok` also returns the length of the text that parsed.
pub fn read_records(text: &str, path: &Path) -> Result<(Vec<CallRecord>, usize), JournalError> {
    let mut records = Vec::new();
    let mut good = 0;
    for (i, line) in complete_lines(text.as_bytes()).enumerate() {
        let (at, line) = line.map_err(|source| JournalError::Io { path: path.to_path_buf(), source })?;
        good = at as usize + line.len();
        if line.trim_ascii().is_empty() {
            continue;
        }
        let record = serde_json::from_slice::<CallRecord>(&line).map_err(|e| JournalError::Record {
            path: path.to_path_buf(),
            line: i + 1,
            message: e.to_string(),
        })?;
        records.push(record);
    }
    Ok((records, good))
}

/// An append-only journal file.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
}

impl Journal {
    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
        move |source| JournalError::Io { path: path.to_path_buf(), source }
    }

    /// Open (or create) a journal to add to, returning what it already holds; a torn last line
    /// is cut off first.
    pub fn open(path: &Path) -> Result<(Self, Vec<CallRecord>), JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Self::io(path))?;
        }
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(Self::io(path)(e)),
        };
        let (records, good) = read_records(&text, path)?;
        let file = reopen_at(path, good as u64).map_err(Self::io(path))?;
        Ok((Self { path: path.to_path_buf(), file: Mutex::new(file) }, records))
    }

    /// Start an empty journal (a run's trace), replacing any file there.
    pub fn create(path: &Path) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(Self::io(path))?;
        }
        let file = File::create(path).map_err(Self::io(path))?;
        Ok(Self { path: path.to_path_buf(), file: Mutex::new(file) })
    }

    /// Append one record as a whole line and push it to disk.
    pub fn append(&self, record: &CallRecord) -> Result<(), JournalError> {
        let mut line = serde_json::to_string(record).map_err(|e| JournalError::Record {
            path: self.path.clone(),
            line: 0,
            message: e.to_string(),
        })?;
        line.push('\n');
        let mut file = self.file.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        file.write_all(line.as_bytes()).map_err(Self::io(&self.path))?;
        file.sync_data().map_err(Self::io(&self.path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str) -> CallRecord {
        CallRecord {
            key: key.into(),
            kind: "plan".into(),
            agent: "a".into(),
            model: "m".into(),
            task: "t".into(),
            ok: true,
            error: None,
            content: Some("text".into()),
            usage: Usage { input: 1, output: 2 },
            usage_reported: true,
            entropy: Some(0.5),
            vector: None,
            truncated: false,
            attempts: 1,
            latency_ms: 3,
        }
    }

    #[test]
    fn a_torn_tail_is_cut_and_appending_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.jsonl");
        let (j, old) = Journal::open(&path).unwrap();
        assert!(old.is_empty());
        j.append(&record("k1")).unwrap();
        j.append(&record("k2")).unwrap();
        drop(j);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str("{\"key\":\"k3\",\"ki");
        std::fs::write(&path, text).unwrap();
        let (j, old) = Journal::open(&path).unwrap();
        assert_eq!(old.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["k1", "k2"]);
        j.append(&record("k4")).unwrap();
        let (_, all) = Journal::open(&path).unwrap();
        assert_eq!(all.iter().map(|r| r.key.as_str()).collect::<Vec<_>>(), ["k1", "k2", "k4"]);
    }

    #[test]
    fn a_bad_line_in_the_middle_is_an_error_with_its_line() {
        let err = read_records("{}\n{\"x\":1}\n", Path::new("t.jsonl")).unwrap_err();
        assert!(err.to_string().starts_with("t.jsonl:1:"), "{err}");
    }
}
