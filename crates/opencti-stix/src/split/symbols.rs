//! Interned id and reference strings, kept once in one buffer.

use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

use std::collections::hash_map::RandomState;

use super::is_id_supported;

/// An interned id, reference or key string.
pub(super) type Sym = u32;

/// What is known about one interned string.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct SymInfo {
    /// pycti's `is_id_supported`.
    pub(super) supported: bool,
    /// The object this string names in the input (`raw_data`).
    pub(super) object: Option<u32>,
    /// The object enlisted under this string (`cache_index`).
    pub(super) cached: Option<u32>,
    /// On the reference path of the object being processed (`parent_acc`).
    pub(super) on_path: bool,
}

/// Interned strings: their text end to end in one buffer (an id costs its
/// length plus about 30 bytes of index), looked up by a keyed 64-bit hash.
#[derive(Debug, Default)]
pub(super) struct Symbols {
    text: String,
    /// Where each symbol's text ends in `text` (it starts where the
    /// previous one ends).
    ends: Vec<usize>,
    by_hash: HashMap<u64, Sym, BuildHasherDefault<PassThrough>>,
    /// Strings whose hash is already taken by another string.
    collided: HashMap<Box<str>, Sym>,
    hashing: RandomState,
    infos: Vec<SymInfo>,
}

impl Symbols {
    pub(super) fn intern(&mut self, text: &str) -> Sym {
        let hash = self.hashing.hash_one(text);
        match self.by_hash.get(&hash) {
            Some(&sym) if self.text(sym) == text => sym,
            Some(_) => match self.collided.get(text) {
                Some(&sym) => sym,
                None => {
                    let sym = self.push(text);
                    self.collided.insert(text.into(), sym);
                    sym
                }
            },
            None => {
                let sym = self.push(text);
                self.by_hash.insert(hash, sym);
                sym
            }
        }
    }

    fn push(&mut self, text: &str) -> Sym {
        let sym = Sym::try_from(self.infos.len()).expect("fewer than 2^32 distinct ids");
        self.text.push_str(text);
        self.ends.push(self.text.len());
        self.infos.push(SymInfo {
            supported: is_id_supported(text),
            ..SymInfo::default()
        });
        sym
    }

    pub(super) fn text(&self, sym: Sym) -> &str {
        let sym = sym as usize;
        let start = sym.checked_sub(1).map_or(0, |previous| self.ends[previous]);
        &self.text[start..self.ends[sym]]
    }

    pub(super) fn info(&self, sym: Sym) -> &SymInfo {
        &self.infos[sym as usize]
    }

    pub(super) fn info_mut(&mut self, sym: Sym) -> &mut SymInfo {
        &mut self.infos[sym as usize]
    }

    /// Drops the look-up tables once nothing is interned any more; the
    /// texts stay readable.
    pub(super) fn freeze(&mut self) {
        self.by_hash = HashMap::default();
        self.collided = HashMap::new();
    }
}

/// The hash map's keys are already keyed hashes.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }

    fn write_u64(&mut self, number: u64) {
        self.0 = number;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_gives_one_symbol_per_text() {
        let mut symbols = Symbols::default();
        let a = symbols.intern("malware--1");
        let b = symbols.intern("x");
        assert_eq!(symbols.intern("malware--1"), a);
        assert_ne!(a, b);
        assert_eq!(symbols.text(a), "malware--1");
        assert_eq!(symbols.text(b), "x");
        let custom = symbols.intern("x-acme--1");
        assert!(!symbols.info(custom).supported);
    }

    #[test]
    fn colliding_hashes_keep_texts_apart() {
        let mut symbols = Symbols::default();
        let a = symbols.intern("a");
        // Force a collision: file "b" under the hash of "a".
        let hash_of_b = symbols.hashing.hash_one("b");
        symbols.by_hash.insert(hash_of_b, a);
        let b = symbols.intern("b");
        assert_ne!(a, b);
        assert_eq!(symbols.intern("b"), b);
        assert_eq!(symbols.text(b), "b");
    }
}
