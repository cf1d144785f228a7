//! Build-engineer and maintainer tasks: build, check, bench, ci.
fn main() {}
