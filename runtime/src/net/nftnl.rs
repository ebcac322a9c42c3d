//! nftables transactions over `NETLINK_NETFILTER`: set elements added and removed, a
//! per-container ingress chain made and deleted, in one batch (`NFNL_MSG_BATCH_BEGIN` ..
//! `END`) that the kernel commits whole or not at all. The messages are the ones `nft` sends
//! for `add element`, `delete element`, `add chain` and `add rule ... jump` (golden bytes in
//! the tests); every command asks for an ACK, and any refusal fails the batch.
//!
//! Only what duckc's static tables need per container is encoded here: the tables, sets,
//! maps and rules themselves are loaded by `nft -f` (see [`super::firewall`]).

use super::netlink::{F_ACK, F_APPEND, F_CREATE, F_EXCL, Msg, Refused, Socket};

/// `NFPROTO_IPV4`: `table ip`.
pub const IPV4: u8 = libc::NFPROTO_IPV4 as u8;
/// `NFPROTO_NETDEV`: `table netdev`.
pub const NETDEV: u8 = libc::NFPROTO_NETDEV as u8;

const SUBSYS_NFTABLES: u16 = 10;
const BATCH_BEGIN: u16 = 0x10;
const BATCH_END: u16 = 0x11;

const MSG_NEWCHAIN: u16 = 3;
const MSG_DELCHAIN: u16 = 5;
const MSG_NEWRULE: u16 = 6;
const MSG_NEWSETELEM: u16 = 12;
const MSG_DELSETELEM: u16 = 14;

// enum nft_set_elem_list_attributes, nft_set_elem_attributes, nft_data_attributes
const SET_ELEM_LIST_TABLE: u16 = 1;
const SET_ELEM_LIST_SET: u16 = 2;
const SET_ELEM_LIST_ELEMENTS: u16 = 3;
const LIST_ELEM: u16 = 1;
const SET_ELEM_KEY: u16 = 1;
const SET_ELEM_DATA: u16 = 2;
const DATA_VALUE: u16 = 1;
const DATA_VERDICT: u16 = 2;
const VERDICT_CODE: u16 = 1;
const VERDICT_CHAIN: u16 = 2;
// enum nft_chain_attributes, nft_hook_attributes
const CHAIN_TABLE: u16 = 1;
const CHAIN_NAME: u16 = 3;
const CHAIN_HOOK: u16 = 4;
const CHAIN_POLICY: u16 = 5;
const CHAIN_TYPE: u16 = 7;
const HOOK_HOOKNUM: u16 = 1;
const HOOK_PRIORITY: u16 = 2;
const HOOK_DEV: u16 = 3;
// enum nft_rule_attributes, nft_expr_attributes, nft_immediate_attributes
const RULE_TABLE: u16 = 1;
const RULE_CHAIN: u16 = 2;
const RULE_EXPRESSIONS: u16 = 4;
const EXPR_NAME: u16 = 1;
const EXPR_DATA: u16 = 2;
const IMMEDIATE_DREG: u16 = 1;
const IMMEDIATE_DATA: u16 = 2;

const NF_ACCEPT: u32 = 1;
const NFT_JUMP: i32 = -3;
const NF_NETDEV_INGRESS: u32 = 0;

/// `struct nfgenmsg`: family, version 0, resource id (big endian).
fn nfgenmsg(family: u8, res_id: u16) -> [u8; 4] {
    let id = res_id.to_be_bytes();
    [family, 0, id[0], id[1]]
}

fn command(kind: u16, flags: u16, family: u8) -> Msg {
    let mut m = Msg::new((SUBSYS_NFTABLES << 8) | kind, flags | F_ACK).flag_nested();
    m.fixed(&nfgenmsg(family, 0));
    m
}

/// A set element: its key and, for a map, its data, in the kernel's layout (each part of a
/// concatenation in its own 4-byte-aligned slot, see [`concat()`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Elem {
    pub key: Vec<u8>,
    pub data: Option<Vec<u8>>,
}

