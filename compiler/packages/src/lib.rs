//! Packages from apt repositories: repository access, resolution, the download cache and `duck.lock`.
