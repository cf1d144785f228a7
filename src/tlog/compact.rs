//! A compact range: the right edge of an RFC 6962 tree, one hash per set bit of its size.
//!
//! It is all a follower of a log needs to keep. Appending a leaf costs O(log n) hashes and the
//! root is always at hand, so a follower that extends its range with the entries it reads and
//! finds the root a signed checkpoint names has authenticated those entries *and* proved the
//! new tree extends the one it held before, without reading a tile or a consistency proof.

use super::merkle::{self, node_hash, NodeSource, EMPTY_ROOT};
use super::Hash;
use crate::error::Result;

/// The complete subtrees that make up the first `size` leaves of a tree, largest first.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    /// One hash per set bit of `size`, from the highest bit down.
    edge: Vec<Hash>,
}

impl CompactRange {
    /// The range of the empty tree.
    pub fn new() -> CompactRange {
        CompactRange::default()
    }

    /// The range of the first `size` leaves, read from `src`'s complete nodes. What `src` holds
    /// is not checked here: a caller authenticates the result through the root it leads to.
    pub fn from_nodes(src: &dyn NodeSource, size: u64) -> Result<CompactRange> {
        let mut edge = Vec::new();
        let mut start = 0u64;
        for level in (0..64u8).rev() {
            if size & (1 << level) != 0 {
                edge.push(src.node(level, start >> level)?);
                start += 1 << level;
            }
        }
        Ok(CompactRange { size, edge })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends one leaf hash (see [`merkle::leaf_hash`]).
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        // Each trailing one bit of the old size is a subtree the new leaf completes.
        let mut bits = self.size;
        while bits & 1 == 1 {
            // A set bit has a hash on the edge: `edge` holds one per set bit.
            let left = self.edge.pop().unwrap_or(EMPTY_ROOT);
            hash = node_hash(&left, &hash);
            bits >>= 1;
        }
        self.edge.push(hash);
        self.size += 1;
    }

    /// Appends the leaf of each entry.
    pub fn extend<'a>(&mut self, entries: impl IntoIterator<Item = &'a Vec<u8>>) {
        for entry in entries {
            self.push(merkle::leaf_hash(entry));
        }
    }

    /// The RFC 6962 root of the first `size` leaves: the edge combined from the right.
    pub fn root(&self) -> Hash {
        let mut hashes = self.edge.iter().rev();
        let Some(first) = hashes.next() else { return EMPTY_ROOT };
        hashes.fold(*first, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{leaf_hash, root_of_leaves, MemoryTree};

    #[test]
    fn the_root_is_rfc_6962s_for_every_size_and_starting_point() {
        let leaves: Vec<Hash> = (0..300u32).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut tree = MemoryTree::new();
        let mut range = CompactRange::new();
        assert_eq!(range.root(), EMPTY_ROOT);
        for (n, leaf) in leaves.iter().enumerate() {
            tree.push(*leaf);
            range.push(*leaf);
            assert_eq!(range.root(), root_of_leaves(&leaves[..=n]), "size {}", n + 1);
            // Started from the tree's nodes at this size, the range goes on the same way.
            assert_eq!(CompactRange::from_nodes(&tree, (n + 1) as u64).unwrap(), range);
        }
    }

    #[test]
    fn the_rfc_6962_test_vector_root_of_eight_leaves() {
        // transparency-dev/merkle's reference inputs and the root of all eight (RFC 6962 tests).
        let inputs: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let mut range = CompactRange::new();
        range.extend(inputs.iter().map(|i| i.to_vec()).collect::<Vec<_>>().iter());
        assert_eq!(
            crate::digest::Sha256Digest(range.root()).hex(),
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
        );
    }
}
