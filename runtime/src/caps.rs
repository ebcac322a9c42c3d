//! Capabilities, `no_new_privs` and the user the process runs as.

use crate::error::{Context, Result};
use crate::kernel::Kernel;
use crate::user::Identity;

/// Docker's and containerd's default capability set, by number and name.
pub const DEFAULT: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (27, "CAP_MKNOD"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// [`DEFAULT`] as a bit mask (`0xa80425fb`, what `CapBnd` shows in a Docker container).
pub fn default_mask() -> u64 {
    DEFAULT.iter().fold(0, |m, (bit, _)| m | (1u64 << bit))
}

/// Become `id` with the default capabilities, in the order that keeps it possible: shrink the
/// bounding set while still privileged, switch groups and user (the kernel clears the permitted
/// set when a root process becomes non-root), set the final sets, clear ambient, and set
/// `no_new_privs` last so nothing exec'd can gain privileges back.
/// `groups_denied` says `setgroups` is denied in this user namespace (rootless without
/// subordinate ids).
pub fn become_user(k: &dyn Kernel, id: &Identity, groups_denied: bool) -> Result<()> {
    let mask = default_mask();
    k.drop_bounding(mask)
        .what(|| "cannot drop the capability bounding set".into())?;
    if !groups_denied {
        // With setgroups denied, the group list is the one the caller had.
        k.setgroups(&id.groups)
            .what(|| "cannot set supplementary groups".into())?;
    }
    k.setgid(id.gid)
        .what(|| format!("cannot set gid {}", id.gid))?;
    k.setuid(id.uid)
        .what(|| format!("cannot set uid {}", id.uid))?;
    let (eff, perm) = if id.uid == 0 { (mask, mask) } else { (0, 0) };
    k.capset(eff, perm, 0)
        .what(|| "cannot set capabilities".into())?;
    k.clear_ambient()
        .what(|| "cannot clear ambient capabilities".into())?;
    k.set_no_new_privs()
        .what(|| "cannot set no_new_privs".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(default_mask(), 0xa80425fb);
    }
}
