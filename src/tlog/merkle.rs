//! RFC 6962 Merkle trees: hashing, roots, inclusion and consistency proofs.
//!
//! A log stores only the hashes of *complete* subtrees (a node at level `l` covers `2^l` leaves
//! starting at a multiple of `2^l`); everything else, including the root of a tree whose size is
//! not a power of two, is computed on demand from those through a [`NodeSource`]. Proofs are
//! produced by following the recursive definitions of RFC 6962 section 2.1 and verified with the
//! iterative algorithms of RFC 9162 sections 2.1.3.2 and 2.1.4.2, which never look at a tree.

use sha2::{Digest, Sha256};

use super::Hash;
use crate::error::{Error, Result};

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 section 2.1).
pub const EMPTY_ROOT: Hash = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a log entry: SHA-256(0x00 || data).
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new().chain_update([0x00]).chain_update(data).finalize().into()
}

/// The hash of an interior node: SHA-256(0x01 || left || right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new().chain_update([0x01]).chain_update(left).chain_update(right).finalize().into()
}

/// Where complete-subtree hashes come from (memory, tiles on disk, ...).
pub trait NodeSource {
    /// The hash of the complete subtree at `level` (0 = leaves) covering the leaves
    /// `[index << level, (index + 1) << level)`. Callers only ask for nodes entirely inside the
    /// tree they are working on.
    fn node(&self, level: u8, index: u64) -> Result<Hash>;
}

/// The root of the first `size` leaves.
/// The RFC 6962 root of `leaves` (leaf hashes), the two halves of large subtrees computed on
/// two threads: recomputing a million-entry log's root from its leaves is then I/O-bound.
pub fn root_of_leaves(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => EMPTY_ROOT,
        1 => leaves[0],
        n => {
            // The largest power of two below n: RFC 6962's split point.
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            let (left, right) = if n >= 1 << 14 {
                rayon::join(|| root_of_leaves(&leaves[..k]), || root_of_leaves(&leaves[k..]))
            } else {
                (root_of_leaves(&leaves[..k]), root_of_leaves(&leaves[k..]))
            };
            node_hash(&left, &right)
        }
    }
}

pub fn root(src: &dyn NodeSource, size: u64) -> Result<Hash> {
    subtree_root(src, 0, size)
}

/// `MTH(D[start:end])` for a range that is an RFC 6962 subtree: `start` is a multiple of the
/// smallest power of two that is at least `end - start` (every prefix `[0, n)` is one, and so is
/// every node of an RFC 6962 tree, complete or not). An empty range gives [`EMPTY_ROOT`].
///
/// The range is covered from the left by the largest complete nodes that fit, then those are
/// combined from the right, which is how RFC 6962 hashes a tree whose size is not a power of two.
pub fn subtree_root(src: &dyn NodeSource, start: u64, end: u64) -> Result<Hash> {
    if start > end {
        return Err(Error::invalid(format!("subtree [{start}, {end})"), "start is after end"));
    }
    if start == end {
        return Ok(EMPTY_ROOT);
    }
    let width = end - start;
    let aligned = match width.checked_next_power_of_two() {
        Some(p) => start.is_multiple_of(p),
        // Only start == 0 can be followed by more than 2^63 leaves.
        None => start == 0,
    };
    if !aligned {
        return Err(Error::invalid(format!("subtree [{start}, {end})"), "is not an RFC 6962 subtree"));
    }
    let mut nodes = Vec::new();
    let mut at = start;
    while at < end {
        // The largest level such that `at` is aligned to it and the node stays inside the range.
        let mut level = at.trailing_zeros().min(63);
        while (1u64 << level) > end - at {
            level -= 1;
        }
        // level <= 63, so the cast is lossless.
        nodes.push(src.node(level as u8, at >> level)?);
        at += 1u64 << level;
    }
    let mut hash = nodes.pop().unwrap_or(EMPTY_ROOT);
    while let Some(left) = nodes.pop() {
        hash = node_hash(&left, &hash);
    }
    Ok(hash)
}

/// The largest power of two strictly below `n` (`n >= 2`): where RFC 6962 splits a tree of `n`.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - (n - 1).leading_zeros())
}

/// The RFC 6962 audit path of leaf `index` in the tree of `size` leaves, sibling of the leaf first.
pub fn inclusion_proof(src: &dyn NodeSource, index: u64, size: u64) -> Result<Vec<Hash>> {
    if index >= size {
        return Err(Error::invalid(format!("leaf index {index}"), format!("is not in a tree of size {size}")));
    }
    let mut proof = Vec::new();
    let (mut lo, mut hi) = (0u64, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            proof.push(subtree_root(src, mid, hi)?);
            hi = mid;
        } else {
            proof.push(subtree_root(src, lo, mid)?);
            lo = mid;
        }
    }
    proof.reverse();
    Ok(proof)
}

