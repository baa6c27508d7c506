//! Compiles `proto/profile.proto` (google/pprof) into Rust types with the pure-Rust `protox`
//! compiler, so building needs no `protoc` binary.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=proto/profile.proto");
    let fds = protox::compile(["profile.proto"], ["proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
