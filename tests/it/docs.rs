//! The docs cannot drift: every figure README.md and docs/ quote is produced by a command and
//! checked here, or stands in a block that names the command that measured it.
//!
//! Three kinds of block, as HTML comments the rendered page does not show:
//! - `<!-- check: ARGS -->` … `<!-- /check -->`: `tender ARGS` is run (a `run` or `sweep` into a
//!   temporary folder, without plots) and every number in the block outside backquotes must be a
//!   number of its output at the precision the doc prints it (signs aside; `1,319` is 1319). A
//!   block whose command needs `../shared/data` says `check-with-data:` and runs where the data is.
//! - `<!-- measured: COMMAND -->` … `<!-- /measured -->`: timings and sizes, which depend on the
//!   machine and are not asserted (timing assertions do not belong in tests); the block names the
//!   command that measured them.
//! - `<!-- checked: TEST -->` … `<!-- /checked -->`: a claim with its shape ("rises", "falls")
//!   that the test of this file named TEST computes and compares word for word.
//! - `<!-- generated: NAME -->` … `<!-- /generated -->`: a table made from the one definition of
//!   the fields it lists ([`generated_sections_are_their_fields_definitions`]).
//! - docs/reproduction.md is generated whole by `tender reproduce`, docs/validation.md by
//!   `tender validation`.
//!
//! Outside blocks, [`figures_outside_blocks_are_only_inputs_and_definitions`] allows no result
//! figure (a percentage, a dollar amount, a ±, a time, a size) except the inputs and
//! definitions listed there with their reason. Claims of shape are checked by tests of their own
//! below (the learning curve, the knees of latency).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::util::{project, tender, text};

/// The documents checked: the README and every page of docs/ but the generated reports.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![project("README.md")];
    let mut pages: Vec<PathBuf> = std::fs::read_dir(project("docs"))
        .expect("docs/")
        .map(|e| e.expect("entry").path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "md") && !p.ends_with("reproduction.md") && !p.ends_with("validation.md")
        })
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

/// A block of a document.
#[derive(Debug)]
struct Block {
    doc: PathBuf,
    /// The line of its opening comment, from 1.
    line: usize,
    kind: String,
    command: String,
    text: String,
}

/// Every block of `doc`, and the text outside blocks (line number, line).
fn blocks(doc: &Path) -> (Vec<Block>, Vec<(usize, String)>) {
    let text = std::fs::read_to_string(doc).expect("doc");
    let (mut found, mut outside) = (Vec::new(), Vec::new());
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if let Some(rest) = trimmed.strip_prefix("<!-- ").and_then(|r| r.strip_suffix(" -->")) {
            if let Some(kind) = rest.strip_prefix('/') {
                let block =
                    open.take().unwrap_or_else(|| panic!("{}:{}: `{trimmed}` closes nothing", doc.display(), i + 1));
                assert_eq!(
                    block.kind,
                    kind,
                    "{}:{}: `{trimmed}` closes a `{}` block",
                    doc.display(),
                    i + 1,
                    block.kind
                );
                found.push(block);
                continue;
            }
            if let Some((kind, command)) = rest.split_once(": ") {
                assert!(open.is_none(), "{}:{}: a block opens inside another", doc.display(), i + 1);
                assert!(
                    ["check", "check-with-data", "measured", "checked", "generated"].contains(&kind),
                    "{}:{}: unknown block `{kind}`",
                    doc.display(),
                    i + 1
                );
                let kind = if kind == "check-with-data" { "check".to_string() } else { kind.to_string() };
                let block =
                    Block { doc: doc.to_path_buf(), line: i + 1, kind, command: command.into(), text: String::new() };
                open = Some(block);
                // `check-with-data` closes with `/check`.
                continue;
            }
        }
        match &mut open {
            Some(b) => {
                b.text.push_str(line);
                b.text.push('\n');
            }
            None => outside.push((i + 1, line.to_string())),
        }
    }
    assert!(open.is_none(), "{}: a block is not closed", doc.display());
    (found, outside)
}

/// `text` without what stands in backquotes (commands, field names, values of parameters); a
/// fenced block's lines are kept (its fences dropped), since a terminal's output is shown so.
fn prose(text: &str) -> String {
    let unfenced: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("```")).collect();
    unfenced.join("\n").split('`').step_by(2).collect::<Vec<_>>().join(" ")
}

