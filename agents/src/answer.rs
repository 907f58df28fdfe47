//! Checking an agent's answer against a task's reference answer.
//!
//! The answer is what follows the last `Answer:` marker of the response (the execution prompt
//! asks for one), or the whole response when there is none.

use regex::Regex;
use serde::{Deserialize, Serialize};

/// How an answer is compared with the reference.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum AnswerCheck {
    /// Equal after normalisation: case folded, punctuation and articles dropped, whitespace
    /// collapsed.
    #[default]
    Exact,
    /// The last number in the answer is within `tolerance` of the reference (absolute, or
    /// relative to the reference when that is larger).
    Numeric { tolerance: f64 },
    /// The chosen letter (A, B, ...) equals the reference letter.
    Choice,
    /// The answer matches the pattern; the reference is not read.
    Regex(String),
    /// A coding task: the answer's last fenced code block, followed by the reference (Python
    /// test code, assertions say), is run with `python3` in a fresh temporary folder; it passes
    /// when the process exits with status 0 within the timeout. Only live agents are checked
    /// this way (the live backend runs the process).
    PythonTests { timeout_secs: f64 },
}

/// The part of a response that is the answer.
#[must_use]
pub fn extract_answer(response: &str) -> &str {
    let lower = response.to_ascii_lowercase();
    match lower.rfind("answer:") {
        Some(at) => response[at + "answer:".len()..].trim(),
        None => response.trim(),
    }
}

/// The last fenced code block of a response (its body, without the fence and language tag),
/// or the whole response when it has none.
#[must_use]
pub fn code_block(response: &str) -> &str {
    let mut blocks = response.split("```");
    let mut last = None;
    // Odd pieces are inside fences.
    while let (Some(_), Some(inside)) = (blocks.next(), blocks.next()) {
        last = Some(inside);
    }
    match last {
        Some(inside) => {
            let body =
                inside.split_once('\n').map_or("", |(tag, rest)| if tag.trim().contains(' ') { inside } else { rest });
            body.trim_end()
        }
        None => response.trim(),
    }
}

/// Lower case, no punctuation, no articles, single spaces.
#[must_use]
pub fn normalise(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| if c.is_alphanumeric() || c.is_whitespace() { c.to_ascii_lowercase() } else { ' ' })
        .collect();
    cleaned.split_whitespace().filter(|w| !matches!(*w, "a" | "an" | "the")).collect::<Vec<_>>().join(" ")
}

/// The last number written in `text` (thousands separators and a leading `$` allowed).
#[must_use]
pub fn last_number(text: &str) -> Option<f64> {
    let mut best = None;
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts = chars[i].is_ascii_digit()
            || (chars[i] == '-' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
            || (chars[i] == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit));
        if !starts {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        while j < chars.len()
            && (chars[j].is_ascii_digit()
                || ((chars[j] == ',' || chars[j] == '.') && chars.get(j + 1).is_some_and(char::is_ascii_digit)))
        {
            j += 1;
        }
        let literal: String = chars[i..j].iter().filter(|c| **c != ',').collect();
        if let Ok(v) = literal.parse::<f64>() {
            best = Some(v);
        }
        i = j;
    }
    best
}

/// The multiple-choice letter the answer picks: a lone capital letter, possibly in brackets or
/// followed by `.` or `)`, the first one found.
#[must_use]
pub fn choice_letter(text: &str) -> Option<char> {
    let trimmed = text.trim();
    let mut chars = trimmed.chars();
    if let (Some(c), rest) = (chars.next(), chars.as_str())
        && c.is_ascii_alphabetic()
        && rest.chars().next().is_none_or(|n| !n.is_ascii_alphanumeric())
    {
        return Some(c.to_ascii_uppercase());
    }
    trimmed
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| w.len() == 1 && w.chars().all(|c| c.is_ascii_uppercase()))
        .and_then(|w| w.chars().next())
}

