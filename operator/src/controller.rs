//! The operator: watches GoHealthAudits (and Pods), runs the audit cycle, writes status.

use std::process::ExitCode;

#[derive(clap::Parser, Debug, Clone)]
pub struct RunArgs {}

pub fn main(_args: RunArgs) -> ExitCode {
    ExitCode::SUCCESS
}
