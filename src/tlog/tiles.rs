//! `c2sp.org/tlog-tiles` geometry and encodings.
//!
//! A log publishes its Merkle tree as *tiles* of height 8: the tile at tile level `L`, index `N`
//! holds up to 256 consecutive hashes of tree level `8 * L` (level 0 = leaf hashes, level 1 =
//! roots of full level-0 tiles, ...), concatenated as 32-byte values. A tile at the right edge of
//! the tree may be *partial* (1 to 255 hashes) and is then served under a `.p/<W>` suffix. The
//! tree levels between `8 * L` and `8 * L + 8` are not stored: they are recomputed by hashing
//! the tile's hashes in pairs (see [`node_from_tile`]). Entry bundles mirror level-0 tiles and
//! hold the entries themselves, each prefixed by its length as a big-endian `u16`.
//!
//! Paths use the spec's encoding of `N` in three-digit groups, every group but the last prefixed
//! with `x`: index 1234067 is `x001/x234/067`.

use super::merkle::node_hash;
use super::Hash;
use crate::error::{Error, Result};

/// Tree levels per tile.
pub const TILE_HEIGHT: u8 = 8;
/// Hashes in a full tile (and entries in a full bundle): `2^TILE_HEIGHT`.
pub const TILE_WIDTH: u64 = 256;
/// The largest entry an entry bundle can hold (its length prefix is a `u16`).
pub const MAX_ENTRY_SIZE: usize = 65_535;

