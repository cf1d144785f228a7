//! Explains where two files differ, as diffoscope would but focused on what Rust builds produce:
//! ELF sections and strings, tar(.gz) members (recursively), raw bytes.
//! (Being written: see issue 3.)
