//! End-to-end tests of cgroups: each container and build step in its own cgroup, resource
//! limits, the devices allow list, and freezing for `commit`.

mod common;
