//! The stdlib: KDL modules from `stdlib/*.kdl`, embedded into the binary by the build script.

include!(concat!(env!("OUT_DIR"), "/stdlib.rs"));

/// The text of module `std/NAME`.
pub fn module(name: &str) -> Option<&'static str> {
    MODULES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
}
