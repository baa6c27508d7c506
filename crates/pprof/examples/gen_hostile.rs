//! Writes one hostile profile (see `gohealth_pprof::hostile`) to a file, for the operator's
//! hostile-target e2e and for `gohealth analyze` runs by hand:
//!
//! ```sh
//! cargo run --release -p gohealth-pprof --example gen_hostile -- amplification /tmp/amp.pb.gz
//! cargo run --release -p gohealth-pprof --example gen_hostile -- list
//! ```
//!
//! Kinds: amplification, deep-stack, distinct-labels, long-names, invalid-utf8 (gzipped
//! profile.proto), deep-debug1, deep-debug2, amplification-debug1 (text).

use std::process::ExitCode;

use gohealth_pprof::hostile::{Kind, generate};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    match args.as_slice() {
        [list] if list == "list" => {
            println!("{}", names.join("\n"));
            ExitCode::SUCCESS
        }
        [kind, out] => {
            let Some(kind) = Kind::from_name(kind) else {
                eprintln!("unknown kind {kind:?}; one of: {}", names.join(", "));
                return ExitCode::from(2);
            };
            let body = generate(kind);
            if let Err(e) = std::fs::write(out, &body) {
                eprintln!("writing {out}: {e}");
                return ExitCode::FAILURE;
            }
            eprintln!("{}: {} bytes to {out}", kind.name(), body.len());
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: gen_hostile <kind> <out-file> | gen_hostile list\nkinds: {}", names.join(", "));
            ExitCode::from(2)
        }
    }
}