/// The bytes of a concatenated key or value (`a . b . c`): each part padded to 4 bytes, as
/// the kernel's registers hold them.
pub fn concat(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.extend_from_slice(p);
        out.resize((out.len() + 3) & !3, 0);
    }
    out
}

/// One nftables transaction being built.
#[derive(Debug, Default)]
pub struct Batch {
    cmds: Vec<Msg>,
}

impl Batch {
    pub fn new() -> Batch {
        Batch::default()
    }

    pub fn is_empty(&self) -> bool {
        self.cmds.is_empty()
    }

    fn elements(
        &mut self,
        kind: u16,
        flags: u16,
        family: u8,
        table: &str,
        set: &str,
        elems: &[Elem],
    ) {
        if elems.is_empty() {
            return;
        }
        let mut m = command(kind, flags, family);
        m.str(SET_ELEM_LIST_TABLE, table)
            .str(SET_ELEM_LIST_SET, set)
            .nest(SET_ELEM_LIST_ELEMENTS);
        for e in elems {
            m.nest(LIST_ELEM)
                .nest(SET_ELEM_KEY)
                .attr(DATA_VALUE, &e.key)
                .end();
            if let Some(data) = &e.data {
                m.nest(SET_ELEM_DATA).attr(DATA_VALUE, data).end();
            }
            m.end();
        }
        m.end();
        self.cmds.push(m);
    }

    /// `add element FAMILY TABLE SET { ... }` (an element already there with the same data is
    /// not an error, as with `nft add`).
    pub fn add_elements(&mut self, family: u8, table: &str, set: &str, elems: &[Elem]) {
        self.elements(MSG_NEWSETELEM, F_CREATE, family, table, set, elems);
    }

    /// `delete element FAMILY TABLE SET { KEY, ... }` (data is not needed and not sent).
    pub fn delete_elements(&mut self, family: u8, table: &str, set: &str, keys: &[Vec<u8>]) {
        let elems: Vec<Elem> = keys
            .iter()
            .map(|k| Elem {
                key: k.clone(),
                data: None,
            })
            .collect();
        self.elements(MSG_DELSETELEM, 0, family, table, set, &elems);
    }

    /// `add chain netdev TABLE NAME { type filter hook ingress device DEV priority PRIO;
    /// policy accept; }`, failing when the chain exists.
    pub fn add_ingress_chain(&mut self, table: &str, name: &str, dev: &str, priority: i32) {
        let mut m = command(MSG_NEWCHAIN, F_CREATE | F_EXCL, NETDEV);
        m.str(CHAIN_TABLE, table)
            .str(CHAIN_NAME, name)
            .str(CHAIN_TYPE, "filter")
            .be32(CHAIN_POLICY, NF_ACCEPT)
            .nest(CHAIN_HOOK)
            .be32(HOOK_HOOKNUM, NF_NETDEV_INGRESS)
            .be32(HOOK_PRIORITY, priority as u32)
            .str(HOOK_DEV, dev)
            .end();
        self.cmds.push(m);
    }

    /// `add rule FAMILY TABLE CHAIN jump TARGET`.
    pub fn add_jump(&mut self, family: u8, table: &str, chain: &str, target: &str) {
        let mut m = command(MSG_NEWRULE, F_CREATE | F_APPEND, family);
        m.str(RULE_TABLE, table)
            .str(RULE_CHAIN, chain)
            .nest(RULE_EXPRESSIONS)
            .nest(LIST_ELEM)
            .str(EXPR_NAME, "immediate")
            .nest(EXPR_DATA)
            .be32(IMMEDIATE_DREG, 0)
            .nest(IMMEDIATE_DATA)
            .nest(DATA_VERDICT)
            .be32(VERDICT_CODE, NFT_JUMP as u32)
            .str(VERDICT_CHAIN, target)
            .end()
            .end()
            .end()
            .end()
            .end();
        self.cmds.push(m);
    }

