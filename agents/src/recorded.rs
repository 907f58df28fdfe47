//! Recorded outcome tables from routing benchmarks, replayed as agents' executions.
//!
//! - RouteLLM (`prompt`, one `True`/`False` column per model, optional `<model>_response`):
//!   a file, or a folder of files with one domain each (its MMLU release).
//! - RouterBench's wide table, saved as CSV (`sample_id`, `prompt`, `eval_name`, and per model a
//!   score column, `<model>|model_response` and `<model>|total_cost`).
//!
//! The tables record executions only: no plans, no jury scores. Tokens are estimated at four
//! characters a token (the prompt as input; the response, where recorded, as output, else one
//! token: a multiple-choice letter). RouterBench's recorded cost is billed as is.

use crate::answer::AnswerCheck;
use crate::cells::{ExecutionCell, Usage};
use crate::source::{AgentInfo, CellKey, OutcomeSource, Provides};
use crate::taskfile::{TaskFileError, TaskRow};

/// A benchmark's recorded outcomes: its tasks, and every model's execution of each.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordedTable {
    pub rows: Vec<TaskRow>,
    pub models: Vec<String>,
    /// `outcomes[task][model]`; `None` where the table has no value.
    pub outcomes: Vec<Vec<Option<ExecutionCell>>>,
}

fn tokens(text: &str) -> u64 {
    (text.chars().count() as u64).div_ceil(4).max(1)
}

fn csv_reader(text: &str) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new().flexible(false).from_reader(text.as_bytes())
}

fn line_error(file: &str, e: &csv::Error) -> TaskFileError {
    let line = e.position().map_or(0, |p| p.line() as usize);
    TaskFileError::Line { file: file.to_string(), line, message: e.to_string() }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "1.0" => Some(true),
        "false" | "0" | "0.0" => Some(false),
        _ => None,
    }
}

fn row(key: String, text: &str, domain: &str, topic: Option<&str>) -> TaskRow {
    TaskRow {
        key,
        text: text.to_string(),
        domain: domain.to_string(),
        topic: topic.map(str::to_string),
        tau: None,
        bin: None,
        reference: String::new(),
        check: AnswerCheck::Exact,
        value: None,
        arrival: None,
    }
}

/// One RouteLLM file to read.
#[derive(Clone, Debug)]
pub struct RouteLlmFile {
    /// The domain of its tasks.
    pub domain: String,
    /// The topic of its tasks (a folder's file is one MMLU subject); `None` for a lone file.
    pub topic: Option<String>,
    /// Task ids are `PREFIX:ROW`: unique across the files read together.
    pub prefix: String,
    /// The file's name, for errors.
    pub file: String,
    pub text: String,
}

impl RecordedTable {
    /// Read RouteLLM files.
    pub fn routellm(files: &[RouteLlmFile]) -> Result<Self, TaskFileError> {
        let mut table = Self::default();
        for RouteLlmFile { domain, topic, prefix, file, text } in files {
            let mut reader = csv_reader(text);
            let headers: Vec<String> =
                reader.headers().map_err(|e| line_error(file, &e))?.iter().map(str::to_string).collect();
            let prompt = headers.iter().position(|h| h == "prompt").ok_or_else(|| TaskFileError::File {
                file: file.clone(),
                message: "has no `prompt` column (RouteLLM format)".into(),
            })?;
            let models: Vec<(usize, Option<usize>)> = headers
                .iter()
                .enumerate()
                .filter(|(i, h)| *i != prompt && !h.ends_with("_response"))
                .map(|(i, h)| (i, headers.iter().position(|r| *r == format!("{h}_response"))))
                .collect();
            let names: Vec<String> = models.iter().map(|(i, _)| headers[*i].clone()).collect();
            if table.models.is_empty() {
                table.models = names;
            } else if table.models != names {
                return Err(TaskFileError::File {
                    file: file.clone(),
                    message: format!("has models {names:?}, unlike the first file's {:?}", table.models),
                });
            }
            for (r, record) in reader.records().enumerate() {
                let record = record.map_err(|e| line_error(file, &e))?;
                let text = &record[prompt];
                let mut cells = Vec::with_capacity(models.len());
                for (column, response) in &models {
                    let cell = parse_bool(&record[*column]).map(|success| ExecutionCell {
                        success,
                        usage: Usage { input: tokens(text), output: response.map_or(1, |c| tokens(&record[c])) },
                        billed: None,
                        status: crate::cells::Status::Answered,
                        seconds: None,
                    });
                    cells.push(cell);
                }
                table.rows.push(row(format!("{prefix}:{r}"), text, domain, topic.as_deref()));
                table.outcomes.push(cells);
            }
        }
        table.non_empty(files.first().map_or("", |f| f.file.as_str()))
    }

