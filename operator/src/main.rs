//! The `gohealth` binary: a thin shell over the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "gohealth", version, about = "Audit Go programs in Kubernetes and the apiserver's admission plugins")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the operator (the default).
    Run(gohealth::controller::RunArgs),
    /// Print the GoHealthAudit CustomResourceDefinition as YAML.
    Crd,
    /// Diagnose saved pprof dumps or a live pprof URL (single-snapshot checks).
    Analyze(gohealth::cli::analyze::AnalyzeArgs),
    /// Audit kube-apiserver admission-plugin flags from files (manifests, units, scripts, configs).
    Admission(gohealth::cli::admission::AdmissionArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| Command::Run(gohealth::controller::RunArgs::parse_from(["gohealth"])));
    match command {
        Command::Crd => match gohealth::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => gohealth::controller::main(args),
        Command::Analyze(args) => gohealth::cli::analyze::main(args),
        Command::Admission(args) => gohealth::cli::admission::main(args),
    }
}
