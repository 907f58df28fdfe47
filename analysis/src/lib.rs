//! Metrics, confidence intervals, tables and result files for Tender runs.
//!
//! [`summarise`] turns a batch's records into per-mechanism estimates (overall, per domain and
//! per complexity bin) with 95% confidence intervals across episodes; [`table`] renders them for
//! a terminal and [`output`] writes them, and the raw records, atomically, as [`columns`] define
//! them.

pub mod accounts;
pub mod arrow;
pub mod columns;
pub mod compare;
pub mod game;
pub mod metrics;
pub mod output;
pub mod plot;
pub mod routing;
pub mod shapley;
pub mod stats;
pub mod store;
pub mod table;
pub mod topics;

pub use metrics::{Metric, Scope, Summary, jain, row_flags, row_metric_names, row_metrics, row_quantities, summarise};
pub use stats::Estimate;
