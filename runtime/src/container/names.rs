//! Container ids (64 hex digits) and Docker-style random names (`merry_manatee`).

/// Random bytes from the kernel.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: getrandom writes at most the given length into the buffer.
        let n = unsafe { libc_getrandom(buf[filled..].as_mut_ptr(), N - filled, 0) };
        if n > 0 {
            filled += n as usize;
        }
    }
    buf
}

unsafe extern "C" {
    #[link_name = "getrandom"]
    fn libc_getrandom(buf: *mut u8, len: usize, flags: u32) -> isize;
}

/// A new container id.
pub fn new_id() -> String {
    hex(&random_bytes::<32>())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const ADJECTIVES: &[&str] = &[
    "admiring", "agile", "amazing", "bold", "brave", "busy", "calm", "charming", "cheerful",
    "clever", "cool", "cozy", "curious", "dazzling", "dreamy", "eager", "elated", "fervent",
    "fluffy", "friendly", "funny", "gallant", "gentle", "gifted", "goofy", "happy", "hopeful",
    "jolly", "jovial", "keen", "kind", "lucid", "merry", "mighty", "modest", "nifty", "noble",
    "peaceful", "plucky", "proud", "quirky", "relaxed", "serene", "sharp", "sleepy", "snappy",
    "sunny", "swift", "tender", "trusting", "upbeat", "vibrant", "witty", "youthful", "zealous",
];

const ANIMALS: &[&str] = &[
    "duck",
    "duckling",
    "drake",
    "mallard",
    "teal",
    "eider",
    "merganser",
    "goose",
    "swan",
    "pelican",
    "puffin",
    "penguin",
    "heron",
    "otter",
    "beaver",
    "hamster",
    "manatee",
    "walrus",
    "narwhal",
    "platypus",
    "capybara",
    "axolotl",
    "badger",
    "panda",
    "koala",
    "lemur",
    "marmot",
    "meerkat",
    "ocelot",
    "quokka",
    "raccoon",
    "seal",
    "sloth",
    "squirrel",
    "tapir",
    "wombat",
    "yak",
    "zebra",
    "gecko",
    "newt",
    "frog",
    "toad",
    "tortoise",
    "dolphin",
    "orca",
    "octopus",
];

/// A random `adjective_animal` name.
pub fn random_name() -> String {
    let r = random_bytes::<4>();
    let a = u16::from_le_bytes([r[0], r[1]]) as usize % ADJECTIVES.len();
    let b = u16::from_le_bytes([r[2], r[3]]) as usize % ANIMALS.len();
    format!("{}_{}", ADJECTIVES[a], ANIMALS[b])
}

/// Whether `name` is a valid container name (Docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        let id = new_id();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        let name = random_name();
        let (a, b) = name.split_once('_').unwrap();
        assert!(ADJECTIVES.contains(&a) && ANIMALS.contains(&b), "{name}");
        assert!(valid_name(&name));
        assert!(!valid_name("/x") && !valid_name("a") && !valid_name("a b"));
    }
}
