//! Same generation as operator/build.rs, from the same proto file.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed=../proto/profile.proto");
    let fds = protox::compile(["profile.proto"], ["../proto"])?;
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
