//! Text paths of real tasks: embedding a task set with the built-in hashed TF-IDF, checking
//! answers, parsing chat replies.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use tender_agents::AnswerCheck;
use tender_agents::embed::hashed_tfidf;
use tender_agents::live::parse_score;

/// GSM8K-sized prompts (about 230 characters each), varied so the vocabulary grows.
fn prompts(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                "Janet has {} ducks that lay {} eggs per day. She eats {} for breakfast every morning and bakes \
                 muffins with {}. She sells the remainder at the market for ${} per egg. Topic {}: how much does \
                 she make every day?",
                i % 17,
                i % 29,
                i % 5,
                i % 7,
                i % 11,
                i % 97
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let texts = prompts(1319);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    c.bench_function("hashed_tfidf 1319 prompts, 256 dims", |b| b.iter(|| hashed_tfidf(black_box(&refs), 256)));
    let numeric = AnswerCheck::Numeric { tolerance: 1e-6 };
    let reply = "She has 16 - 3 - 4 = 9 eggs left and sells them for 9 * $2 = $18.\nAnswer: $18";
    c.bench_function("numeric answer check", |b| b.iter(|| numeric.passes(black_box(reply), "18")));
    c.bench_function("jury score parse", |b| b.iter(|| parse_score(black_box("The plan is sound. Score: 4/5"))));
    let question =
        "Which gas makes up most of the Earth's atmosphere?\nA. Oxygen\nB. Nitrogen\nC. Carbon dioxide\nD. Argon";
    let echoed = "A. Oxygen\nB. Nitrogen\nC. Carbon dioxide\nD. Argon\nThe main gas is nitrogen.";
    c.bench_function("choice answer grade, echoed options", |b| {
        b.iter(|| AnswerCheck::Choice.grade(black_box(question), black_box(echoed), "B"))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