impl AnswerCheck {
    /// Whether `response` answers correctly. A regex that does not compile never matches
    /// (scenario validation rejects it first).
    #[must_use]
    pub fn passes(&self, response: &str, reference: &str) -> bool {
        let answer = extract_answer(response);
        match self {
            Self::Exact => !answer.is_empty() && normalise(answer) == normalise(reference),
            Self::Numeric { tolerance } => match (last_number(answer), last_number(reference)) {
                (Some(a), Some(r)) => (a - r).abs() <= tolerance.max(0.0) * r.abs().max(1.0),
                _ => false,
            },
            Self::Choice => match (choice_letter(answer), choice_letter(reference)) {
                (Some(a), Some(r)) => a == r,
                _ => false,
            },
            Self::Regex(pattern) => Regex::new(pattern).is_ok_and(|re| re.is_match(answer)),
            Self::PythonTests { .. } => false,
        }
    }

    /// Whether checking needs a program run ([`AnswerCheck::PythonTests`]).
    #[must_use]
    pub const fn runs_code(&self) -> bool {
        matches!(self, Self::PythonTests { .. })
    }

    /// Why the check cannot be used, if it cannot.
    #[must_use]
    pub fn problem(&self) -> Option<String> {
        match self {
            Self::Numeric { tolerance } if !(tolerance.is_finite() && *tolerance >= 0.0) => {
                Some(format!("numeric tolerance {tolerance} must be finite and at least 0"))
            }
            Self::Regex(pattern) => Regex::new(pattern).err().map(|e| format!("regex does not compile: {e}")),
            Self::PythonTests { timeout_secs } if !(timeout_secs.is_finite() && *timeout_secs > 0.0) => {
                Some(format!("python_tests timeout_secs {timeout_secs} must be finite and above 0"))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_match_ignores_case_punctuation_and_articles() {
        let c = AnswerCheck::Exact;
        assert!(c.passes("I think so.\nAnswer: The Eiffel Tower!", "eiffel tower"));
        assert!(!c.passes("Answer: Louvre", "eiffel tower"));
        assert!(!c.passes("Answer:", ""));
    }

    #[test]
    fn numeric_reads_the_last_number_with_separators() {
        let c = AnswerCheck::Numeric { tolerance: 1e-6 };
        assert!(c.passes("9 * $2 = $18\n#### 18", "18"));
        assert!(c.passes("Answer: $1,234.50", "1234.5"));
        assert!(c.passes("Answer: -3", "-3"));
        assert!(!c.passes("Answer: 17", "18"));
        assert!(!c.passes("no idea", "18"));
        assert!(AnswerCheck::Numeric { tolerance: 0.01 }.passes("Answer: 100.9", "100"));
    }

    #[test]
    fn choice_finds_the_letter() {
        let c = AnswerCheck::Choice;
        assert!(c.passes("Answer: (B)", "B"));
        assert!(c.passes("Answer: b. because", "B"));
        assert!(c.passes("The answer is C", "C") || c.passes("Answer: C", "C"));
        assert!(!c.passes("Answer: D", "B"));
    }

    #[test]
    fn the_last_code_block_is_the_program() {
        let reply =
            "Here:\n```python\ndef f():\n    return 1\n```\nand better:\n```py\ndef f():\n    return 2\n```\nDone.";
        assert_eq!(code_block(reply), "def f():\n    return 2");
        assert_eq!(code_block("x = 1"), "x = 1");
        assert!(AnswerCheck::PythonTests { timeout_secs: 0.0 }.problem().is_some());
    }

    #[test]
    fn regex_matches_the_answer_and_bad_patterns_are_reported() {
        assert!(AnswerCheck::Regex("^4[0-9]$".into()).passes("Answer: 42", "ignored"));
        assert!(!AnswerCheck::Regex("^4[0-9]$".into()).passes("Answer: 52", "ignored"));
        assert!(AnswerCheck::Regex("(".into()).problem().is_some());
        assert!(AnswerCheck::Numeric { tolerance: -1.0 }.problem().is_some());
    }
}
