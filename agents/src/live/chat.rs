//! Chat-completions requests and what is read from their replies.

use serde_json::{Value, json};

use super::{Reasoning, ThinkingSwitch};
use crate::cells::Usage;

/// A chat-completions request.
#[derive(Clone, Debug)]
pub struct ChatRequest<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub user: String,
    pub max_tokens: u32,
    pub temperature: f64,
    pub logprobs: bool,
    /// Sent as `seed`, for servers that sample reproducibly.
    pub seed: u64,
    pub reasoning: &'a Reasoning,
}

impl ChatRequest<'_> {
    #[must_use]
    pub fn body(&self) -> Value {
        let user = match self.reasoning {
            Reasoning::Off(ThinkingSwitch::NoThinkTag) => format!("{}\n/no_think", self.user),
            _ => self.user.clone(),
        };
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": self.system},
                {"role": "user", "content": user},
            ],
            "max_tokens": self.max_tokens.saturating_add(self.reasoning.extra_tokens()),
            "temperature": self.temperature,
            "seed": self.seed,
        });
        if let Reasoning::Off(ThinkingSwitch::TemplateFlag) = self.reasoning {
            body["chat_template_kwargs"] = json!({"enable_thinking": false});
        }
        if self.logprobs {
            body["logprobs"] = json!(true);
            body["top_logprobs"] = json!(5);
        }
        body
    }

    fn prompt_chars(&self) -> usize {
        self.system.chars().count() + self.user.chars().count()
    }
}

/// What a reply says.
#[derive(Clone, Debug, PartialEq)]
pub struct ChatAnswer {
    pub content: String,
    pub usage: Usage,
    /// False when the reply had no `usage` and the tokens were estimated (four characters a
    /// token).
    pub usage_reported: bool,
    /// Mean per-token entropy in nats, when the reply carried log-probabilities.
    pub entropy: Option<f64>,
    /// The reply stopped at its token limit (`finish_reason: "length"`).
    pub truncated: bool,
}

/// Tokens guessed from characters, for replies without `usage`.
fn estimate_tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4)
}

/// Read a chat-completions reply. Errors say why the reply is unusable.
pub fn parse_chat(body: &str, request: &ChatRequest<'_>) -> Result<ChatAnswer, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("malformed JSON in reply: {e}"))?;
    let choice = v
        .get("choices")
        .and_then(Value::as_array)
        .ok_or("reply has no `choices` list")?
        .first()
        .ok_or("reply has an empty `choices` list")?;
    let message = choice.get("message").ok_or("reply's first choice has no message")?;
    // A reasoning model whose budget ran out mid-thought may return no content beside its
    // `reasoning_content`: an empty (unparsed) reply, not a broken one.
    let reasoned = ["reasoning_content", "reasoning"].iter().any(|k| message.get(k).is_some_and(|r| !r.is_null()));
    let content = match message.get("content").and_then(Value::as_str) {
        Some(text) => strip_reasoning(text),
        None if reasoned => String::new(),
        None => return Err("reply's first choice has no message content".into()),
    };
    let reported = v.get("usage").and_then(|u| {
        let input = u.get("prompt_tokens")?.as_u64()?;
        let output = u.get("completion_tokens")?.as_u64()?;
        Some(Usage { input, output })
    });
    let usage = reported.unwrap_or(Usage {
        input: estimate_tokens(request.prompt_chars()),
        output: estimate_tokens(content.chars().count()),
    });
    let entropy = choice.pointer("/logprobs/content").and_then(Value::as_array).and_then(|tokens| mean_entropy(tokens));
    let truncated = choice.get("finish_reason").and_then(Value::as_str) == Some("length");
    Ok(ChatAnswer { content, usage, usage_reported: reported.is_some(), entropy, truncated })
}

/// Mean per-token entropy (nats) from OpenAI-style `logprobs.content`: per token, the entropy
/// of its top alternatives (renormalised, with the mass they leave out as one more outcome);
/// when a token has fewer than two alternatives, its surprisal `-logprob` (whose expectation is
/// the entropy). `None` when no token carries a log-probability.
#[must_use]
pub fn mean_entropy(tokens: &[Value]) -> Option<f64> {
    let per_token: Vec<f64> = tokens
        .iter()
        .filter_map(|t| {
            let top: Vec<f64> = t
                .get("top_logprobs")
                .and_then(Value::as_array)
                .map(|alts| alts.iter().filter_map(|a| a.get("logprob").and_then(Value::as_f64)).collect())
                .unwrap_or_default();
            if top.len() >= 2 {
                let p: Vec<f64> = top.iter().map(|lp| lp.exp()).collect();
                let rest = (1.0 - p.iter().sum::<f64>()).max(0.0);
                let h: f64 = p.iter().chain(std::iter::once(&rest)).filter(|&&x| x > 0.0).map(|x| -x * x.ln()).sum();
                Some(h)
            } else {
                t.get("logprob").and_then(Value::as_f64).map(|lp| -lp)
            }
        })
        .filter(|h| h.is_finite())
        .collect();
    (!per_token.is_empty()).then(|| per_token.iter().sum::<f64>() / per_token.len() as f64)
}