    /// Read a RouterBench wide table saved as CSV.
    pub fn routerbench(text: &str, file: &str) -> Result<Self, TaskFileError> {
        let mut reader = csv_reader(text);
        let headers: Vec<String> =
            reader.headers().map_err(|e| line_error(file, &e))?.iter().map(str::to_string).collect();
        let column = |name: &str| {
            headers.iter().position(|h| h == name).ok_or_else(|| TaskFileError::File {
                file: file.to_string(),
                message: format!("has no `{name}` column (RouterBench format)"),
            })
        };
        let (id, prompt, eval) = (column("sample_id")?, column("prompt")?, column("eval_name")?);
        let models: Vec<(String, usize, Option<usize>, usize)> = headers
            .iter()
            .filter_map(|h| h.strip_suffix("|total_cost"))
            .map(|m| {
                Ok((
                    m.to_string(),
                    column(m)?,
                    headers.iter().position(|h| *h == format!("{m}|model_response")),
                    column(&format!("{m}|total_cost"))?,
                ))
            })
            .collect::<Result<_, TaskFileError>>()?;
        let mut table = Self { models: models.iter().map(|m| m.0.clone()).collect(), ..Self::default() };
        for record in reader.records() {
            let record = record.map_err(|e| line_error(file, &e))?;
            let text = &record[prompt];
            let cells = models
                .iter()
                .map(|(_, score, response, cost)| {
                    let score: f64 = record[*score].trim().parse().ok()?;
                    Some(ExecutionCell {
                        success: score >= 0.5,
                        usage: Usage { input: tokens(text), output: response.map_or(1, |c| tokens(&record[c])) },
                        billed: record[*cost].trim().parse::<f64>().ok().filter(|c| c.is_finite() && *c >= 0.0),
                        status: crate::cells::Status::Answered,
                        seconds: None,
                    })
                })
                .collect();
            table.rows.push(row(record[id].to_string(), text, &record[eval], None));
            table.outcomes.push(cells);
        }
        table.non_empty(file)
    }

    /// Keep the rows `keep` marks (and their outcomes), in order.
    pub fn retain(&mut self, keep: &[bool]) {
        let mut marks = keep.iter();
        self.rows.retain(|_| marks.next().copied().unwrap_or(false));
        let mut marks = keep.iter();
        self.outcomes.retain(|_| marks.next().copied().unwrap_or(false));
    }

    fn non_empty(self, file: &str) -> Result<Self, TaskFileError> {
        if self.rows.is_empty() || self.models.is_empty() {
            return Err(TaskFileError::File { file: file.to_string(), message: "holds no tasks or no models".into() });
        }
        Ok(self)
    }
}

/// Recorded agents: each reads its model's column of a [`RecordedTable`]. Tasks are the table's
/// rows, in order (task id = row).
pub struct RecordedSource {
    agents: Vec<AgentInfo>,
    /// Pool index → model column, for recorded agents.
    columns: Vec<Option<usize>>,
    outcomes: Vec<Vec<Option<ExecutionCell>>>,
}