/// The numbers of `text` with their decimals: `1,319` is 1319, `−64.7` is 64.7.
fn numbers(text: &str) -> Vec<(f64, usize)> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        // Not a figure: the digits of a name (`qwen3`, `pass@1`, `p95`, `λ=50`).
        let starts = chars[i].is_ascii_digit()
            && (i == 0 || !(chars[i - 1].is_alphanumeric() || matches!(chars[i - 1], '_' | '@' | '=' | '.')));
        if !starts {
            i += 1;
            continue;
        }
        let mut token = String::new();
        while i < chars.len()
            && (chars[i].is_ascii_digit()
                || ((chars[i] == ',' || chars[i] == '.') && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
        {
            token.push(chars[i]);
            i += 1;
        }
        // A number glued to letters is a name (`qwen3`, `4B`, `p95`), not a figure.
        if chars.get(i).is_some_and(|c| c.is_alphabetic() && *c != 'x' && *c != '×') {
            continue;
        }
        let plain = token.replace(',', "");
        let decimals = plain.split_once('.').map_or(0, |(_, d)| d.len());
        if let Ok(v) = plain.parse::<f64>() {
            out.push((v, decimals));
        }
    }
    out
}

/// Whether `value` printed with `decimals` decimals is one of `output`'s numbers rounded so.
fn found(value: f64, decimals: usize, output: &[(f64, usize)]) -> bool {
    let half = 0.5 * 10f64.powi(-(decimals as i32)) + 1e-9;
    output.iter().any(|&(v, _)| (v.abs() - value).abs() <= half)
}

