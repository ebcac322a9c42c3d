//! End-to-end tests of paths resolved where they belong: build-context symlinks, bind-mount
//! sources, archives read from directories, outputs that never write through planted links,
//! commit walking the upper directory without following links, and build entitlements.

mod common;
