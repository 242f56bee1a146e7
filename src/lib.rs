//! staytrack: train, track, compare, promote, serve and monitor models that predict whether a
//! hospital stay will last more than 30 days, from one binary and one SQLite file.

pub mod bundle;
pub mod capture;
pub mod cli;
pub mod compare;
pub mod config;
pub mod data;
pub mod drift;
pub mod explain;
pub mod features;
pub mod feedback;
pub mod metrics;
pub mod mlflow;
pub mod models;
pub mod monitor;
pub mod promote;
pub mod report;
pub mod score;
pub mod serve;
pub mod slices;
pub mod sync;
pub mod tracking;
pub mod train;
pub mod tui;
pub mod tune;
pub mod util;
