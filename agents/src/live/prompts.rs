//! The prompts live agents answer. They are part of every request's cache key, so changing one
//! changes which recorded answers apply.

/// One past auction quoted in a refinement prompt.
pub struct Lesson<'a> {
    pub similarity: f32,
    pub losing: Option<&'a str>,
    pub losing_length: u32,
    pub winning: Option<&'a str>,
    pub winning_length: u32,
    pub winner_succeeded: bool,
}

/// The prompt texts.
pub struct Prompts;

impl Prompts {
    pub const SYSTEM: &'static str = "You are one of several AI agents bidding to solve tasks. Be concise and precise.";

    /// Words a plan of at most `tokens` tokens can hold (three words to four tokens, rounded
    /// down to ten), so that the prompt asks for what the token limit allows.
    #[must_use]
    pub fn plan_words(tokens: u32) -> u32 {
        (tokens.saturating_mul(3) / 4 / 10 * 10).max(10)
    }

    /// The bid: a short plan, not a solution, within `tokens`.
    #[must_use]
    pub fn plan(task: &str, tokens: u32) -> String {
        format!(
            "Task:\n{task}\n\nWrite a short plan (at most 5 numbered steps, under {} words) for how you would solve \
             this task. Do not solve it yet.",
            Self::plan_words(tokens)
        )
    }

    /// A juror's Likert score of a plan.
    #[must_use]
    pub fn judge(task: &str, plan: &str) -> String {
        format!(
            "Task:\n{task}\n\nProposed plan:\n{plan}\n\nOn a scale from 0 (certainly fails) to 5 (certainly \
             succeeds), how likely is this plan to solve the task correctly? Reply with \"Score: N\" only."
        )
    }

    /// The contrastive refinement: winning and losing plans of similar past tasks; the new plan
    /// within `tokens`.
    #[must_use]
    pub fn refine(task: &str, lessons: &[Lesson<'_>], tokens: u32) -> String {
        let mut text = format!("Task:\n{task}\n\nPlans from similar past tasks, as a winning and a losing bid:\n");
        for (i, l) in lessons.iter().enumerate() {
            let quote = |t: Option<&str>, len: u32| {
                t.map_or_else(|| format!("(a plan of {len} tokens, text unavailable)"), str::to_string)
            };
            text.push_str(&format!(
                "\nExample {} (similarity {:.2}; the winning plan {}):\nWinning plan:\n{}\nLosing plan:\n{}\n",
                i + 1,
                l.similarity,
                if l.winner_succeeded { "succeeded" } else { "failed" },
                quote(l.winning, l.winning_length),
                quote(l.losing, l.losing_length),
            ));
        }
        text.push_str(&format!(
            "\nLearn from what separates the winning plans from the losing ones, then write your own short plan \
             (at most 5 numbered steps, under {} words) for the task above. Do not copy the examples. Do not solve it \
             yet.",
            Self::plan_words(tokens)
        ));
        text
    }

    /// Execution: solve the task, optionally along a plan.
    #[must_use]
    fn execute(task: &str, plan: Option<&str>) -> String {
        let plan = plan.map_or_else(String::new, |p| format!("\n\nFollow this plan:\n{p}"));
        format!("Task:\n{task}{plan}\n\nSolve the task. End your reply with a final line \"Answer: <your answer>\".")
    }

    /// The execution prompt `task` asks for: a program for a coding task, else an answer line.
    #[must_use]
    pub fn execution(task: &crate::task::TaskContent, plan: Option<&str>) -> String {
        if task.check.runs_code() { Self::execute_code(&task.text, plan) } else { Self::execute(&task.text, plan) }
    }

    /// Execution of a coding task, whose answer is a program.
    #[must_use]
    fn execute_code(task: &str, plan: Option<&str>) -> String {
        let plan = plan.map_or_else(String::new, |p| format!("\n\nFollow this plan:\n{p}"));
        format!("Task:\n{task}{plan}\n\nSolve the task. Give your complete solution as one Python code block.")
    }
}