/// `tender ARGS` as a block names it: runs and sweeps write to a temporary folder, without plots.
fn run_block(command: &str, dir: &Path) -> String {
    let mut args: Vec<String> = command.split_whitespace().map(String::from).collect();
    // What a command writes goes to a temporary folder, never into the project.
    if let Some(at) = args.iter().position(|a| a == "--out") {
        args.drain(at..(at + 2).min(args.len()));
    }
    match args.first().map(String::as_str) {
        Some("run" | "sweep") => {
            args.extend(["--out".into(), dir.join("out").display().to_string(), "--no-plots".into()]);
        }
        Some("fit") => args.extend(["--out".into(), dir.join("weights.ron").display().to_string()]),
        Some("shapley" | "game") => args.extend(["--out".into(), dir.join("out").display().to_string()]),
        _ => {}
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let o = tender_in_project(&refs);
    assert!(o.status.success(), "`tender {command}`: {}", text(&o.stderr));
    // What the command wrote counts as its output too: a share in a CSV file (0.58) is quoted as
    // a percentage (58%).
    let mut output = text(&o.stdout);
    for file in ["summary.csv", "points.csv"] {
        let path = ["out", "out/sweep"].iter().map(|d| dir.join(d).join(file)).find(|p| p.exists());
        if let Some(csv) = path.and_then(|p| std::fs::read_to_string(p).ok()) {
            for cell in csv.split([',', '\n']) {
                if let Ok(v) = cell.trim().parse::<f64>() {
                    output.push_str(&format!(" {v} {}", v * 100.0));
                }
            }
        }
    }
    output
}

/// `tender ARGS` from the project's root, where the docs' commands are run.
fn tender_in_project(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_tender"))
        .args(args)
        .current_dir(project(""))
        .output()
        .expect("tender runs")
}

/// A command's output as the checks read it: every number, and per table row (`│ NAME ┆ ...`)
/// the numbers of that row, over every table the row's name heads.
struct Output {
    all: Vec<(f64, usize)>,
    rows: Vec<(String, Vec<(f64, usize)>)>,
}

impl Output {
    fn of(text: &str) -> Self {
        let mut rows: Vec<(String, Vec<(f64, usize)>)> = Vec::new();
        for line in text.lines() {
            let Some(rest) = line.strip_prefix('│') else { continue };
            let Some((name, cells)) = rest.split_once('┆') else { continue };
            let name = name.trim().to_string();
            if name == "mechanism" {
                continue;
            }
            let values = numbers(cells);
            match rows.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.extend(values),
                None => rows.push((name, values)),
            }
        }
        // Longest names first, so "SALE (no jury)" anchors before "SALE".
        rows.sort_by_key(|(n, _)| std::cmp::Reverse(n.len()));
        Self { all: numbers(text), rows }
    }

    /// Every figure of `prose` that is not the output's: a figure after a row's name on its line
    /// must be in that row, any other anywhere in the output.
    fn missing(&self, prose: &str) -> Vec<String> {
        prose.lines().flat_map(|line| self.missing_in_line(line)).collect()
    }

    fn missing_in_line(&self, prose: &str) -> Vec<String> {
        // Where each row's name occurs, longest names first, without overlaps.
        let mut anchors: Vec<(usize, usize, usize)> = Vec::new();
        for (r, (name, _)) in self.rows.iter().enumerate() {
            for (at, _) in prose.match_indices(name.as_str()) {
                let end = at + name.len();
                let word_end = prose[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
                let word_start = prose[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
                if word_start && word_end && !anchors.iter().any(|&(a, e, _)| at < e && a < end) {
                    anchors.push((at, end, r));
                }
            }
        }
        anchors.sort_unstable();
        let mut out = Vec::new();
        let mut segments: Vec<(&str, Option<usize>)> = Vec::new();
        let mut from = 0;
        let mut row = None;
        for &(at, end, r) in &anchors {
            segments.push((&prose[from..at], row));
            (from, row) = (end, Some(r));
        }
        segments.push((&prose[from..], row));
        for (text, row) in segments {
            let pool = row.map_or(&self.all, |r| &self.rows[r].1);
            for (value, decimals) in numbers(text) {
                if !found(value, decimals, pool) {
                    let at =
                        row.map_or_else(|| "the output".to_string(), |r| format!("the rows of {:?}", self.rows[r].0));
                    out.push(format!("{value:.decimals$} is not in {at}"));
                }
            }
        }
        out
    }
}

/// Check every `check` block whose command needs the shared data or not, as `with_data` says.
fn check_blocks(with_data: bool) {
    let mut outputs: BTreeMap<String, Output> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for doc in documents() {
        let raw = std::fs::read_to_string(&doc).expect("doc");
        for block in blocks(&doc).0.into_iter().filter(|b| b.kind == "check") {
            let opening = raw.lines().nth(block.line - 1).unwrap_or_default();
            if opening.contains("check-with-data:") != with_data {
                continue;
            }
            let output = outputs.entry(block.command.clone()).or_insert_with(|| {
                let dir = tempfile::tempdir().expect("temp dir");
                Output::of(&run_block(&block.command, dir.path()))
            });
            let prose = prose(&block.text);
            checked += numbers(&prose).len();
            for miss in output.missing(&prose) {
                failures.push(format!("{}:{}: {miss} of `tender {}`", block.doc.display(), block.line, block.command));
            }
        }
    }
    assert!(failures.is_empty(), "figures the docs quote that their commands no longer give:\n{}", failures.join("\n"));
    assert!(with_data || checked > 100, "only {checked} figures checked");
}

#[test]
fn a_figure_after_a_row_name_is_checked_against_that_row() {
    let output = Output::of("│ SALE           ┆ 61.7 ± 0.7 ┆ 0.208 │\n│ SALE (no jury) ┆ 43.6 ± 0.6 ┆ 0.070 │\n");
    assert!(output.missing("SALE 61.7% at $0.208; SALE (no jury) 43.6% at $0.070").is_empty());
    assert_eq!(output.missing("SALE 43.6%").len(), 1, "another row's figure is not this row's");
    assert_eq!(output.missing("SALE (no jury) 61.2%").len(), 1);
    assert!(output.missing("anywhere: 0.208").is_empty());
    assert!(output.missing("SALE 61.7%\n0.070 on another line is anywhere's").is_empty());
}

#[test]
fn every_checked_figure_is_what_its_command_gives() {
    check_blocks(false);
}

#[test]
#[cfg_attr(
    not(tender_routellm_data),
    ignore = "../shared/data/routellm is absent (the real RouteLLM trace is not shipped)"
)]
fn every_checked_figure_of_the_recorded_data_is_what_its_command_gives() {
    check_blocks(true);
}

