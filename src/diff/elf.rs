//! ELF files: which sections differ (name, type, sizes on both sides, the first differing offset
//! inside the section), which sections exist on one side only, and which printable strings
//! occur on one side only, where absolute paths and timestamps show up.

use std::collections::{HashMap, HashSet, TryReserveError};

use object::elf::{FileHeader32, FileHeader64};
use object::read::elf::{FileHeader, SectionHeader};
use object::{Endianness, FileKind};
use serde::{Deserialize, Serialize};

use super::bytes::{diff_slices, first_difference, printable_strings, BytesDiff, MIN_STRING};

/// Strings listed per side; the report says how many there are in all.
pub const MAX_STRINGS: usize = 50;
/// Distinct strings kept per side for the strings pass (the first ones, in file order): the
/// pass needs memory proportional to what it keeps, not to the file (security review D21).
pub const MAX_STRINGS_KEPT: usize = 1 << 20;
/// Sections read per side; a section table can claim millions.
pub const MAX_SECTIONS: usize = 1 << 16;
/// Differing sections named in a one-line summary.
const SUMMARY_SECTIONS: usize = 6;

/// How two ELF files differ.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ElfDiff {
    /// Sections present on both sides whose type, size or contents differ, in A's order.
    pub sections: Vec<SectionDiff>,
    /// Sections only A has.
    pub only_in_a: Vec<SectionInfo>,
    /// Sections only B has.
    pub only_in_b: Vec<SectionInfo>,
    pub strings: StringsDiff,
    /// When no section differs: where the files differ (ELF or program headers, the section
    /// header table, padding).
    pub outside_sections: Option<BytesDiff>,
    /// Bytes of section contents compared (each distinct pair of file ranges once, whatever the
    /// section table says: security review D20).
    pub section_bytes_compared: u64,
    /// Sections whose contents were not compared because a limit was reached (more than
    /// [`MAX_SECTIONS`] sections, or overlapping sections adding up to more than twice the
    /// files' size); 0 for any ordinary ELF file.
    pub sections_not_compared: usize,
}

/// A section present on both sides that differs.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectionDiff {
    pub name: String,
    /// The section type as `readelf` spells it (`PROGBITS`, `NOTE`, …); `A/B` when it differs.
    pub kind: String,
    pub size_a: u64,
    pub size_b: u64,
    /// The first offset inside the section at which the contents differ; `None` when only the
    /// type or the size of a section without contents (`NOBITS`) differs.
    pub first_difference: Option<u64>,
}

/// A section present on one side only.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectionInfo {
    pub name: String,
    pub kind: String,
    pub size: u64,
}

/// Printable strings (runs of at least 8 printable ASCII bytes, as `strings -n 8` finds them)
/// found anywhere in one file and nowhere in the other, in file order, at most [`MAX_STRINGS`]
/// per side.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StringsDiff {
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
    /// How many distinct strings only A has (the list holds the first [`MAX_STRINGS`]).
    pub only_in_a_total: usize,
    pub only_in_b_total: usize,
    /// A side has more than [`MAX_STRINGS_KEPT`] distinct strings: only the first ones of each
    /// side were compared, so the counts are lower bounds and a listed string may occur late in
    /// the other file.
    pub truncated: bool,
}

impl ElfDiff {
    /// One line, e.g. `ELF sections differ: .rodata (at +0x1a0); 3 strings only in A, 3 only in B`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.sections.is_empty() {
            let names: Vec<String> = self.sections.iter().map(SectionDiff::describe).collect();
            parts.push(format!("ELF sections differ: {}", capped_list(&names, SUMMARY_SECTIONS)));
        }
        for (side, only) in [("A", &self.only_in_a), ("B", &self.only_in_b)] {
            if !only.is_empty() {
                let names: Vec<String> = only.iter().map(|s| s.name.clone()).collect();
                parts.push(format!("ELF sections only in {side}: {}", capped_list(&names, SUMMARY_SECTIONS)));
            }
        }
        if parts.is_empty() {
            parts.push(match &self.outside_sections {
                Some(bytes) => format!("ELF files differ outside sections (at {:#x})", bytes.first_difference),
                None => "ELF files differ outside sections".to_string(),
            });
        }
        if self.sections_not_compared > 0 {
            parts.push(format!("{} sections not compared (limits)", self.sections_not_compared));
        }
        let (a, b) = (self.strings.only_in_a_total, self.strings.only_in_b_total);
        let more = if self.strings.truncated { " (at least)" } else { "" };
        if a > 0 || b > 0 {
            parts.push(format!("{a} string{} only in A, {b} only in B{more}", if a == 1 { "" } else { "s" }));
        }
        parts.join("; ")
    }
}

