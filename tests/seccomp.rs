//! End-to-end tests of the default seccomp profile and `--security-opt seccomp=…`.

mod common;
