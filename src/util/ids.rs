//! Ids: time-ordered run ids (UUIDv7) and their short forms for tables.

use super::time::now_ms;

/// The last `n` characters of an id, for tables (ids from another store may hold any text).
pub fn short_id(id: &str, n: usize) -> &str {
    let start = id
        .char_indices()
        .rev()
        .nth(n.saturating_sub(1))
        .map_or(0, |(i, _)| i);
    &id[start..]
}

/// A UUID version 7: time-ordered, so runs sort by creation in any table.
pub fn new_run_id() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ms = now_ms() as u64 & 0xFFFF_FFFF_FFFF;
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u32(std::process::id());
    let r1 = h.finish();
    h.write_u64(r1);
    let r2 = h.finish();
    let rand_a = r1 & 0x0FFF;
    let rand_b = r2 & 0x3FFF_FFFF_FFFF_FFFF;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        ms >> 16,
        ms & 0xFFFF,
        0x7000 | rand_a,
        0x8000 | (rand_b >> 48),
        rand_b & 0xFFFF_FFFF_FFFF
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_v7_and_ordered() {
        let a = new_run_id();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = new_run_id();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "7");
        assert!(matches!(&a[19..20], "8" | "9" | "a" | "b"));
        assert!(a < b);
        assert_ne!(new_run_id(), new_run_id());
    }

    #[test]
    fn short_ids_never_split_a_character() {
        assert_eq!(short_id("0193-abcdef", 6), "abcdef");
        assert_eq!(short_id("ab", 6), "ab");
        assert_eq!(short_id("ééééééé", 6), "éééééé");
        assert_eq!(short_id("x\u{1F600}\u{1F600}", 2), "\u{1F600}\u{1F600}");
        assert_eq!(short_id("", 6), "");
    }
}