/// What a result figure looks like: a percentage, a dollar amount, a ±, a time or a size.
fn figures(line: &str) -> Vec<String> {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = PATTERN.get_or_init(|| {
        regex::Regex::new(
            r"(\d[\d,]*(\.\d+)?\s?%|\$\s?\d[\d,]*(\.\d+)?|\S*\s?±\s?\S*|\b\d[\d,]*(\.\d+)?\s(s|ms|µs|MB|kB|GiB|min|episodes/s|calls/s)\b)",
        )
        .expect("pattern")
    });
    re.find_iter(&prose(line)).map(|m| m.as_str().trim().to_string()).collect()
}

/// Figures allowed outside blocks: inputs of scenarios, definitions and others' published
/// numbers, each with why.
const ALLOWED: &[(&str, &str)] = &[
    ("95%", "the confidence level of every interval"),
    ("42%/25%", "the SALE paper's published cost reductions"),
    ("80%", "a scenario's load, as designed"),
    ("20%", "a training split's size, an input"),
    ("80", "a split's complement, an input"),
    ("30%", "a training split's size, an input"),
    ("± 95%", "the interval a table shows"),
    ("mean ±", "a table's caption"),
    ("±", "a table's caption"),
    ("$10/$30", "published prices, inputs"),
    ("$0.6/$0.6", "published prices, inputs"),
    ("0.2 s", "a default, an input"),
    ("5 s", "the preflight's timeout, a setting"),
    ("10 s", "a setting (warning, timeout) of the code"),
    ("30 s", "the longest backoff, a setting"),
    ("150 s", "the default stall limit, checked by the_documented_stall_limit_is_the_default"),
    ("120 s", "a default, a setting"),
    ("20 s", "a test's bound"),
    ("300 ms", "a mock server's delay in a test"),
    ("15 min", "the text of an example task"),
    ("2%", "a test's tolerance"),
    ("10%", "a test's tolerance"),
    ("15%", "a test's tolerance"),
    ("1.75%", "the fit of published speeds, checked by `cargo test -p tender-agents serving`"),
];

#[test]
fn figures_outside_blocks_are_only_inputs_and_definitions() {
    let mut stray = Vec::new();
    let this = std::fs::read_to_string(project("tests/it/docs.rs")).expect("this file");
    for doc in documents() {
        let (found, outside) = blocks(&doc);
        for b in found.iter().filter(|b| b.kind == "checked") {
            assert!(
                this.contains(&format!("fn {}(", b.command)),
                "{}:{}: no test `{}` here",
                b.doc.display(),
                b.line,
                b.command
            );
        }
        let mut fenced = false;
        for (line, content) in outside {
            if content.trim_start().starts_with("```") {
                fenced = !fenced;
                continue;
            }
            for figure in figures(&content) {
                if !ALLOWED.iter().any(|(allowed, _)| {
                    figure == *allowed || figure.trim_matches(['(', ')', ',', ';', '.']) == *allowed
                }) {
                    stray.push(format!("{}:{line}: {figure:?} in {:?}", doc.display(), content.trim()));
                }
            }
            let _ = fenced;
        }
    }
    assert!(
        stray.is_empty(),
        "figures outside a check or measured block (put them in one, or, for an input or a definition, in ALLOWED with its reason):\n{}",
        stray.join("\n")
    );
}

/// The smallest agent's share of a SALE variant's wins in the first and the last fifth of the
/// stream, pooled over episodes, from a run's `tasks.csv`, as the README words it.
fn learning(tasks: &Path, smallest: &str, stream: usize) -> BTreeMap<String, String> {
    let mut r = csv::Reader::from_path(tasks).expect("tasks.csv");
    let header = r.headers().expect("header").clone();
    let col = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (m, step, winner) = (col("mechanism"), col("step"), col("winner"));
    let fifth = stream / 5;
    let mut counts: BTreeMap<String, [u32; 4]> = BTreeMap::new();
    for row in r.records() {
        let row = row.expect("row");
        if !row[m].starts_with("SALE") {
            continue;
        }
        let s: usize = row[step].parse().expect("step");
        let won = u32::from(&row[winner] == smallest);
        let c = counts.entry(row[m].to_string()).or_default();
        if s < fifth {
            c[0] += won;
            c[1] += 1;
        }
        if s >= stream - fifth {
            c[2] += won;
            c[3] += 1;
        }
    }
    counts
        .into_iter()
        .map(|(mechanism, [a, n, b, k])| {
            let (first, last) = (100.0 * f64::from(a) / f64::from(n), 100.0 * f64::from(b) / f64::from(k));
            let shape = if last > first + 0.5 {
                "rises"
            } else if last < first - 0.5 {
                "falls"
            } else {
                "stays flat"
            };
            (mechanism, format!("{first:.1}% and {last:.1}% (it {shape})"))
        })
        .collect()
}