impl RecordedSource {
    /// `columns[i]` names agent `i`'s model column (`None` for agents answered elsewhere).
    /// Errors list the columns the table has.
    pub fn new(agents: &[AgentInfo], columns: &[Option<String>], table: &RecordedTable) -> Result<Self, String> {
        let columns = columns
            .iter()
            .map(|c| {
                c.as_ref()
                    .map(|name| {
                        table.models.iter().position(|m| m == name).ok_or_else(|| {
                            format!("model column {name:?} is not in the trace; its models: {:?}", table.models)
                        })
                    })
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { agents: agents.to_vec(), columns, outcomes: table.outcomes.clone() })
    }
}

impl OutcomeSource for RecordedSource {
    fn agents(&self) -> &[AgentInfo] {
        &self.agents
    }

    fn provides(&self) -> Provides {
        Provides { bids: false }
    }

    fn plan(&self, _: CellKey<'_>) -> crate::cells::PlanCell {
        unreachable!("recorded tables hold no plans; the engine checks `provides` before running")
    }

    fn refine(&self, _: CellKey<'_>, _: &crate::cells::Recall<'_>) -> crate::cells::PlanCell {
        unreachable!("recorded tables hold no plans; the engine checks `provides` before running")
    }

    fn best_plan(&self, _: CellKey<'_>) -> Option<crate::cells::PlanCell> {
        None
    }

    fn judge(&self, _: CellKey<'_>, _: &crate::cells::PlanCell, _: usize) -> crate::cells::JuryCell {
        crate::cells::JuryCell::default()
    }

    fn execute(&self, key: CellKey<'_>, _: Option<&crate::cells::PlanCell>) -> ExecutionCell {
        let missing = ExecutionCell {
            success: false,
            usage: Usage::default(),
            billed: None,
            status: crate::cells::Status::Failed,
            seconds: None,
        };
        let Some(column) = self.columns.get(key.agent).copied().flatten() else { return missing };
        self.outcomes.get(key.task.id as usize).and_then(|row| row[column]).unwrap_or(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routellm_rows_and_outcomes() {
        let text =
            "prompt,weak,strong,weak_response,strong_response\n\"2+2?\",False,True,five,\"It is 4\"\nhi,True,,x,y\n";
        let file = RouteLlmFile {
            domain: "gsm8k".into(),
            topic: None,
            prefix: "gsm8k".into(),
            file: "g.csv".into(),
            text: text.into(),
        };
        let mut t = RecordedTable::routellm(&[file]).unwrap();
        assert_eq!(t.models, ["weak", "strong"]);
        assert_eq!(t.rows[0].text, "2+2?");
        assert_eq!(t.rows[1].key, "gsm8k:1");
        let strong = t.outcomes[0][1].unwrap();
        assert!(strong.success);
        assert_eq!(strong.usage, Usage { input: 1, output: 2 });
        assert!(!t.outcomes[0][0].unwrap().success);
        assert_eq!(t.outcomes[1][1], None);
        t.retain(&[false, true]);
        assert_eq!((t.rows.len(), t.outcomes.len()), (1, 1));
        assert_eq!(t.rows[0].key, "gsm8k:1");
        assert_eq!(t.outcomes[0][1], None);
    }

    #[test]
    fn routerbench_reads_scores_responses_and_costs() {
        let text = "sample_id,prompt,eval_name,a,a|model_response,a|total_cost,b,b|model_response,b|total_cost,oracle_model_to_route_to\n\
                    s1,q one,mmlu,1.0,A,0.001,0.0,B,0.0001,a\n";
        let t = RecordedTable::routerbench(text, "rb.csv").unwrap();
        assert_eq!(t.models, ["a", "b"]);
        assert_eq!(t.rows[0].domain, "mmlu");
        let a = t.outcomes[0][0].unwrap();
        assert!(a.success);
        assert_eq!(a.billed, Some(0.001));
        assert!(!t.outcomes[0][1].unwrap().success);
        let err = RecordedTable::routerbench("prompt\nx\n", "rb.csv").unwrap_err();
        assert!(err.to_string().contains("no `sample_id` column"), "{err}");
    }
}