impl SectionDiff {
    fn describe(&self) -> String {
        match self.first_difference {
            Some(at) => format!("{} (at +{at:#x})", self.name),
            None if self.size_a != self.size_b => format!("{} (size {} -> {})", self.name, self.size_a, self.size_b),
            None => format!("{} (type {})", self.name, self.kind),
        }
    }
}

/// `a, b, c and 4 more`.
pub(crate) fn capped_list(items: &[String], cap: usize) -> String {
    let mut text = items.iter().take(cap).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > cap {
        text.push_str(&format!(" and {} more", items.len() - cap));
    }
    text
}

/// True when `data` starts with the ELF magic.
pub fn is_elf(data: &[u8]) -> bool {
    data.starts_with(b"\x7fELF")
}

/// Compares two ELF files; `None` when either cannot be parsed as ELF (the caller then compares
/// bytes). Call only for files that differ. The work is bounded by the files' sizes whatever
/// their section tables say; the error is memory that could not be reserved.
pub fn diff_elf(a: &[u8], b: &[u8]) -> Result<Option<ElfDiff>, TryReserveError> {
    let (Some(mut sections_a), Some(mut sections_b)) = (sections(a), sections(b)) else {
        return Ok(None);
    };
    let mut not_compared = 0;
    for sections in [&mut sections_a, &mut sections_b] {
        not_compared += sections.len().saturating_sub(MAX_SECTIONS);
        sections.truncate(MAX_SECTIONS);
    }
    // Sections are matched by name; the n-th section of a name in A with the n-th in B.
    let mut index_b: HashMap<(&str, usize), &Section> = HashMap::new();
    for (key, section) in keyed(&sections_b) {
        index_b.insert(key, section);
    }
    // Each distinct pair of ranges is compared once, and all comparisons together read at most
    // twice the files' size: overlapping sections cannot make the work quadratic.
    let budget = 2 * (a.len() as u64 + b.len() as u64);
    let mut compared = 0u64;
    let mut done: HashMap<(Span, Span), Option<usize>> = HashMap::new();
    let mut matched = HashSet::new();
    let (mut differing, mut only_in_a) = (Vec::new(), Vec::new());
    for (key, sa) in keyed(&sections_a) {
        let Some(sb) = index_b.get(&key) else {
            only_in_a.push(sa.info());
            continue;
        };
        matched.insert(key);
        let spans = (span(a, sa.data), span(b, sb.data));
        let contents = match done.get(&spans) {
            Some(&result) => Some(result),
            None => {
                let cost = sa.data.len().min(sb.data.len()) as u64;
                (compared + cost <= budget).then(|| {
                    compared += cost;
                    let result = first_difference(sa.data, sb.data);
                    done.insert(spans, result);
                    result
                })
            }
        };
        let Some(contents) = contents else {
            not_compared += 1;
            continue;
        };
        if contents.is_some() || sa.size != sb.size || sa.kind != sb.kind {
            let kind = if sa.kind == sb.kind {
                type_name(sa.kind)
            } else {
                format!("{}/{}", type_name(sa.kind), type_name(sb.kind))
            };
            differing.push(SectionDiff {
                name: sa.name.clone(),
                kind,
                size_a: sa.size,
                size_b: sb.size,
                first_difference: contents.map(|at| at as u64),
            });
        }
    }
    let only_in_b = keyed(&sections_b).filter(|(key, _)| !matched.contains(key)).map(|(_, s)| s.info()).collect();
    let outside_sections = if differing.is_empty() { diff_slices(a, b) } else { None };
    Ok(Some(ElfDiff {
        sections: differing,
        only_in_a,
        only_in_b,
        strings: diff_strings(a, b)?,
        outside_sections,
        section_bytes_compared: compared,
        sections_not_compared: not_compared,
    }))
}

/// Where a section's contents lie in its file: (offset, length).
type Span = (usize, usize);

fn span(file: &[u8], part: &[u8]) -> Span {
    // An empty slice (a NOBITS section) need not point into the file.
    if part.is_empty() {
        return (0, 0);
    }
    ((part.as_ptr() as usize).wrapping_sub(file.as_ptr() as usize), part.len())
}