#[test]
fn the_readmes_learning_curve_is_the_quickstarts() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("out");
    let o =
        tender_in_project(&["run", "scenarios/quickstart.ron", "--no-plots", "--out", out.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    let shapes = learning(&out.join("tasks.csv"), "qwen3-4b", 200);
    let readme =
        std::fs::read_to_string(project("README.md")).expect("README").split_whitespace().collect::<Vec<_>>().join(" ");
    let with = shapes["SALE"].replacen("% and ", "% of SALE's first fifth of the stream and ", 1).replacen(
        "% (it",
        "% of its last fifth (it",
        1,
    );
    let without = &shapes["SALE (no memory)"];
    for claim in [with.as_str(), &format!("without memory {without}")] {
        assert!(readme.contains(claim), "the README's learning curve is not the quickstart's: it should say {claim:?}");
    }
}

/// Under the hashed TF-IDF embedding of the example tasks: the share of pairs of tasks from
/// different domains, and from the same domain, at least `lesson_min_similarity` (0.2) similar,
/// with each kind's median similarity, as docs/backends.md words it.
#[test]
fn the_lesson_threshold_figures_are_the_example_tasks() {
    let text = std::fs::read_to_string(project("scenarios/tasks/example.jsonl")).expect("tasks");
    let rows = tender_agents::taskfile::parse_jsonl(&text, "example.jsonl").expect("rows");
    let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
    let vectors = tender_agents::embed::hashed_tfidf(&texts, 256);
    let (mut across, mut within) = (Vec::new(), Vec::new());
    for i in 0..rows.len() {
        for j in i + 1..rows.len() {
            let sim: f32 = vectors[i].iter().zip(&vectors[j]).map(|(a, b)| a * b).sum();
            if rows[i].domain == rows[j].domain { &mut within } else { &mut across }.push(f64::from(sim));
        }
    }
    let describe = |sims: &mut Vec<f64>| {
        sims.sort_by(f64::total_cmp);
        let share = 100.0 * sims.iter().filter(|&&s| s >= 0.2).count() as f64 / sims.len() as f64;
        (share, sims[sims.len() / 2])
    };
    let ((a, am), (w, wm)) = (describe(&mut across), describe(&mut within));
    let claim = format!(
        "{a:.1}% of pairs of tasks from different domains reach it (median similarity {am:.2}) and {w:.1}% of pairs from the same domain (median {wm:.2})"
    );
    let doc = std::fs::read_to_string(project("docs/backends.md"))
        .expect("doc")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(doc.contains(&claim), "docs/backends.md should say: {claim}");
}

/// A newcomer can follow the README: it says how to put `tender` on the PATH, and every
/// `tender COMMAND` it names is a command of the binary.
#[test]
fn the_readme_says_how_to_run_tender_and_names_only_real_commands() {
    let readme = std::fs::read_to_string(project("README.md")).expect("README");
    let start = readme.find("## The two commands").expect("the two commands");
    let first = &readme[start..start + readme[start..].find("\n## ").unwrap_or(2000)];
    assert!(first.contains("cargo install --path ."), "the README must say how to put tender on the PATH");
    let mut commands: Vec<&str> = readme
        .split("`tender ")
        .skip(1)
        .filter_map(|rest| rest.split([' ', '`']).next())
        .filter(|c| c.chars().all(|ch| ch.is_ascii_lowercase()) && !c.is_empty())
        .collect();
    commands.sort_unstable();
    commands.dedup();
    assert!(commands.len() >= 8, "{commands:?}");
    for c in commands {
        let o = tender(&[c, "--help"]);
        assert!(o.status.success(), "the README names `tender {c}`, which is not a command: {}", text(&o.stderr));
    }
}

/// The stall limit the docs give (150 s, two and a half minutes, by default) is the code's.
#[test]
fn the_documented_stall_limit_is_the_default() {
    let spec: tender_agents::live::LiveSpec =
        ron::from_str(r#"(base_url: "http://127.0.0.1:8080/v1", model: "m")"#).expect("a default spec");
    assert_eq!(spec.stall_timeout(), 150.0, "update README.md and docs/backends.md with the new default");
    let readme = std::fs::read_to_string(project("README.md")).expect("README");
    let backends = std::fs::read_to_string(project("docs/backends.md")).expect("backends");
    assert!(readme.contains("(150 s by default)"), "README");
    for claim in ["1.25 × `timeout_secs` (150 s)", "(by default 1.25 × `timeout_secs`, 150 s)", "**2.5 minutes**"] {
        assert!(backends.contains(claim), "docs/backends.md should say {claim:?}");
    }
}

/// The limits and settings docs/games.md states are the code's.
#[test]
fn the_documented_game_and_shapley_limits_are_the_codes() {
    let games = std::fs::read_to_string(project("docs/games.md")).expect("games.md");
    let thousands = |n: usize| {
        let s = n.to_string();
        if s.len() > 3 { format!("{},{}", &s[..s.len() - 3], &s[s.len() - 3..]) } else { s }
    };
    for claim in [
        format!("`All` (up to {})", thousands(tender_engine::game_spec::MAX_PROFILES)),
        format!("games of up to {} profiles", thousands(tender_engine::game_spec::MAX_GAME)),
        format!("last half of {} steps", thousands(tender_analysis::game::REPLICATOR_STEPS)),
        format!("up to {} agents", tender_analysis::shapley::EXACT_LIMIT),
        format!("default {} orders", tender_analysis::shapley::DEFAULT_ORDERS),
    ] {
        assert!(games.contains(&claim), "docs/games.md should say {claim:?}");
    }
}

/// The sections a document marks `<!-- generated: NAME -->` … `<!-- /generated -->`, from the
/// one definition of the fields they list (what `tender fields` prints); `None` for a name no
/// generator has.
fn generated(name: &str) -> Option<String> {
    tender::api::generated_section(name)
}

/// Every generated section is what its generator gives now: a field added, re-ranged or
/// re-documented in the code cannot leave the docs behind. `TENDER_BLESS=1` rewrites them.
#[test]
fn generated_sections_are_their_fields_definitions() {
    let bless = std::env::var_os("TENDER_BLESS").is_some();
    let mut stale = Vec::new();
    let mut seen = 0;
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).expect("doc");
        let mut out = String::new();
        let mut lines = text.split_inclusive('\n');
        while let Some(line) = lines.next() {
            out.push_str(line);
            let Some(name) = line.trim().strip_prefix("<!-- generated: ").and_then(|r| r.strip_suffix(" -->")) else {
                continue;
            };
            let expected = generated(name).unwrap_or_else(|| panic!("{}: no generator `{name}`", doc.display()));
            let mut current = String::new();
            for inner in lines.by_ref() {
                if inner.trim() == "<!-- /generated -->" {
                    out.push_str(&expected);
                    out.push_str(inner);
                    break;
                }
                current.push_str(inner);
            }
            seen += 1;
            if current != expected {
                stale.push(format!("{}: section `{name}`", doc.display()));
            }
        }
        if bless && out != text {
            std::fs::write(&doc, out).expect("rewrite the doc");
        }
    }
    assert!(seen >= 22, "every scenario struct's table is generated: {seen} sections");
    assert!(
        bless || stale.is_empty(),
        "stale generated sections (rerun with TENDER_BLESS=1 to rewrite them):\n{}",
        stale.join("\n")
    );
}

/// `tender fields` prints the tables the docs show, from the same definitions.
#[test]
fn tender_fields_prints_the_tables_the_docs_show() {
    let listed = text(&crate::util::tender_ok(&["fields"]).stdout);
    for name in ["scenario", "agent", "standins", "live", "workload", "sale", "carrot", "matching"] {
        assert!(listed.contains(&format!("  {name} ")), "{name}: {listed}");
    }
    let agent = text(&crate::util::tender_ok(&["fields", "agent"]).stdout);
    let expected = generated("agent-fields").expect("the agent table");
    assert!(agent.contains(expected.trim_end()), "{agent}");
    assert!(agent.contains("| `memory_gain` | 1.2 | [0, 5] |"), "{agent}");
    let o = tender(&["fields", "nonsense"]);
    let err = text(&o.stderr);
    assert!(!o.status.success() && err.contains("no table named") && err.contains("sale"), "{err}");
}