/// A juror's Likert score (0 to 5), only from an explicit score: the last "Score: N" (also
/// "score of N", "score is **N**", on one line), "N/5" or "N out of 5", or a reply that is
/// nothing but the score. Anything else, such as the stray digits of "1. 17 and 23 are..." or "...is 5 ways.",
/// is no score: the verdict is unparsed. "4.5" and "10" are no scores either.
#[must_use]
pub fn parse_score(reply: &str) -> Option<u8> {
    static RE: std::sync::OnceLock<[regex::Regex; 2]> = std::sync::OnceLock::new();
    let [explicit, bare] = RE.get_or_init(|| {
        let re = |p: &str| regex::Regex::new(p).unwrap_or_else(|e| panic!("score pattern {p}: {e}"));
        [
            re(r"(?i)(?:\bscore\b(?:[ \t]+(?:of|is))?[ \t]*[:=]?[ \t]*[*_\x22'(\[]*[ \t]*([0-5])|\b([0-5])[ \t]*(?:/|out[ \t]+of)[ \t]*5\b)(?:[^0-9.]|\.(?:[^0-9]|$)|$)"),
            re(r"^[\s*_\x22'(\[]*([0-5])(?:\s*(?:/|out\s+of)\s*5)?[\s*_\x22')\].]*$"),
        ]
    });
    let digit = |c: regex::Captures<'_>| c.iter().skip(1).flatten().next().and_then(|m| m.as_str().parse::<u8>().ok());
    explicit.captures_iter(reply).filter_map(digit).last().or_else(|| bare.captures(reply.trim()).and_then(digit))
}

/// The reply without its reasoning: every `<think>...</think>` block, everything before a
/// closing `</think>` whose opening tag was in the prompt (some chat templates open the block
/// themselves), and an opened block that never closed (the budget ran out mid-thought).
#[must_use]
pub fn strip_reasoning(content: &str) -> String {
    const OPEN: &str = "<think>";
    const CLOSE: &str = "</think>";
    let mut text = content;
    if let Some(at) = text.rfind(CLOSE)
        && !text[..at].contains(OPEN)
    {
        text = &text[at + CLOSE.len()..];
    }
    let mut out = String::with_capacity(text.len());
    while let Some(open) = text.find(OPEN) {
        out.push_str(&text[..open]);
        match text[open..].find(CLOSE) {
            Some(close) => text = &text[open + close + CLOSE.len()..],
            None => text = "",
        }
    }
    out.push_str(text);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ChatRequest<'static> {
        ChatRequest {
            model: "m",
            system: "sys",
            user: "hello there".into(),
            max_tokens: 10,
            temperature: 0.0,
            logprobs: true,
            seed: 1,
            reasoning: &Reasoning::Default,
        }
    }

    #[test]
    fn scores_parse_robustly() {
        assert_eq!(parse_score("4"), Some(4));
        assert_eq!(parse_score("Score: 3/5"), Some(3));
        assert_eq!(parse_score("**5**"), Some(5));
        assert_eq!(parse_score("I'd give it a 2 out of 5."), Some(2));
        assert_eq!(parse_score("Step 1 looks fine. Score: 4"), Some(4));
        assert_eq!(parse_score("10 out of 10"), None);
        assert_eq!(parse_score("4.5"), None);
        assert_eq!(parse_score("no idea"), None);
        // Stray digits are no score: list numbers, counts, arithmetic.
        assert_eq!(parse_score("1. 17 and 23 are not numbers that multiply to 5"), None);
        assert_eq!(parse_score("The number of ways is 5 ways."), None);
        assert_eq!(parse_score("To determine the score:\n1. Determine the score"), None);
        assert_eq!(parse_score("Score: 2\nOn reflection, score: 3."), Some(3), "the last explicit score");
        assert_eq!(parse_score("score is **4**"), Some(4));
        assert_eq!(parse_score(" 3 "), Some(3));
    }

    #[test]
    fn reasoning_is_stripped() {
        assert_eq!(strip_reasoning("<think>Score: 1?</think>\nScore: 4"), "Score: 4");
        // The template opened the block; the reply only closes it.
        assert_eq!(strip_reasoning("hmm, 2 or 3\n</think>\n\nScore: 3"), "Score: 3");
        // The budget ran out mid-thought: nothing is left to parse.
        assert_eq!(strip_reasoning("<think>Let me count: 1, 2, 3"), "");
        assert_eq!(strip_reasoning("Answer: 4"), "Answer: 4");
        let body =
            r#"{"choices":[{"message":{"content":null,"reasoning_content":"thinking"},"finish_reason":"length"}]}"#;
        let a = parse_chat(body, &request()).unwrap();
        assert!(a.content.is_empty() && a.truncated, "an unfinished thought is an empty reply, not a broken one");
    }

    #[test]
    fn replies_parse_with_usage_and_logprobs() {
        let body = r#"{"choices":[{"message":{"content":"Plan: x"},"logprobs":{"content":[
            {"token":"a","logprob":-0.1,"top_logprobs":[{"token":"a","logprob":-0.1053605},{"token":"b","logprob":-2.3025851}]},
            {"token":"b","logprob":-0.5}]}}],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#;
        let a = parse_chat(body, &request()).unwrap();
        assert_eq!(a.content, "Plan: x");
        assert_eq!(a.usage, Usage { input: 12, output: 3 });
        assert!(a.usage_reported);
        // 0.9 and 0.1: entropy 0.325; the second token's surprisal 0.5.
        let h = a.entropy.unwrap();
        assert!((h - (0.325_082_9 + 0.5) / 2.0).abs() < 1e-4, "{h}");
    }

    #[test]
    fn unusable_replies_say_why_and_missing_usage_is_estimated() {
        assert!(parse_chat("not json", &request()).unwrap_err().contains("malformed JSON"));
        assert!(parse_chat(r#"{"choices":[]}"#, &request()).unwrap_err().contains("empty `choices`"));
        assert!(parse_chat(r#"{"id":1}"#, &request()).unwrap_err().contains("no `choices`"));
        let a = parse_chat(r#"{"choices":[{"message":{"content":"12345678"}}]}"#, &request()).unwrap();
        assert!(!a.usage_reported);
        assert_eq!(a.usage, Usage { input: 4, output: 2 });
        assert_eq!(a.entropy, None);
    }
}
