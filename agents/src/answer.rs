//! Checking an agent's answer against a task's reference answer.
//!
//! Real replies do not always follow the format the execution prompt asks for ("End your reply
//! with a final line `Answer: <your answer>`"), so the answer is looked for in a cascade of
//! places, in this order, and the first place where the check finds an answer of its kind (a
//! number, a letter, any text) is the one graded:
//!
//! 1. the last `Answer:` line (after the marker; the next line when the marker ends its line);
//! 2. the last `\boxed{...}` value;
//! 3. a bold `**...**` value on the reply's last line;
//! 4. the last non-empty line;
//! 5. the whole reply.
//!
//! Coding answers are the last fenced code block, else the whole reply. A reply in which no
//! place holds an answer of the check's kind is *unparsed*: neither a pass nor a failed call.

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

/// Where in a reply the graded answer was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    AnswerLine,
    Boxed,
    Bold,
    LastLine,
    WholeReply,
    /// A fenced code block (coding tasks).
    CodeBlock,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::AnswerLine => "`Answer:` line",
            Self::Boxed => "boxed value",
            Self::Bold => "bold value",
            Self::LastLine => "last line",
            Self::WholeReply => "whole reply",
            Self::CodeBlock => "code block",
        })
    }
}

impl Stage {
    /// Whether the reply used the format its prompt asked for: an `Answer:` line, or a fenced
    /// code block for a coding task.
    #[must_use]
    pub const fn formatted(self) -> bool {
        matches!(self, Self::AnswerLine | Self::CodeBlock)
    }
}

/// A graded reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Graded {
    pub passed: bool,
    /// Where the answer was found; `None` when nowhere: the reply is unparsed.
    pub stage: Option<Stage>,
}

/// The places of the cascade, in order (see the module documentation).
fn places(reply: &str) -> [(Stage, Option<&str>); 5] {
    [
        (Stage::AnswerLine, answer_line(reply)),
        (Stage::Boxed, boxed(reply)),
        (Stage::Bold, last_line(reply).and_then(bold)),
        (Stage::LastLine, last_line(reply)),
        (Stage::WholeReply, Some(reply.trim()).filter(|t| !t.is_empty())),
    ]
}

fn answer_marker() -> &'static Regex {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| Regex::new(r"(?i)\banswer\s*[*_]*\s*:[*_\s]*").unwrap_or_else(|e| panic!("answer marker: {e}")))
}

/// Text after the last `Answer:` marker on its line (or on the next non-empty line when the
/// marker ends its line), without markdown emphasis.
fn answer_line(reply: &str) -> Option<&str> {
    let lines: Vec<&str> = reply.lines().collect();
    let (i, m) =
        lines.iter().enumerate().rev().find_map(|(i, l)| answer_marker().find_iter(l).last().map(|m| (i, m)))?;
    let rest = strip_emphasis(&lines[i][m.end()..]);
    if rest.is_empty() { lines[i + 1..].iter().map(|l| strip_emphasis(l)).find(|l| !l.is_empty()) } else { Some(rest) }
}

fn strip_emphasis(text: &str) -> &str {
    text.trim().trim_matches(|c: char| c == '*' || c == '_' || c == '`').trim()
}

/// The body of the last `\boxed{...}`, braces balanced.
fn boxed(reply: &str) -> Option<&str> {
    let start = reply.rfind("\\boxed{")? + "\\boxed{".len();
    let mut depth = 1;
    for (i, c) in reply[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(reply[start..start + i].trim()).filter(|t| !t.is_empty());
                }
            }
            _ => {}
        }
    }
    None
}

/// The last `**...**` span of `line`.
fn bold(line: &str) -> Option<&str> {
    let end = line.rfind("**")?;
    let start = line[..end].rfind("**")? + 2;
    Some(line[start..end].trim()).filter(|t| !t.is_empty())
}

fn last_line(reply: &str) -> Option<&str> {
    reply.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// An option line of a multiple-choice list: `A. text`, `(B) text`, `C) text`.
fn option_line(line: &str) -> Option<(char, &str)> {
    static RE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r"^\s*[*_]*\(?([A-J])[.)][*_]*\s+(\S.*?)\s*$").unwrap_or_else(|e| panic!("option line: {e}"))
    });
    let c = re.captures(line)?;
    Some((c[1].chars().next()?, c.get(2)?.as_str()))
}

/// The letter `text` picks: a leading letter (`B`, `(B)`, `b.`), a stated one ("the answer is
/// C", "option D"), a bracketed one, or the one option whose text it names. Never the article
/// "A" of a sentence.
fn choice_in(text: &str, options: &[(char, &str)]) -> Option<char> {
    static RE: std::sync::OnceLock<[Regex; 3]> = std::sync::OnceLock::new();
    let [leading, stated, bracketed] = RE.get_or_init(|| {
        let re = |p: &str| Regex::new(p).unwrap_or_else(|e| panic!("choice pattern {p}: {e}"));
        [
            re(r"^[*_\s]*(?:\(([A-Ja-j])\)|([A-J])\b(?:[.):]|\s*$)|([a-j])[.)])"),
            re(r"(?i:answer|option|choice)(?:\s+(?i:is))?\s*:?\s*\(?([A-J])\b"),
            re(r"\(([A-J])\)"),
        ]
    });
    let letter = |c: regex::Captures<'_>| c.iter().skip(1).flatten().next().and_then(|m| m.as_str().chars().next());
    if let Some(c) = leading
        .captures(text)
        .and_then(letter)
        .or_else(|| stated.captures_iter(text).last().and_then(letter))
        .or_else(|| bracketed.captures_iter(text).last().and_then(letter))
    {
        return Some(c.to_ascii_uppercase());
    }
    let said = format!(" {} ", normalise(text));
    let mut named = options.iter().filter(|(_, o)| {
        let o = normalise(o);
        !o.is_empty() && said.contains(&format!(" {o} "))
    });
    match (named.next(), named.next()) {
        (Some((letter, _)), None) => Some(*letter),
        _ => None,
    }
}