/// The RFC 6962 consistency proof from the tree of `old` leaves to the tree of `new` leaves.
/// Empty when `old == new` or `old == 0` (see [`verify_consistency`]).
pub fn consistency_proof(src: &dyn NodeSource, old: u64, new: u64) -> Result<Vec<Hash>> {
    if old > new {
        return Err(Error::invalid(format!("tree size {old}"), format!("is larger than the newer size {new}")));
    }
    let mut proof = Vec::new();
    if old == 0 || old == new {
        return Ok(proof);
    }
    // SUBPROOF(m, D[lo:hi], known) of RFC 6962 section 2.1.2, unrolled; `known` says whether
    // D[lo:hi] is the old tree itself, whose root the verifier already has.
    let (mut lo, mut hi, mut known) = (0u64, new, true);
    while old != hi {
        let mid = lo + split_point(hi - lo);
        if old <= mid {
            proof.push(subtree_root(src, mid, hi)?);
            hi = mid;
        } else {
            proof.push(subtree_root(src, lo, mid)?);
            lo = mid;
            known = false;
        }
    }
    if !known {
        proof.push(subtree_root(src, lo, hi)?);
    }
    proof.reverse();
    Ok(proof)
}

/// Whether `proof` shows that the leaf with hash `leaf` is at `index` in the tree of `size`
/// leaves whose root is `root` (RFC 9162 section 2.1.3.2).
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// Whether `proof` shows that the tree of `new` leaves with root `new_root` extends the tree of
/// `old` leaves with root `old_root` (RFC 9162 section 2.1.4.2).
///
/// Edge cases follow transparency-dev/merkle's `proof.VerifyConsistency`: `old == new` needs an
/// empty proof and equal roots; `old == 0` needs an empty proof and nothing else (every tree
/// extends the empty one; a size-0 checkpoint's root is checked where the checkpoint is read);
/// `old > new` never verifies.
pub fn verify_consistency(old: u64, new: u64, old_root: &Hash, new_root: &Hash, proof: &[Hash]) -> bool {
    if old > new {
        return false;
    }
    if old == new {
        return proof.is_empty() && old_root == new_root;
    }
    if old == 0 {
        return proof.is_empty();
    }
    let Some((&first, rest)) = proof.split_first() else {
        return false;
    };
    // When the old tree is a complete subtree its root is the start of the path, not in the proof.
    let (seed, path) = if old.is_power_of_two() { (*old_root, proof) } else { (first, rest) };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (seed, seed);
    for c in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && fr == *old_root && sr == *new_root
}

/// An in-memory tree that keeps every complete node: for tests and small checks.
#[derive(Clone, Debug, Default)]
pub struct MemoryTree {
    /// `levels[l][i]` is the complete node at level `l`, index `i`; `levels[0]` are the leaves.
    levels: Vec<Vec<Hash>>,
}

impl MemoryTree {
    pub fn new() -> MemoryTree {
        MemoryTree::default()
    }

    /// Appends a leaf hash (see [`leaf_hash`]) and every node it completes.
    pub fn push(&mut self, leaf: Hash) {
        let mut level = 0;
        let mut hash = leaf;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            let n = row.len();
            if n % 2 == 1 {
                return;
            }
            hash = node_hash(&row[n - 2], &row[n - 1]);
            level += 1;
        }
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// The root of the whole tree.
    pub fn root(&self) -> Hash {
        // Every node the root needs is stored, so this cannot fail.
        root(self, self.size()).unwrap_or(EMPTY_ROOT)
    }
}