    /// `delete chain FAMILY TABLE NAME` (with the rules in it).
    pub fn delete_chain(&mut self, family: u8, table: &str, name: &str) {
        let mut m = command(MSG_DELCHAIN, 0, family);
        m.str(CHAIN_TABLE, table).str(CHAIN_NAME, name);
        self.cmds.push(m);
    }

    /// The messages as sent: begin, the commands, end.
    pub fn messages(&self) -> Vec<Msg> {
        let mut out = Vec::with_capacity(self.cmds.len() + 2);
        let mut begin = Msg::new(BATCH_BEGIN, 0);
        begin.fixed(&nfgenmsg(libc::AF_UNSPEC as u8, SUBSYS_NFTABLES));
        out.push(begin);
        out.extend(self.cmds.iter().cloned());
        let mut end = Msg::new(BATCH_END, 0);
        end.fixed(&nfgenmsg(libc::AF_UNSPEC as u8, SUBSYS_NFTABLES));
        out.push(end);
        out
    }

    /// Commit the batch: all of it, or nothing when the kernel refuses any command. It goes
    /// over this process's kept socket (see [`kept`]), which stays open.
    pub fn commit(&self) -> Result<(), Refused> {
        if self.cmds.is_empty() {
            return Ok(());
        }
        let refused = |source| Refused {
            index: 0,
            count: self.cmds.len() + 2,
            source,
        };
        let mut kept = KEPT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ns = netns().map_err(refused)?;
        if kept.as_ref().is_none_or(|(n, _)| *n != ns) {
            // A socket of another network namespace (tests move threads between them) is
            // closed here, off any start path.
            *kept = Some((ns, open().map_err(refused)?));
        }
        let (_, sock) = kept.as_ref().expect("set above");
        self.commit_on(sock)
    }

    /// [`Batch::commit`] over a socket the caller keeps for several batches: closing an
    /// nfnetlink socket costs milliseconds in the kernel, so a caller with more than one
    /// batch to send opens one.
    pub fn commit_on(&self, sock: &Socket) -> Result<(), Refused> {
        if self.cmds.is_empty() {
            return Ok(());
        }
        sock.request(&self.messages())
    }
}

/// A socket for [`Batch::commit_on`].
pub fn open() -> std::io::Result<Socket> {
    Socket::open(libc::NETLINK_NETFILTER)
}

/// The socket [`Batch::commit`] keeps, with the network namespace (its inode) it was opened
/// in. A container's start commits its firewall entries on it and does not close it: the
/// kernel's release of an nfnetlink socket waits, holding the nftables commit lock, for the
/// clean-up work of any commit still queued (an RCU grace period; another container's exit
/// leaves one), and that close came before the ready byte the container's init waits for:
/// 6.3 ms a start at load 6. The same process's release of the container then takes it
/// ([`kept`]) for its own batches and closes it detached ([`Socket::close_detached`]).
/// Close-on-exec, as every socket here: a container's command never has it.
static KEPT: std::sync::Mutex<Option<(u64, Socket)>> = std::sync::Mutex::new(None);

/// The inode of this thread's network namespace: a netlink socket talks to the namespace it
/// was opened in.
fn netns() -> std::io::Result<u64> {
    use std::os::unix::fs::MetadataExt;
    Ok(std::fs::metadata("/proc/thread-self/ns/net")?.ino())
}

