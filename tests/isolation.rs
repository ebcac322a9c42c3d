//! End-to-end tests of a container's session, terminal and keyring, the store's ownership and
//! modes, and bounds on ids and image indexes.

mod common;