/// The strings only one side has, from the first [`MAX_STRINGS_KEPT`] distinct strings of each.
pub fn diff_strings(a: &[u8], b: &[u8]) -> Result<StringsDiff, TryReserveError> {
    let (kept_a, kept_b) = rayon::join(|| Distinct::of(a), || Distinct::of(b));
    let (kept_a, kept_b) = (kept_a?, kept_b?);
    let only = |mine: &Distinct, other: &Distinct| -> (Vec<String>, usize) {
        let mut total = 0;
        let mut listed = Vec::new();
        for s in mine.order.iter().filter(|s| !other.set.contains(*s)) {
            total += 1;
            if listed.len() < MAX_STRINGS {
                listed.push(s.to_string());
            }
        }
        (listed, total)
    };
    let (only_in_a, only_in_a_total) = only(&kept_a, &kept_b);
    let (only_in_b, only_in_b_total) = only(&kept_b, &kept_a);
    let truncated = kept_a.truncated || kept_b.truncated;
    Ok(StringsDiff { only_in_a, only_in_b, only_in_a_total, only_in_b_total, truncated })
}

/// The first distinct printable strings of a file, in file order.
struct Distinct<'d> {
    order: Vec<&'d str>,
    set: HashSet<&'d str>,
    /// More distinct strings than [`MAX_STRINGS_KEPT`].
    truncated: bool,
}

impl<'d> Distinct<'d> {
    fn of(data: &'d [u8]) -> Result<Distinct<'d>, TryReserveError> {
        let estimate = (data.len() / (MIN_STRING + 1) + 1).min(MAX_STRINGS_KEPT);
        let (mut order, mut set) = (Vec::new(), HashSet::new());
        order.try_reserve_exact(estimate)?;
        set.try_reserve(estimate)?;
        for s in printable_strings(data) {
            if set.contains(s) {
                continue;
            }
            if set.len() == MAX_STRINGS_KEPT {
                return Ok(Distinct { order, set, truncated: true });
            }
            order.try_reserve(1)?;
            set.try_reserve(1)?;
            set.insert(s);
            order.push(s);
        }
        Ok(Distinct { order, set, truncated: false })
    }
}

/// One section header and its contents.
struct Section<'d> {
    name: String,
    kind: u32,
    size: u64,
    data: &'d [u8],
}

impl Section<'_> {
    fn info(&self) -> SectionInfo {
        SectionInfo { name: self.name.clone(), kind: type_name(self.kind), size: self.size }
    }
}

/// Sections keyed by (name, how many earlier sections have the same name).
fn keyed<'s, 'd>(sections: &'s [Section<'d>]) -> impl Iterator<Item = ((&'s str, usize), &'s Section<'d>)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    sections.iter().map(move |s| {
        let n = seen.entry(s.name.as_str()).or_default();
        *n += 1;
        ((s.name.as_str(), *n - 1), s)
    })
}

/// The sections of an ELF file (without the null section at index 0); `None` if it is not
/// a well-formed ELF file.
fn sections(data: &[u8]) -> Option<Vec<Section<'_>>> {
    match FileKind::parse(data).ok()? {
        FileKind::Elf32 => read_sections::<FileHeader32<Endianness>>(data).ok(),
        FileKind::Elf64 => read_sections::<FileHeader64<Endianness>>(data).ok(),
        _ => None,
    }
}

fn read_sections<Elf: FileHeader<Endian = Endianness>>(data: &[u8]) -> object::read::Result<Vec<Section<'_>>> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let table = header.sections(endian, data)?;
    let mut sections = Vec::new();
    for sh in table.iter() {
        let kind = sh.sh_type(endian).0;
        if kind == object::elf::SHT_NULL.0 {
            continue;
        }
        sections.push(Section {
            name: String::from_utf8_lossy(table.section_name(endian, sh)?).into_owned(),
            kind,
            size: sh.sh_size(endian).into(),
            // Empty for NOBITS sections.
            data: sh.data(endian, data)?,
        });
    }
    Ok(sections)
}

/// One section header of [`synthetic_elf64`]: name, type, and where its contents lie in the
/// data area (offset from the start of the data, length).
pub type SyntheticSection<'a> = (&'a str, u32, u64, u64);