/// The socket [`Batch::commit`] kept in this thread's network namespace, taken from it, or a
/// new one: for a caller that closes it itself.
pub fn kept() -> std::io::Result<Socket> {
    let mut kept = KEPT
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let ns = netns()?;
    match kept.take() {
        Some((n, sock)) if n == ns => Ok(sock),
        other => {
            *kept = other;
            open()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::net::netlink::strace_hex as hex;

    /// A command's bytes after the netlink header, flags checked apart.
    fn body(b: &Batch, i: usize) -> (u16, u16, Vec<u8>) {
        let bytes = b.messages()[i].bytes(0);
        let kind = u16::from_ne_bytes([bytes[4], bytes[5]]);
        let flags = u16::from_ne_bytes([bytes[6], bytes[7]]);
        (kind, flags, bytes[16..].to_vec())
    }

    // The expected bytes below are `nft`'s own (nftables 1.0.6), from `strace -xx -s 2000`
    // of each command, minus the set id attribute nft adds for sets made in the same batch.

    #[test]
    fn add_and_delete_map_elements_as_nft_does() {
        // add element ip duckc ports_any { tcp . 8080 : 10.199.0.2 . 80 }
        let mut b = Batch::new();
        let key = concat(&[&[6], &8080u16.to_be_bytes()]);
        let data = concat(&[&[10, 199, 0, 2], &80u16.to_be_bytes()]);
        b.add_elements(
            IPV4,
            "duckc",
            "ports_any",
            &[Elem {
                key: key.clone(),
                data: Some(data),
            }],
        );
        let mut want = vec![2, 0, 0, 0];
        want.extend(hex(
            "\\x0a\\x00\\x01\\x00\\x64\\x75\\x63\\x6b\\x63\\x00\\x00\\x00",
        ));
        want.extend(hex(
            "\\x0e\\x00\\x02\\x00\\x70\\x6f\\x72\\x74\\x73\\x5f\\x61\\x6e\\x79\\x00\\x00\\x00",
        ));
        want.extend(hex("\\x28\\x00\\x03\\x80"));
        want.extend(hex(
            "\\x24\\x00\\x01\\x80\\x10\\x00\\x01\\x80\\x0c\\x00\\x01\\x00\\x06\\x00\\x00\\x00\
             \\x1f\\x90\\x00\\x00\\x10\\x00\\x02\\x80\\x0c\\x00\\x01\\x00\\x0a\\xc7\\x00\\x02\
             \\x00\\x50\\x00\\x00",
        ));
        let (kind, flags, bytes) = body(&b, 1);
        assert_eq!(kind, (10 << 8) | MSG_NEWSETELEM);
        assert_eq!(flags, 0x1 | F_ACK | F_CREATE);
        assert_eq!(bytes, want);

        // delete element ip duckc ports_any { tcp . 8080 }
        let mut b = Batch::new();
        b.delete_elements(IPV4, "duckc", "ports_any", &[key]);
        let mut want = vec![2, 0, 0, 0];
        want.extend(hex(
            "\\x0a\\x00\\x01\\x00\\x64\\x75\\x63\\x6b\\x63\\x00\\x00\\x00",
        ));
        want.extend(hex(
            "\\x0e\\x00\\x02\\x00\\x70\\x6f\\x72\\x74\\x73\\x5f\\x61\\x6e\\x79\\x00\\x00\\x00",
        ));
        want.extend(hex(
            "\\x18\\x00\\x03\\x80\\x14\\x00\\x01\\x80\\x10\\x00\\x01\\x80\\x0c\\x00\\x01\\x00\
             \\x06\\x00\\x00\\x00\\x1f\\x90\\x00\\x00",
        ));
        let (kind, flags, bytes) = body(&b, 1);
        assert_eq!(kind, (10 << 8) | MSG_DELSETELEM);
        assert_eq!(flags, 0x1 | F_ACK);
        assert_eq!(bytes, want);
    }

    #[test]
    fn ingress_chain_and_jump_as_nft_does() {
        // add chain netdev duckc dkx { type filter hook ingress device "dkx" priority -500;
        // policy accept; }
        let mut b = Batch::new();
        b.add_ingress_chain("duckc", "dkx", "dkx", -500);
        let mut want = vec![5, 0, 0, 0];
        want.extend(hex(
            "\\x0a\\x00\\x01\\x00\\x64\\x75\\x63\\x6b\\x63\\x00\\x00\\x00",
        ));
        want.extend(hex("\\x08\\x00\\x03\\x00\\x64\\x6b\\x78\\x00"));
        want.extend(hex(
            "\\x0b\\x00\\x07\\x00\\x66\\x69\\x6c\\x74\\x65\\x72\\x00\\x00",
        ));
        want.extend(hex("\\x08\\x00\\x05\\x00\\x00\\x00\\x00\\x01"));
        want.extend(hex(
            "\\x1c\\x00\\x04\\x80\\x08\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x08\\x00\\x02\\x00\
             \\xff\\xff\\xfe\\x0c\\x08\\x00\\x03\\x00\\x64\\x6b\\x78\\x00",
        ));
        let (kind, flags, bytes) = body(&b, 1);
        assert_eq!(kind, (10 << 8) | MSG_NEWCHAIN);
        assert_eq!(flags, 0x1 | F_ACK | F_CREATE | F_EXCL);
        assert_eq!(bytes, want);

        // add rule netdev duckc dkx jump net_duckc0
        let mut b = Batch::new();
        b.add_jump(NETDEV, "duckc", "dkx", "net_duckc0");
        let mut want = vec![5, 0, 0, 0];
        want.extend(hex(
            "\\x0a\\x00\\x01\\x00\\x64\\x75\\x63\\x6b\\x63\\x00\\x00\\x00",
        ));
        want.extend(hex("\\x08\\x00\\x02\\x00\\x64\\x6b\\x78\\x00"));
        want.extend(hex("\\x44\\x00\\x04\\x80"));
        want.extend(hex(
            "\\x40\\x00\\x01\\x80\\x0e\\x00\\x01\\x00\\x69\\x6d\\x6d\\x65\\x64\\x69\\x61\\x74\
             \\x65\\x00\\x00\\x00\\x2c\\x00\\x02\\x80\\x08\\x00\\x01\\x00\\x00\\x00\\x00\\x00\
             \\x20\\x00\\x02\\x80\\x1c\\x00\\x02\\x80\\x08\\x00\\x01\\x00\\xff\\xff\\xff\\xfd\
             \\x0f\\x00\\x02\\x00\\x6e\\x65\\x74\\x5f\\x64\\x75\\x63\\x6b\\x63\\x30\\x00\\x00",
        ));
        let (kind, flags, bytes) = body(&b, 1);
        assert_eq!(kind, (10 << 8) | MSG_NEWRULE);
        assert_eq!(flags, 0x1 | F_ACK | F_CREATE | F_APPEND);
        assert_eq!(bytes, want);

        // delete chain netdev duckc dkx
        let mut b = Batch::new();
        b.delete_chain(NETDEV, "duckc", "dkx");
        let mut want = vec![5, 0, 0, 0];
        want.extend(hex(
            "\\x0a\\x00\\x01\\x00\\x64\\x75\\x63\\x6b\\x63\\x00\\x00\\x00",
        ));
        want.extend(hex("\\x08\\x00\\x03\\x00\\x64\\x6b\\x78\\x00"));
        assert_eq!(body(&b, 1).2, want);
    }

    #[test]
    fn a_batch_is_framed_by_begin_and_end() {
        let mut b = Batch::new();
        assert!(b.is_empty());
        b.delete_chain(NETDEV, "duckc", "dkx");
        let msgs = b.messages();
        assert_eq!(msgs.len(), 3);
        let begin = msgs[0].bytes(1);
        let end = msgs[2].bytes(3);
        // `nft`'s framing: type 0x10 / 0x11, no ACK asked, nfgenmsg with res_id htons(10).
        assert_eq!(&begin[4..8], &[0x10, 0, 1, 0]);
        assert_eq!(&end[4..8], &[0x11, 0, 1, 0]);
        assert_eq!(&begin[16..], &[0, 0, 0, 10]);
        assert_eq!(&end[16..], &[0, 0, 0, 10]);
        assert_eq!(
            concat(&[&[1, 2], &[3, 4, 5, 6, 7, 8]]),
            [1, 2, 0, 0, 3, 4, 5, 6, 7, 8, 0, 0]
        );
    }
}