impl NodeSource for MemoryTree {
    fn node(&self, level: u8, index: u64) -> Result<Hash> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or_else(|| Error::invalid(format!("tree node {level}/{index}"), "is not a complete node of the tree"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::hex_decode;

    fn h(hex: &str) -> Hash {
        hex_decode(hex).unwrap().try_into().unwrap()
    }

    #[test]
    fn root_of_leaves_matches_the_memory_tree() {
        let mut tree = MemoryTree::new();
        let mut leaves = Vec::new();
        for i in 0u32..20_000 {
            if matches!(i, 0..=70 | 16_383..=16_385) {
                assert_eq!(root_of_leaves(&leaves), tree.root(), "size {i}");
            }
            let leaf = leaf_hash(&i.to_le_bytes());
            tree.push(leaf);
            leaves.push(leaf);
        }
        assert_eq!(root_of_leaves(&leaves), tree.root());
    }

    // transparency-dev/merkle testonly/constants.go: LeafInputs, NodeHashes, RootHashes.
    const LEAF_INPUTS: [&str; 8] =
        ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    const NODE_HASHES: [&[&str]; 4] = [
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
            "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
        ],
        &[
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        ],
        &[
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
        &["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
    ];
    const ROOT_HASHES: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    // proof/verify_test.go `inclusionProofs` (leaf numbers there are 1-based; 0-based here) and
    // testonly/reference_test.go TestRefInclusionProof: (index, size, proof).
    #[rustfmt::skip]
    const INCLUSION: [(u64, u64, &[&str]); 7] = [
        (0, 1, &[]),
        (0, 8, &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (5, 8, &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (1, 5, &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
        (0, 2, &["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"]),
        (1, 2, &["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"]),
    ];
    // proof/verify_test.go `consistencyProofs` and TestRefConsistencyProof: (old, new, proof).
    #[rustfmt::skip]
    const CONSISTENCY: [(u64, u64, &[&str]); 5] = [
        (1, 1, &[]),
        (1, 8, &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ]),
        (6, 8, &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
        (2, 5, &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ]),
        (6, 7, &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ]),
    ];
    // verify_test.go sha256SomeHash; the Go tests' short byte strings ("WrongLeaf", empty
    // "garbage") cannot be a `Hash`, so 32-byte stand-ins play their part.
    const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";
    const WRONG: Hash = *b"WrongLeaf/WrongRoot.............";
    const GARBAGE: Hash = [0; 32];

    fn standard_tree() -> MemoryTree {
        let mut tree = MemoryTree::new();
        for input in LEAF_INPUTS {
            tree.push(leaf_hash(&hex_decode(input).unwrap()));
        }
        tree
    }

    fn hashes(hex: &[&str]) -> Vec<Hash> {
        hex.iter().map(|x| h(x)).collect()
    }

    /// verify_test.go corruptInclusionProof: none of these may verify.
    fn assert_corrupted_inclusion_fails(index: u64, size: u64, p: &[Hash], root: Hash, leaf: Hash) {
        let bad = |i: u64, s: u64, q: &[Hash], r: Hash, l: Hash, what: &str| {
            assert!(!verify_inclusion(&l, i, s, q, &r), "{index}/{size}: {what} verified");
        };
        let with = |front: &[Hash], back: &[Hash]| [front, p, back].concat();
        bad(index.wrapping_sub(1), size, p, root, leaf, "index - 1");
        bad(index + 1, size, p, root, leaf, "index + 1");
        bad(index ^ 2, size, p, root, leaf, "index ^ 2");
        bad(index, size * 2, p, root, leaf, "size * 2");
        bad(index, size / 2, p, root, leaf, "size / 2");
        bad(index, size, p, root, WRONG, "wrong leaf");
        bad(index, size, p, EMPTY_ROOT, leaf, "empty root");
        bad(index, size, p, h(SOME_HASH), leaf, "random root");
        bad(index, size, &with(&[], &[GARBAGE]), root, leaf, "trailing garbage");
        bad(index, size, &with(&[], &[root]), root, leaf, "trailing root");
        bad(index, size, &with(&[GARBAGE], &[]), root, leaf, "preceding garbage");
        bad(index, size, &with(&[root], &[]), root, leaf, "preceding root");
        for i in 0..p.len() {
            let mut q = p.to_vec();
            q[i][0] ^= 8;
            bad(index, size, &q, root, leaf, &format!("modified proof[{i}] bit 3"));
        }
        if let Some((_, front)) = p.split_last() {
            bad(index, size, front, root, leaf, "removed component");
        }
        if p.len() > 1 {
            bad(index, size, &[&[p[0], h(SOME_HASH)], &p[1..]].concat(), root, leaf, "inserted component");
        }
    }

    /// verify_test.go corruptConsistencyProof: none of these may verify.
    fn assert_corrupted_consistency_fails(old: u64, new: u64, r1: Hash, r2: Hash, p: &[Hash]) {
        let bad = |o: u64, n: u64, a: Hash, b: Hash, q: &[Hash], what: &str| {
            assert!(!verify_consistency(o, n, &a, &b, q), "{old} -> {new}: {what} verified");
        };
        let with = |front: &[Hash], back: &[Hash]| [front, p, back].concat();
        bad(old - 1, new, r1, r2, p, "old - 1");
        bad(old + 1, new, r1, r2, p, "old + 1");
        bad(old ^ 2, new, r1, r2, p, "old ^ 2");
        bad(old, new * 2, r1, r2, p, "new * 2");
        bad(old, new / 2, r1, r2, p, "new / 2");
        bad(old, new, WRONG, r2, p, "wrong old root");
        bad(old, new, r1, WRONG, p, "wrong new root");
        bad(old, new, r2, r1, p, "swapped roots");
        bad(old, new, r1, r2, &[], "empty proof");
        bad(old, new, r1, r2, &with(&[], &[GARBAGE]), "trailing garbage");
        bad(old, new, r1, r2, &with(&[], &[r1]), "trailing old root");
        bad(old, new, r1, r2, &with(&[], &[r2]), "trailing new root");
        bad(old, new, r1, r2, &with(&[GARBAGE], &[]), "preceding garbage");
        bad(old, new, r1, r2, &with(&[r1], &[]), "preceding old root");
        bad(old, new, r1, r2, &with(&[r2], &[]), "preceding new root");
        bad(old, new, r1, r2, &with(&[p[0]], &[]), "preceding proof[0]");
        bad(old, new, r1, r2, &p[..p.len() - 1], "truncated proof");
        for i in 0..p.len() {
            let mut q = p.to_vec();
            q[i][0] ^= 16;
            bad(old, new, r1, r2, &q, &format!("modified proof[{i}] bit 4"));
        }
    }

    #[test]
    fn hashes_and_roots_match_the_reference_constants() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        let tree = standard_tree();
        for (level, row) in NODE_HASHES.iter().enumerate() {
            for (index, want) in row.iter().enumerate() {
                assert_eq!(tree.node(level as u8, index as u64).unwrap(), h(want), "node {level}/{index}");
            }
        }
        for (size, want) in ROOT_HASHES.iter().enumerate() {
            assert_eq!(root(&tree, size as u64).unwrap(), h(want), "root of size {size}");
        }
        assert_eq!(tree.root(), h(ROOT_HASHES[8]));
        assert!(tree.node(3, 1).is_err() && tree.node(0, 8).is_err() && tree.node(200, 0).is_err());
        assert!(subtree_root(&tree, 1, 3).is_err(), "[1, 3) is not a subtree");
        assert!(subtree_root(&tree, 3, 2).is_err());
        assert_eq!(subtree_root(&tree, 4, 7).unwrap(), node_hash(&h(NODE_HASHES[1][2]), &h(NODE_HASHES[0][6])));
    }

    #[test]
    fn inclusion_vectors_and_their_corruptions() {
        let tree = standard_tree();
        for (index, size, want) in INCLUSION {
            let proof = inclusion_proof(&tree, index, size).unwrap();
            assert_eq!(proof, hashes(want), "inclusion proof {index}/{size}");
            let (root, leaf) = (h(ROOT_HASHES[size as usize]), h(NODE_HASHES[0][index as usize]));
            assert!(verify_inclusion(&leaf, index, size, &proof, &root), "{index}/{size}");
            assert_corrupted_inclusion_fails(index, size, &proof, root, leaf);
        }
        // TestVerifyInclusion probes and TestVerifyInclusionSingleEntry.
        for (index, size) in [(0, 0), (0, 1), (1, 0), (2, 1)] {
            assert!(!verify_inclusion(&h(SOME_HASH), index, size, &[], &EMPTY_ROOT));
        }
        let single = leaf_hash(b"data");
        assert!(verify_inclusion(&single, 0, 1, &[], &single));
        assert!(!verify_inclusion(&single, 0, 1, &[], &EMPTY_ROOT));
        assert!(!verify_inclusion(&EMPTY_ROOT, 0, 1, &[], &single));
        assert!(inclusion_proof(&tree, 8, 8).is_err());
    }

    #[test]
    fn consistency_vectors_and_their_corruptions() {
        let tree = standard_tree();
        for (old, new, want) in CONSISTENCY {
            let proof = consistency_proof(&tree, old, new).unwrap();
            assert_eq!(proof, hashes(want), "consistency proof {old} -> {new}");
            let (r1, r2) = (h(ROOT_HASHES[old as usize]), h(ROOT_HASHES[new as usize]));
            assert!(verify_consistency(old, new, &r1, &r2, &proof), "{old} -> {new}");
            if !proof.is_empty() {
                assert_corrupted_consistency_fails(old, new, r1, r2, &proof);
            }
        }
        // TestVerifyConsistency: (old, new, old root, new root, proof, verifies).
        let (r1, r2, empty) = (leaf_hash(b"don't care 1"), leaf_hash(b"don't care 2"), EMPTY_ROOT);
        type Case<'a> = (u64, u64, Hash, Hash, &'a [Hash], bool);
        let cases: [Case; 13] = [
            (0, 0, r1, r2, &[], false),
            (1, 1, r1, r2, &[], false),
            (0, 0, r1, r1, &[], true),
            (0, 1, r1, r2, &[], true),
            (1, 1, r2, r2, &[], true),
            (1, 0, r1, r2, &[], false),
            (2, 1, r1, r2, &[], false),
            (1, 2, r1, r2, &[], false),
            (0, 0, empty, r2, &[], false),
            (1, 1, empty, r2, &[], false),
            (0, 0, empty, empty, &[empty], false),
            (0, 1, empty, empty, &[empty], false),
            (1, 1, empty, empty, &[empty], false),
        ];
        for (old, new, a, b, proof, want) in cases {
            assert_eq!(verify_consistency(old, new, &a, &b, proof), want, "{old} -> {new}");
        }
        assert!(consistency_proof(&tree, 5, 4).is_err());
        assert!(consistency_proof(&tree, 0, 8).unwrap().is_empty());
    }

    fn ref_root(leaves: &[Hash]) -> Hash {
        match leaves.len() {
            0 => EMPTY_ROOT,
            1 => leaves[0],
            n => {
                let k = split_point(n as u64) as usize;
                node_hash(&ref_root(&leaves[..k]), &ref_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 PATH(m, D[n]), straight from the definition.
    fn ref_path(m: usize, leaves: &[Hash]) -> Vec<Hash> {
        if leaves.len() <= 1 {
            return vec![];
        }
        let k = split_point(leaves.len() as u64) as usize;
        if m < k {
            [ref_path(m, &leaves[..k]), vec![ref_root(&leaves[k..])]].concat()
        } else {
            [ref_path(m - k, &leaves[k..]), vec![ref_root(&leaves[..k])]].concat()
        }
    }

    /// RFC 6962 SUBPROOF(m, D[n], b), straight from the definition.
    fn ref_subproof(m: usize, leaves: &[Hash], known: bool) -> Vec<Hash> {
        let n = leaves.len();
        if m == n {
            return if known { vec![] } else { vec![ref_root(leaves)] };
        }
        let k = split_point(n as u64) as usize;
        if m <= k {
            [ref_subproof(m, &leaves[..k], known), vec![ref_root(&leaves[k..])]].concat()
        } else {
            [ref_subproof(m - k, &leaves[k..], false), vec![ref_root(&leaves[..k])]].concat()
        }
    }

    #[test]
    fn every_proof_up_to_70_leaves_matches_the_definition() {
        let mut tree = MemoryTree::new();
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut roots = vec![EMPTY_ROOT];
        for leaf in &leaves {
            tree.push(*leaf);
            roots.push(ref_root(&leaves[..tree.size() as usize]));
            assert_eq!(tree.root(), *roots.last().unwrap());
        }
        // A small deterministic generator picks which corruption to try.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |bound: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % bound as u64) as usize
        };
        for size in 1..=70usize {
            for index in 0..size {
                let proof = inclusion_proof(&tree, index as u64, size as u64).unwrap();
                assert_eq!(proof, ref_path(index, &leaves[..size]), "inclusion {index}/{size}");
                assert!(verify_inclusion(&leaves[index], index as u64, size as u64, &proof, &roots[size]));
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    bad[next(proof.len())][next(32)] ^= 1 << next(8);
                    assert!(!verify_inclusion(&leaves[index], index as u64, size as u64, &bad, &roots[size]));
                }
            }
            for old in 0..=size {
                let proof = consistency_proof(&tree, old as u64, size as u64).unwrap();
                let want = if old == 0 { vec![] } else { ref_subproof(old, &leaves[..size], true) };
                assert_eq!(proof, want, "consistency {old} -> {size}");
                assert!(verify_consistency(old as u64, size as u64, &roots[old], &roots[size], &proof));
                if !proof.is_empty() {
                    let mut bad = proof.clone();
                    bad[next(proof.len())][next(32)] ^= 1 << next(8);
                    assert!(!verify_consistency(old as u64, size as u64, &roots[old], &roots[size], &bad));
                    assert!(!verify_consistency(old as u64, size as u64, &roots[size], &roots[old], &proof));
                }
            }
        }
    }
}