/// `N` as the spec writes it in paths: zero-padded three-digit groups, all but the last
/// prefixed with `x` (`0` -> `000`, `1234067` -> `x001/x234/067`).
pub fn index_path(index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    let mut rest = index / 1000;
    while rest > 0 {
        groups.push(format!("x{:03}", rest % 1000));
        rest /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

/// The `.p/<W>` suffix of a partial tile or bundle; nothing for a full one (`width >= 256`).
pub fn width_suffix(width: u64) -> String {
    if width < TILE_WIDTH {
        format!(".p/{width}")
    } else {
        String::new()
    }
}

/// `tile/<L>/<N>` for a full tile, `tile/<L>/<N>.p/<W>` for a partial one of `width` hashes.
/// `level` must be at most 63 and `width` between 1 and 256, as the spec requires.
pub fn tile_path(level: u8, index: u64, width: u64) -> String {
    format!("tile/{level}/{}{}", index_path(index), width_suffix(width))
}

/// `tile/entries/<N>` for a full entry bundle, `tile/entries/<N>.p/<W>` for a partial one.
pub fn entries_path(index: u64, width: u64) -> String {
    format!("tile/entries/{}{}", index_path(index), width_suffix(width))
}

/// How many hashes tile `index` at tile level `level` holds in a tree of `size` entries:
/// 256 for a full tile, 1 to 255 for the partial tile at the right edge, 0 if it does not exist.
pub fn tile_width(level: u8, index: u64, size: u64) -> u64 {
    // Hashes stored at this tile level: one per complete subtree of 256^level entries.
    let count = size.checked_shr(u32::from(TILE_HEIGHT) * u32::from(level)).unwrap_or(0);
    count.saturating_sub(index.saturating_mul(TILE_WIDTH)).min(TILE_WIDTH)
}

/// Every tile, full and partial, of a tree of `size` entries as `(level, index, width)`, level
/// by level from the leaves up. Per the spec, a tree of 70,000 entries has 273 full level-0
/// tiles, a level-0 tile of width 112, a full level-1 tile, a level-1 tile of width 17 and a
/// level-2 tile of width 1.
pub fn tiles_for_size(size: u64) -> Vec<(u8, u64, u64)> {
    let mut tiles = Vec::new();
    let mut level = 0u8;
    let mut count = size;
    while count > 0 {
        tiles.extend((0..count.div_ceil(TILE_WIDTH)).map(|n| (level, n, tile_width(level, n, size))));
        count /= TILE_WIDTH;
        level += 1;
    }
    tiles
}

/// Every entry bundle of a tree of `size` entries as `(index, width)`: the counterparts of the
/// level-0 tiles.
pub fn bundles_for_size(size: u64) -> Vec<(u64, u64)> {
    (0..size.div_ceil(TILE_WIDTH)).map(|n| (n, tile_width(0, n, size))).collect()
}

/// Which tile holds the tree node at `level`, `index` (as [`super::merkle::NodeSource`] names
/// nodes), as `(tile level, tile index, index in tile, level in tile)`.
///
/// The tile at tile level `level / 8` stores the nodes of tree level `8 * (level / 8)`; the node
/// itself is `level % 8` levels above those, the `index in tile`-th node of that height in the
/// tile, and it is computed from the tile's hashes `[i << k, (i + 1) << k)` (with `i` the index
/// in tile and `k` the level in tile) by [`node_from_tile`]. A complete node of a tree of size
/// `s` always lies within the first [`tile_width`]`(tile level, tile index, s)` hashes, so the
/// partial tile of the current checkpoint is enough when the full one does not exist yet.
pub fn node_location(level: u8, index: u64) -> (u8, u64, u64, u8) {
    let tile_level = level / TILE_HEIGHT;
    let level_in_tile = level % TILE_HEIGHT;
    // Nodes of height `level_in_tile` per tile: 256 >> level_in_tile.
    let per_tile_bits = u32::from(TILE_HEIGHT - level_in_tile);
    let tile_index = index >> per_tile_bits;
    let index_in_tile = index & ((1u64 << per_tile_bits) - 1);
    (tile_level, tile_index, index_in_tile, level_in_tile)
}

/// The hash of the node `level_in_tile` levels above a tile's hashes, `index_in_tile`-th at that
/// height: the Merkle root of `tile_hashes[i << k .. (i + 1) << k]`. `level_in_tile` 8 with index
/// 0 gives the root of a full tile, which is the tile's hash in the tile level above.
pub fn node_from_tile(tile_hashes: &[Hash], level_in_tile: u8, index_in_tile: u64) -> Result<Hash> {
    let what = || format!("node {level_in_tile}/{index_in_tile} of a tile of {} hashes", tile_hashes.len());
    if level_in_tile > TILE_HEIGHT {
        return Err(Error::invalid(what(), "a tile is only 8 levels high"));
    }
    let span = 1usize << level_in_tile;
    let start = usize::try_from(index_in_tile).ok().and_then(|i| i.checked_mul(span));
    let Some(slice) = start.and_then(|s| tile_hashes.get(s..s.checked_add(span)?)) else {
        return Err(Error::invalid(what(), "the tile does not hold all of it"));
    };
    let mut row = slice.to_vec();
    while row.len() > 1 {
        row = row.chunks_exact(2).map(|pair| node_hash(&pair[0], &pair[1])).collect();
    }
    // `span >= 1`, so exactly one hash remains.
    Ok(row[0])
}

/// Splits a hash tile (concatenated 32-byte hashes) of `width` hashes.
pub fn decode_hash_tile(data: &[u8], width: u64) -> Result<Vec<Hash>> {
    if width == 0 || width > TILE_WIDTH {
        return Err(Error::invalid(format!("tile width {width}"), "must be between 1 and 256"));
    }
    if data.len() as u64 != width * 32 {
        return Err(Error::invalid(
            format!("hash tile of {} bytes", data.len()),
            format!("a tile of width {width} is {} bytes", width * 32),
        ));
    }
    // `chunks_exact(32)` yields 32-byte slices only, so the conversion cannot fail.
    Ok(data.chunks_exact(32).map(|chunk| chunk.try_into().unwrap_or([0; 32])).collect())
}

/// Encodes an entry bundle: each entry as a big-endian `u16` length and its bytes.
pub fn encode_bundle(entries: &[&[u8]]) -> Result<Vec<u8>> {
    if entries.is_empty() || entries.len() as u64 > TILE_WIDTH {
        return Err(Error::invalid(
            format!("entry bundle of {} entries", entries.len()),
            "a bundle holds 1 to 256 entries",
        ));
    }
    let mut out = Vec::with_capacity(entries.iter().map(|e| e.len() + 2).sum());
    for (i, entry) in entries.iter().enumerate() {
        let Ok(len) = u16::try_from(entry.len()) else {
            return Err(Error::invalid(
                format!("log entry {i} of {} bytes", entry.len()),
                format!("entries are at most {MAX_ENTRY_SIZE} bytes"),
            ));
        };
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Decodes an entry bundle, refusing a truncated entry, trailing bytes, an empty bundle and more
/// than 256 entries. A bundle read for a known width should go through [`decode_bundle_of_width`]:
/// only the width tells trailing zero-length entries from the real ones.
pub fn decode_bundle(data: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut entries = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        let at = data.len() - rest.len();
        let [hi, lo, tail @ ..] = rest else {
            return Err(Error::invalid(format!("entry bundle byte {at}"), "a length prefix is cut short"));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        let Some(entry) = tail.get(..len) else {
            return Err(Error::invalid(
                format!("entry bundle byte {at}"),
                format!("an entry of {len} bytes has only {} bytes left", tail.len()),
            ));
        };
        entries.push(entry.to_vec());
        rest = &tail[len..];
    }
    if entries.is_empty() || entries.len() as u64 > TILE_WIDTH {
        return Err(Error::invalid(
            format!("entry bundle of {} entries", entries.len()),
            "a bundle holds 1 to 256 entries",
        ));
    }
    Ok(entries)
}

/// [`decode_bundle`], also checking that the bundle holds exactly `width` entries.
pub fn decode_bundle_of_width(data: &[u8], width: u64) -> Result<Vec<Vec<u8>>> {
    let entries = decode_bundle(data)?;
    if entries.len() as u64 != width {
        return Err(Error::invalid(
            format!("entry bundle of {} entries", entries.len()),
            format!("expected {width} entries"),
        ));
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tlog::merkle::{self, leaf_hash, MemoryTree, NodeSource};

    #[test]
    fn paths_follow_the_spec() {
        // The spec's example index, and the edges of the three-digit grouping.
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(999), "999");
        assert_eq!(index_path(1000), "x001/000");
        assert_eq!(index_path(u64::MAX), "x018/x446/x744/x073/x709/x551/615");
        assert_eq!(tile_path(0, 1234067, 256), "tile/0/x001/x234/067");
        assert_eq!(tile_path(1, 1, 17), "tile/1/001.p/17");
        assert_eq!(entries_path(1234067, 256), "tile/entries/x001/x234/067");
        assert_eq!(entries_path(7, 5), "tile/entries/007.p/5");
    }

    #[test]
    fn tiles_of_the_spec_examples() {
        // tlog-tiles: "a tree of size 70,000 will be represented by 273 full level 0 tiles, one
        // partial level 0 tile of width 112, one full level 1 tile, one partial level 1 tile of
        // width 17, and one partial level 2 tile of width 1."
        let tiles = tiles_for_size(70_000);
        let full0: Vec<_> = (0..273).map(|n| (0, n, 256)).collect();
        assert_eq!(tiles[..273], full0[..]);
        assert_eq!(tiles[273..], [(0, 273, 112), (1, 0, 256), (1, 1, 17), (2, 0, 1)]);
        let partial: Vec<String> = tiles[273..].iter().map(|&(l, n, w)| tile_path(l, n, w)).collect();
        assert_eq!(partial, ["tile/0/273.p/112", "tile/1/000", "tile/1/001.p/17", "tile/2/000.p/1"]);
        let bundles = bundles_for_size(70_000);
        assert_eq!((bundles.len(), bundles[272], bundles[273]), (274, (272, 256), (273, 112)));
        // "a tree of size 256 will be represented by a full level 0 tile and a partial level 1
        // tile of width 1."
        assert_eq!(tiles_for_size(256), [(0, 0, 256), (1, 0, 1)]);
        assert_eq!(bundles_for_size(256), [(0, 256)]);
        assert!(tiles_for_size(0).is_empty() && bundles_for_size(0).is_empty());
        assert_eq!(tiles_for_size(1), [(0, 0, 1)]);
        assert_eq!((tile_width(0, 274, 70_000), tile_width(9, 0, u64::MAX)), (0, 0));
    }

    /// A NodeSource that reads only tiles, as a tile-backed log does.
    struct Tiles {
        size: u64,
        tiles: std::collections::HashMap<(u8, u64), Vec<u8>>,
    }

    impl NodeSource for Tiles {
        fn node(&self, level: u8, index: u64) -> Result<Hash> {
            let (tile_level, tile_index, index_in_tile, level_in_tile) = node_location(level, index);
            let width = tile_width(tile_level, tile_index, self.size);
            let data = &self.tiles[&(tile_level, tile_index)];
            node_from_tile(&decode_hash_tile(data, width)?, level_in_tile, index_in_tile)
        }
    }

    #[test]
    fn a_tree_read_from_its_tiles_matches_memory() {
        let mut tree = MemoryTree::new();
        for i in 0u32..70_000 {
            tree.push(leaf_hash(&i.to_be_bytes()));
        }
        let mut tiles = Tiles { size: tree.size(), tiles: Default::default() };
        for (level, index, width) in tiles_for_size(tree.size()) {
            let data: Vec<u8> = (0..width).flat_map(|i| tree.node(level * 8, index * 256 + i).unwrap()).collect();
            assert_eq!(data.len() as u64, width * 32);
            tiles.tiles.insert((level, index), data);
        }
        // The level-1 tile 0 hash is the root of the full level-0 tile 0.
        let tile0 = decode_hash_tile(&tiles.tiles[&(0, 0)], 256).unwrap();
        assert_eq!(node_from_tile(&tile0, 8, 0).unwrap(), tree.node(8, 0).unwrap());
        assert_eq!(merkle::root(&tiles, 70_000).unwrap(), tree.root());
        for size in [1, 255, 256, 257, 65_535, 65_536, 69_999] {
            assert_eq!(merkle::root(&tiles, size).unwrap(), merkle::root(&tree, size).unwrap(), "{size}");
        }
        for (index, size) in [(0, 70_000), (69_999, 70_000), (65_535, 65_537), (300, 1000)] {
            let proof = merkle::inclusion_proof(&tiles, index, size).unwrap();
            assert_eq!(proof, merkle::inclusion_proof(&tree, index, size).unwrap());
        }
        for (old, new) in [(1, 70_000), (65_536, 70_000), (69_999, 70_000), (300, 1000)] {
            let proof = merkle::consistency_proof(&tiles, old, new).unwrap();
            assert_eq!(proof, merkle::consistency_proof(&tree, old, new).unwrap());
        }
        assert_eq!(node_location(9, 3), (1, 0, 3, 1));
        assert_eq!(node_location(0, 1234067), (0, 4820, 147, 0));
        assert!(node_from_tile(&tile0[..3], 2, 0).is_err() && node_from_tile(&tile0, 9, 0).is_err());
        assert!(decode_hash_tile(&[0; 64], 3).is_err() && decode_hash_tile(&[], 0).is_err());
    }

    #[test]
    fn bundles_round_trip_and_refuse_damage() {
        let big = vec![7u8; MAX_ENTRY_SIZE];
        let entries: [&[u8]; 3] = [b"one", b"", &big];
        let data = encode_bundle(&entries).unwrap();
        assert_eq!(&data[..5], b"\x00\x03one");
        assert_eq!(decode_bundle(&data).unwrap(), entries.map(<[u8]>::to_vec));
        assert_eq!(decode_bundle_of_width(&data, 3).unwrap().len(), 3);
        assert!(decode_bundle_of_width(&data, 4).is_err());
        let too_big = vec![0u8; MAX_ENTRY_SIZE + 1];
        let err = encode_bundle(&[b"ok", &too_big]).unwrap_err().to_string();
        assert!(err.contains("log entry 1 of 65536 bytes"), "{err}");
        assert!(encode_bundle(&[]).is_err() && encode_bundle(&[&b""[..]; 257]).is_err());
        assert!(decode_bundle(&data[..data.len() - 1]).is_err(), "truncated entry");
        assert!(decode_bundle(&[&data[..], &[0]].concat()).is_err(), "trailing byte");
        assert!(decode_bundle(&[&data[..], &[0, 9, 1]].concat()).is_err(), "trailing partial entry");
        assert!(decode_bundle(&[]).is_err());
        assert!(decode_bundle(&[0u8; 2 * 257]).is_err(), "257 empty entries");
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(crate::testing::bounded_cases(256))]

        /// Any bytes: no panic; whatever decodes encodes back to the same bytes.
        #[test]
        fn bundles_and_tiles_decode_without_panic(data in proptest::collection::vec(any::<u8>(), 0..600), width in 0u64..300) {
            if let Ok(entries) = decode_bundle(&data) {
                let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
                prop_assert_eq!(encode_bundle(&refs).unwrap(), data.clone());
            }
            if let Ok(hashes) = decode_hash_tile(&data, width) {
                prop_assert_eq!(hashes.concat(), data);
            }
        }

        #[test]
        fn bundles_round_trip(entries in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 1..20)) {
            let refs: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            let data = encode_bundle(&refs).unwrap();
            prop_assert_eq!(decode_bundle_of_width(&data, entries.len() as u64).unwrap(), entries);
        }
    }
}
