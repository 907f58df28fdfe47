//! Running a coding task's tests against an agent's program: a `python3` subprocess in a fresh
//! temporary folder, killed at its timeout.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::answer::code_block;

/// Whether `response`'s program, followed by `tests`, exits with status 0 within `timeout`.
/// Anything that stops the run (no python3, a crash, the timeout) is a failure.
#[must_use]
pub fn python_passes(response: &str, tests: &str, timeout: Duration) -> bool {
    let Ok(dir) = tempfile::tempdir() else { return false };
    let file = dir.path().join("solution.py");
    let program = format!("{}\n\n{}\n", code_block(response), tests);
    if std::fs::write(&file, program).is_err() {
        return false;
    }
    let Ok(mut child) = Command::new("python3")
        .arg(&file)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return false;
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(not(tender_python3), ignore = "python3 is not installed")]
    fn passing_failing_and_hanging_programs() {
        let tests = "assert add(2, 3) == 5";
        let t = Duration::from_secs(10);
        assert!(python_passes("```python\ndef add(a, b):\n    return a + b\n```", tests, t));
        assert!(!python_passes("```python\ndef add(a, b):\n    return a - b\n```", tests, t));
        assert!(!python_passes("```python\nwhile True: pass\n```", tests, Duration::from_millis(300)));
    }
}
