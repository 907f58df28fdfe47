//! Why plotting failed.

use std::path::PathBuf;

/// What a drawing backend reports (the bitmap's or the SVG's error).
pub type DrawError = Box<dyn std::error::Error + Send + Sync>;

/// Why plotting failed.
#[derive(Debug, thiserror::Error)]
pub enum PlotError {
    #[error("cannot read {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {path} as CSV")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("cannot read {path} as Parquet")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("cannot read {path} as JSON")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path}: no column `{column}`")]
    MissingColumn { path: PathBuf, column: String },
    #[error("{0}: holds neither a run (summary.csv) nor a sweep (sweep.json and points.csv)")]
    NotResults(PathBuf),
    #[error("cannot draw {path}")]
    Draw {
        path: PathBuf,
        #[source]
        source: DrawError,
    },
    #[error(transparent)]
    Output(#[from] crate::output::OutputError),
}
