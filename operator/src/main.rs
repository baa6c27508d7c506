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
    /// Print a CustomResourceDefinition as YAML (GoHealthAudit, or ClusterGoHealthAudit).
    Crd {
        #[arg(value_enum, default_value_t)]
        kind: gohealth::crd::CrdKind,
    },
    /// Diagnose saved pprof dumps or a live pprof URL (single-snapshot checks).
    Analyze(gohealth::cli::analyze::AnalyzeArgs),
    /// Audit kube-apiserver admission-plugin flags from files (manifests, units, scripts, configs).
    Admission(gohealth::cli::admission::AdmissionArgs),
    /// Print a shell completion script, e.g. `gohealth completion bash > /etc/bash_completion.d/gohealth`.
    Completion {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or_else(|| Command::Run(gohealth::controller::RunArgs::parse_from(["gohealth"])));
    match command {
        Command::Crd { kind } => match gohealth::crd::kind_crd_yaml(kind) {
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
        Command::Completion { shell } => {
            // Named as invoked: `kubectl-gohealth` (the kubectl plugin) completes under that name.
            let name = std::env::args()
                .next()
                .and_then(|a| std::path::Path::new(&a).file_name().map(|n| n.to_string_lossy().into_owned()))
                .unwrap_or_else(|| "gohealth".into());
            clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), name, &mut std::io::stdout());
            ExitCode::SUCCESS
        }
    }
}