/// A minimal little-endian ELF64 file without program headers: the ELF header, `data`, a
/// `.shstrtab`, and the given section headers pointing into `data` (they may overlap, as a
/// hostile file's do). Test support for glassbox's unit and integration tests only.
#[doc(hidden)]
pub fn synthetic_elf64(data: &[u8], sections: &[SyntheticSection]) -> Vec<u8> {
    const HEADER: u64 = 64;
    let mut shstrtab = vec![0u8];
    let mut names = Vec::new();
    for name in sections.iter().map(|s| s.0).chain([".shstrtab"]) {
        names.push(shstrtab.len() as u32);
        shstrtab.extend_from_slice(name.as_bytes());
        shstrtab.push(0);
    }
    let mut out = vec![0u8; HEADER as usize];
    out.extend_from_slice(data);
    let shstrtab_at = out.len() as u64 - HEADER;
    out.extend_from_slice(&shstrtab);
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
    let shoff = out.len() as u64;
    out.extend_from_slice(&[0u8; 64]); // the null section
    let all = sections.iter().copied().chain([(".shstrtab", 3, shstrtab_at, shstrtab.len() as u64)]);
    for (name, (_, kind, offset, size)) in names.iter().zip(all) {
        out.extend_from_slice(&name.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&[0u8; 16]); // flags, addr
        out.extend_from_slice(&(HEADER + offset).to_le_bytes());
        out.extend_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&[0u8; 8]); // link, info
        out.extend_from_slice(&1u64.to_le_bytes()); // addralign
        out.extend_from_slice(&0u64.to_le_bytes()); // entsize
    }
    // Section counts above 0xff00 need the extended numbering this writer does not do.
    let count = u16::try_from(names.len() + 1).unwrap_or(u16::MAX);
    let header = &mut out[..HEADER as usize];
    header[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    header[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    header[18..20].copy_from_slice(&62u16.to_le_bytes()); // EM_X86_64
    header[20..24].copy_from_slice(&1u32.to_le_bytes());
    header[40..48].copy_from_slice(&shoff.to_le_bytes());
    header[52..54].copy_from_slice(&64u16.to_le_bytes());
    header[54..56].copy_from_slice(&56u16.to_le_bytes());
    header[58..60].copy_from_slice(&64u16.to_le_bytes());
    header[60..62].copy_from_slice(&count.to_le_bytes());
    header[62..64].copy_from_slice(&(count - 1).to_le_bytes());
    out
}

/// A section type as `readelf` names it.
fn type_name(kind: u32) -> String {
    let name = match kind {
        0 => "NULL",
        1 => "PROGBITS",
        2 => "SYMTAB",
        3 => "STRTAB",
        4 => "RELA",
        5 => "HASH",
        6 => "DYNAMIC",
        7 => "NOTE",
        8 => "NOBITS",
        9 => "REL",
        10 => "SHLIB",
        11 => "DYNSYM",
        14 => "INIT_ARRAY",
        15 => "FINI_ARRAY",
        16 => "PREINIT_ARRAY",
        17 => "GROUP",
        18 => "SYMTAB_SHNDX",
        19 => "RELR",
        0x6fff_4c03 => "LLVM_ADDRSIG",
        0x6fff_4c04 => "LLVM_DEPENDENT_LIBRARIES",
        0x6fff_fff5 => "GNU_ATTRIBUTES",
        0x6fff_fff6 => "GNU_HASH",
        0x6fff_fff7 => "GNU_LIBLIST",
        0x6fff_fffd => "VERDEF",
        0x6fff_fffe => "VERNEED",
        0x6fff_ffff => "VERSYM",
        0x7000_0001 => "X86_64_UNWIND",
        other => return format!("{other:#x}"),
    };
    name.to_string()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A minimal little-endian ELF64 file with the given (name, type, contents) sections plus
    /// `.shstrtab`; no program headers.
    pub(crate) fn tiny_elf(sections: &[(&str, u32, &[u8])]) -> Vec<u8> {
        let mut data = Vec::new();
        let mut headers = Vec::new();
        for (name, kind, contents) in sections {
            headers.push((*name, *kind, data.len() as u64, contents.len() as u64));
            data.extend_from_slice(contents);
        }
        synthetic_elf64(&data, &headers)
    }

    #[test]
    fn names_differing_sections_offsets_and_one_sided_sections() {
        let a = tiny_elf(&[
            (".text", 1, b"\x90\x90\x90\xc3"),
            (".rodata", 1, b"path=/home/builder/x\0"),
            (".note.gnu.build-id", 7, b"id-aaaa\0"),
            (".only-a", 1, b"x"),
        ]);
        let b = tiny_elf(&[
            (".text", 1, b"\x90\x90\x90\xc3"),
            (".rodata", 1, b"path=/home/someone/x\0"),
            (".note.gnu.build-id", 7, b"id-bbbb\0"),
            (".only-b", 1, b"yy"),
        ]);
        let d = diff_elf(&a, &b).unwrap().unwrap();
        let names: Vec<&str> = d.sections.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, [".rodata", ".note.gnu.build-id", ".shstrtab"]);
        let rodata = &d.sections[0];
        assert_eq!((rodata.kind.as_str(), rodata.size_a, rodata.size_b), ("PROGBITS", 21, 21));
        assert_eq!(rodata.first_difference, Some(11));
        assert_eq!(d.sections[1].kind, "NOTE");
        assert_eq!(d.only_in_a.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), [".only-a"]);
        assert_eq!((d.only_in_b[0].name.as_str(), d.only_in_b[0].size), (".only-b", 2));
        assert_eq!(d.strings.only_in_a, ["path=/home/builder/x"]);
        assert_eq!(d.strings.only_in_b, ["path=/home/someone/x"]);
        assert!(d.outside_sections.is_none());
        assert_eq!(
            d.summary(),
            "ELF sections differ: .rodata (at +0xb), .note.gnu.build-id (at +0x3), .shstrtab (at +0x28); \
             ELF sections only in A: .only-a; ELF sections only in B: .only-b; 1 string only in A, 1 only in B"
        );
    }

    #[test]
    fn same_sections_different_headers_are_reported_outside_sections() {
        let a = tiny_elf(&[(".text", 1, b"\xc3")]);
        let mut b = a.clone();
        b[24] = 0x10; // e_entry
        let d = diff_elf(&a, &b).unwrap().unwrap();
        assert!(d.sections.is_empty() && d.only_in_a.is_empty() && d.only_in_b.is_empty());
        assert_eq!(d.outside_sections.as_ref().map(|o| o.first_difference), Some(24));
        assert_eq!(d.summary(), "ELF files differ outside sections (at 0x18)");
    }

    #[test]
    fn not_elf_is_none_and_strings_are_capped() {
        assert!(diff_elf(b"\x7fELF but truncated", b"\x7fELF").unwrap().is_none());
        let many_a: Vec<u8> = (0..120).flat_map(|i| format!("string-a-{i:04}\0").into_bytes()).collect();
        let many_b: Vec<u8> = (0..3).flat_map(|i| format!("string-b-{i:04}\0").into_bytes()).collect();
        let s = diff_strings(&many_a, &many_b).unwrap();
        assert_eq!((s.only_in_a.len(), s.only_in_a_total), (MAX_STRINGS, 120));
        assert_eq!(s.only_in_a[0], "string-a-0000");
        assert_eq!((s.only_in_b.len(), s.only_in_b_total), (3, 3));
        // Repeats count once.
        let s = diff_strings(b"repeated-x\0repeated-x\0common-1\0", b"common-1\0").unwrap();
        assert_eq!((s.only_in_a.as_slice(), s.only_in_a_total), (&["repeated-x".to_string()][..], 1));
    }

    #[test]
    fn overlapping_sections_are_compared_once_and_the_work_is_bounded() {
        // Every section header points at one region (as a hostile file's would).
        let region = vec![7u8; 4096];
        let names: Vec<String> = (0..300).map(|i| format!(".s{i}")).collect();
        let a = tiny_elf(&names.iter().map(|n| (n.as_str(), 1, &region[..])).collect::<Vec<_>>());
        let mut b = a.clone();
        // Point all of B's section headers at A's first region, then change its last byte.
        let shoff = u64::from_le_bytes(a[40..48].try_into().unwrap()) as usize;
        for i in 1..=300 {
            let at = shoff + 64 * i + 24;
            b[at..at + 8].copy_from_slice(&64u64.to_le_bytes());
        }
        b[64 + 4095] = 8;
        let d = diff_elf(&a, &b).unwrap().unwrap();
        assert_eq!(d.sections.iter().filter(|s| s.name.starts_with(".s")).count(), 300);
        assert_eq!(d.sections[0].first_difference, Some(4095));
        assert!(d.section_bytes_compared <= 2 * (a.len() + b.len()) as u64);
        assert_eq!(d.sections_not_compared, 0);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(crate::testing::bounded_cases(256))]

            #[test]
            fn arbitrary_bytes_after_an_elf_header_never_panic(
                flips in prop::collection::vec((0usize..512, any::<u8>()), 0..16),
                tail in prop::collection::vec(any::<u8>(), 0..256),
            ) {
                let a = tiny_elf(&[(".text", 1, b"\x90\xc3"), (".bss", 8, b""), (".rodata", 1, b"some/path/string\0")]);
                let mut b = a.clone();
                for (at, byte) in &flips {
                    let len = b.len();
                    b[at % len] = *byte;
                }
                b.extend_from_slice(&tail);
                if let Some(d) = diff_elf(&a, &b).unwrap() {
                    let _ = d.summary();
                    prop_assert!(d.section_bytes_compared <= 2 * (a.len() + b.len()) as u64);
                }
                let _ = diff_elf(&b, &tail).unwrap();
            }
        }
    }
}