/// Whether `answer` states `reference`: equal after normalisation, or a sentence that ends with
/// it ("The capital of Australia is Canberra.") and does not negate it.
fn states(answer: &str, reference: &str) -> bool {
    let (a, r) = (normalise(answer), normalise(reference));
    if r.is_empty() {
        return false;
    }
    if a == r {
        return true;
    }
    a.strip_suffix(&r)
        .and_then(|head| head.strip_suffix(' '))
        .is_some_and(|head| !matches!(head.rsplit(' ').next(), Some("not" | "no" | "never" | "t" | "nor")))
}

impl AnswerCheck {
    /// Whether `response` answers correctly (see [`AnswerCheck::grade`]).
    #[must_use]
    pub fn passes(&self, response: &str, reference: &str) -> bool {
        self.grade("", response, reference).passed
    }

    /// Grade `response` to `task` (whose text lists a multiple-choice question's options)
    /// against `reference`, along the module's cascade. A regex that does not compile never
    /// matches (scenario validation rejects it first). Coding answers are found, not run: the
    /// live backend runs them.
    #[must_use]
    pub fn grade(&self, task: &str, response: &str, reference: &str) -> Graded {
        let fail = Graded { passed: false, stage: None };
        if let Self::PythonTests { .. } = self {
            let fenced = response.matches("```").count() >= 2;
            let stage = if fenced {
                Some(Stage::CodeBlock)
            } else {
                (!response.trim().is_empty()).then_some(Stage::WholeReply)
            };
            return Graded { passed: false, stage };
        }
        // An echoed option list is the question, not an answer: its lines are not read.
        let options: Vec<(char, &str)> = task.lines().filter_map(option_line).collect();
        let echoed: String;
        let response =
            if matches!(self, Self::Choice) && response.lines().filter(|l| option_line(l).is_some()).count() >= 2 {
                echoed = response.lines().filter(|l| option_line(l).is_none()).collect::<Vec<_>>().join("\n");
                echoed.as_str()
            } else {
                response
            };
        let places = places(response);
        let found = |read: &dyn Fn(&str) -> bool| {
            places.iter().find_map(|(stage, text)| text.filter(|t| read(t)).map(|t| (*stage, t)))
        };
        let graded = |found: Option<(Stage, &str)>, pass: &dyn Fn(&str) -> bool| {
            found.map_or(fail, |(stage, text)| Graded { passed: pass(text), stage: Some(stage) })
        };
        match self {
            Self::Exact => graded(found(&|_| true), &|a| states(a, reference)),
            Self::Numeric { tolerance } => {
                graded(found(&|t| last_number(t).is_some()), &|a| match (last_number(a), last_number(reference)) {
                    (Some(a), Some(r)) => (a - r).abs() <= tolerance.max(0.0) * r.abs().max(1.0),
                    _ => false,
                })
            }
            Self::Choice => {
                let reference = choice_in(reference, &[]);
                graded(found(&|t| choice_in(t, &options).is_some()), &|a| {
                    choice_in(a, &options).is_some_and(|c| Some(c) == reference)
                })
            }
            Self::Regex(pattern) => {
                let re = Regex::new(pattern).ok();
                graded(found(&|_| true), &|a| re.as_ref().is_some_and(|re| re.is_match(a)))
            }
            Self::PythonTests { .. } => fail,
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
    fn the_cascade_finds_answers_where_real_replies_put_them() {
        let question = "Which gas makes up most of the Earth's atmosphere?\nA. Oxygen\nB. Nitrogen\nC. Argon";
        let grade = |check: &AnswerCheck, reply: &str, reference: &str| check.grade(question, reply, reference);
        // An echoed option list is the question, not an answer.
        let echo = "A. Oxygen\nB. Nitrogen\nC. Argon";
        assert_eq!(grade(&AnswerCheck::Choice, echo, "B"), Graded { passed: false, stage: None });
        let named = grade(&AnswerCheck::Choice, &format!("{echo}\nThe main gas is nitrogen."), "B");
        assert_eq!(named, Graded { passed: true, stage: Some(Stage::LastLine) });
        // "A" the article is not option A.
        assert!(!grade(&AnswerCheck::Choice, "A good guess is B.", "A").passed);
        let exact = AnswerCheck::Exact;
        assert!(exact.passes("The capital city of Australia is Canberra.", "Canberra"));
        assert!(!exact.passes("The capital city of Australia is not Canberra.", "Canberra"));
        let numeric = AnswerCheck::Numeric { tolerance: 0.0 };
        assert_eq!(
            numeric.grade("", "Work: 2+2\n\\boxed{4}\nDone.", "4"),
            Graded { passed: true, stage: Some(Stage::Boxed) }
        );
        assert_eq!(
            numeric.grade("", "So the total is **27** apples", "27"),
            Graded { passed: true, stage: Some(Stage::Bold) }
        );
        assert_eq!(numeric.grade("", "**Answer:** 391", "391").stage, Some(Stage::AnswerLine));
        assert_eq!(numeric.grade("", "no idea", "4").stage, None, "no number anywhere: unparsed");
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
