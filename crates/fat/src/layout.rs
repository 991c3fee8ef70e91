//! From an entry tree to a FAT layout: the directories, each with its children in byte order
//! of their names and the on-disk form of every name; how many clusters everything needs for a
//! given geometry; and the allocation, one depth-first pass that gives each directory and then
//! each of its children (recursively) the next free clusters, so every chain is contiguous.

use crate::format::{DIR_ENTRY_SIZE, FatType, LFN_CHARS_PER_SLOT, MAX_DIR_ENTRIES};
use crate::geometry::Geometry;
use crate::{Error, FatOptions, check_entry, names};
use evebuild_tree::{EntryPath, Kind, MemTree};
use std::collections::{HashMap, HashSet};

/// Index of the root directory in [`Plan::dirs`].
pub const ROOT: usize = 0;

/// A directory to write.
#[derive(Debug)]
pub struct PlanDir<'t> {
    /// Where it is (`None` for the root).
    pub path: Option<EntryPath>,
    /// Index of the parent directory (the root's is itself).
    pub parent: usize,
    /// Modification time.
    pub mtime: i64,
    /// Children in byte order of their names.
    pub children: Vec<PlanChild<'t>>,
    /// Directory entries it holds: label or `.`/`..`, then each child's long-name slots and
    /// short entry.
    pub slots: usize,
}

/// One child of a directory.
#[derive(Debug)]
pub struct PlanChild<'t> {
    /// Name as given.
    pub name: String,
    /// 8.3 short name (or alias).
    pub short: [u8; 11],
    /// NT case flags for the short name.
    pub case: u8,
    /// UTF-16 long name, when the short name cannot carry the name.
    pub long: Option<Vec<u16>>,
    /// Modification time.
    pub mtime: i64,
    /// Unix permission bits (a file without owner write permission is marked read-only).
    pub mode: u32,
    /// A subdirectory or a file.
    pub kind: ChildKind<'t>,
}

/// What a child is.
#[derive(Debug)]
pub enum ChildKind<'t> {
    /// A subdirectory (index into [`Plan::dirs`]).
    Dir(usize),
    /// A regular file with its contents.
    File(&'t [u8]),
}

/// The whole tree, ready to allocate.
#[derive(Debug)]
pub struct Plan<'t> {
    /// Directories; [`ROOT`] first.
    pub dirs: Vec<PlanDir<'t>>,
}

/// Where everything went.
#[derive(Debug)]
pub struct Allocation {
    /// First cluster of each directory (0 for a FAT12/16 root, which has its own area).
    pub dir_first: Vec<u32>,
    /// First cluster of each child of each directory (0 for empty files).
    pub child_first: Vec<Vec<u32>>,
    /// FAT entries for clusters 0..cluster_count+2.
    pub fat: Vec<u32>,
    /// Data clusters in use.
    pub clusters_used: u32,
    /// The highest cluster in use (2 if none).
    pub last_cluster: u32,
}

fn clusters_for(bytes: u64, cluster_bytes: u64) -> u64 {
    bytes.div_ceil(cluster_bytes)
}

impl<'t> Plan<'t> {
    /// Builds the directory structure of `tree`. Directories the tree only implies get
    /// `timestamp`; `label` says whether the root holds a volume label entry.
    pub fn new(tree: &'t MemTree, timestamp: i64, label: bool) -> Result<Self, Error> {
        let mut plan = Plan {
            dirs: vec![PlanDir {
                path: None,
                parent: ROOT,
                mtime: timestamp,
                children: Vec::new(),
                slots: 0,
            }],
        };
        let mut index: HashMap<EntryPath, usize> = HashMap::new();
        for (entry, data) in tree.iter() {
            check_entry(entry)?;
            let parent = plan.dir_for(entry.path.parent(), timestamp, &mut index);
            match entry.kind {
                Kind::Dir => {
                    // An implied directory may already exist: give it its own time.
                    let d = plan.dir_for(Some(entry.path.clone()), timestamp, &mut index);
                    plan.dirs[d].mtime = entry.mtime;
                    let child = plan.dirs[parent]
                        .children
                        .iter_mut()
                        .find(|c| matches!(c.kind, ChildKind::Dir(i) if i == d));
                    if let Some(c) = child {
                        (c.mtime, c.mode) = (entry.mtime, entry.mode);
                    }
                }
                _ => plan.dirs[parent].children.push(PlanChild::new(
                    &entry.path,
                    entry.mtime,
                    entry.mode,
                    ChildKind::File(data),
                )),
            }
        }
        for d in 0..plan.dirs.len() {
            plan.name_children(d, label && d == ROOT)?;
        }
        Ok(plan)
    }

    /// The index of directory `path`, creating it (and its parents) as implied directories.
    fn dir_for(
        &mut self,
        path: Option<EntryPath>,
        timestamp: i64,
        index: &mut HashMap<EntryPath, usize>,
    ) -> usize {
        let Some(path) = path else { return ROOT };
        if let Some(&i) = index.get(&path) {
            return i;
        }
        let parent = self.dir_for(path.parent(), timestamp, index);
        let i = self.dirs.len();
        self.dirs.push(PlanDir {
            path: Some(path.clone()),
            parent,
            mtime: timestamp,
            children: Vec::new(),
            slots: 0,
        });
        self.dirs[parent]
            .children
            .push(PlanChild::new(&path, timestamp, 0o755, ChildKind::Dir(i)));
        index.insert(path, i);
        i
    }

    /// Sorts the children of directory `d`, checks for case collisions, gives every name its
    /// short form (exact 8.3 names first, so aliases never take them) and counts the slots.
    fn name_children(&mut self, d: usize, label: bool) -> Result<(), Error> {
        let path_of = |dir: &PlanDir, name: &str| match &dir.path {
            Some(p) => p.join(name).expect("checked name"),
            None => EntryPath::new(name).expect("checked name"),
        };
        let dir = &mut self.dirs[d];
        dir.children
            .sort_by(|a, b| a.name.as_bytes().cmp(b.name.as_bytes()));
        let mut folded: HashMap<String, usize> = HashMap::new();
        for (i, c) in dir.children.iter().enumerate() {
            if let Some(&j) = folded.get(&names::fold(&c.name)) {
                return Err(Error::CaseCollision {
                    a: path_of(dir, &dir.children[j].name),
                    b: path_of(dir, &c.name),
                });
            }
            folded.insert(names::fold(&c.name), i);
        }
        let mut taken: HashSet<[u8; 11]> = HashSet::new();
        let mut needs_alias = Vec::new();
        for (i, c) in dir.children.iter_mut().enumerate() {
            match names::exact_short(&c.name) {
                Some((short, case)) => {
                    (c.short, c.case) = (short, case);
                    taken.insert(short);
                }
                None => needs_alias.push(i),
            }
        }
        let mut next_n: HashMap<(Vec<u8>, Vec<u8>), u32> = HashMap::new();
        for i in needs_alias {
            let c = &mut dir.children[i];
            let basis = names::alias_basis(&c.name);
            let n = next_n.entry(basis.clone()).or_insert(1);
            while taken.contains(&names::alias(&basis.0, &basis.1, *n)) {
                *n += 1;
            }
            c.short = names::alias(&basis.0, &basis.1, *n);
            taken.insert(c.short);
            c.long = Some(c.name.encode_utf16().collect());
        }
        let own = if d == ROOT { usize::from(label) } else { 2 };
        dir.slots = own
            + dir
                .children
                .iter()
                .map(|c| {
                    1 + c
                        .long
                        .as_ref()
                        .map_or(0, |u| u.len().div_ceil(LFN_CHARS_PER_SLOT))
                })
                .sum::<usize>();
        Ok(())
    }

    /// Clusters directory `d` occupies (at least one; none for a FAT12/16 root).
    fn dir_clusters(&self, d: usize, g: &Geometry) -> u64 {
        if d == ROOT && g.fat_type != FatType::Fat32 {
            return 0;
        }
        clusters_for(
            (self.dirs[d].slots * DIR_ENTRY_SIZE) as u64,
            g.cluster_bytes(),
        )
        .max(1)
    }

    /// Checks directory sizes against the limits of `g` and counts the clusters needed.
    pub fn clusters_needed(&self, g: &Geometry) -> Result<u64, Error> {
        let mut total = 0;
        for (d, dir) in self.dirs.iter().enumerate() {
            let (max, what, hint) = if d == ROOT && g.fat_type != FatType::Fat32 {
                (
                    g.root_entries as usize,
                    "the FAT12/16 root directory",
                    ": move entries into a subdirectory, shorten long names or use FAT32",
                )
            } else {
                (MAX_DIR_ENTRIES, "a FAT directory", "")
            };
            if dir.slots > max {
                return Err(Error::DirectoryFull {
                    dir: dir.path.as_ref().map_or("/".into(), |p| p.to_string()),
                    needed: dir.slots,
                    max,
                    what,
                    hint,
                });
            }
            total += self.dir_clusters(d, g);
            for c in &dir.children {
                if let ChildKind::File(data) = c.kind {
                    total += clusters_for(data.len() as u64, g.cluster_bytes());
                }
            }
        }
        Ok(total)
    }

    /// Gives every directory and file its clusters and builds the FAT.
    pub fn allocate(&self, g: &Geometry, opts: &FatOptions) -> Result<Allocation, Error> {
        let needed = self.clusters_needed(g)?;
        if needed > u64::from(g.cluster_count) {
            let min_size = self.min_size(opts);
            let fix = match min_size {
                Some(s) => format!(
                    "an image of at least {s} bytes ({} MiB) holds it",
                    s / (1024 * 1024)
                ),
                None => "no FAT image of this type holds it".into(),
            };
            return Err(Error::NoSpace {
                size: opts.size,
                fat_type: g.fat_type,
                cluster_bytes: g.cluster_bytes(),
                needed_clusters: needed,
                clusters: g.cluster_count,
                fix,
                min_size,
            });
        }
        let mut fat = vec![0u32; g.cluster_count as usize + 2];
        fat[0] = (g.fat_type.entry_mask() & !0xFF) | u32::from(g.media);
        fat[1] = g.fat_type.entry_mask();
        let mut next = 2u32;
        let mut take = |clusters: u64, fat: &mut Vec<u32>| -> u32 {
            if clusters == 0 {
                return 0;
            }
            let first = next;
            let last = first + clusters as u32 - 1;
            for c in first..last {
                fat[c as usize] = c + 1;
            }
            fat[last as usize] = g.fat_type.end_of_chain();
            next = last + 1;
            first
        };
        let mut dir_first = vec![0u32; self.dirs.len()];
        let mut child_first: Vec<Vec<u32>> = self
            .dirs
            .iter()
            .map(|d| vec![0; d.children.len()])
            .collect();
        dir_first[ROOT] = take(self.dir_clusters(ROOT, g), &mut fat);
        // Depth-first, children in name order: (directory, next child) frames.
        let mut stack = vec![(ROOT, 0usize)];
        while let Some((d, i)) = stack.pop() {
            let Some(child) = self.dirs[d].children.get(i) else {
                continue;
            };
            stack.push((d, i + 1));
            match child.kind {
                ChildKind::File(data) => {
                    child_first[d][i] =
                        take(clusters_for(data.len() as u64, g.cluster_bytes()), &mut fat);
                }
                ChildKind::Dir(sub) => {
                    dir_first[sub] = take(self.dir_clusters(sub, g), &mut fat);
                    child_first[d][i] = dir_first[sub];
                    stack.push((sub, 0));
                }
            }
        }
        Ok(Allocation {
            dir_first,
            child_first,
            fat,
            clusters_used: next - 2,
            last_cluster: (next - 1).max(2),
        })
    }

    /// The smallest whole-MiB image size (same FAT type choice) that holds this tree, if any.
    fn min_size(&self, opts: &FatOptions) -> Option<u64> {
        const MIB: u64 = 1024 * 1024;
        const LIMIT: u64 = 2 * 1024 * 1024 * MIB;
        let fits = |size: u64| {
            Geometry::for_size(size, opts.fat_type)
                .ok()
                .and_then(|g| Some(self.clusters_needed(&g).ok()? <= u64::from(g.cluster_count)))
                .unwrap_or(false)
        };
        // Double until it fits, then bisect (sizes are nearly monotonic; the answer is checked).
        let mut lo = opts.size / MIB;
        let mut hi = (lo + 1).max(1);
        while !fits(hi * MIB) {
            lo = hi;
            hi *= 2;
            if hi * MIB > LIMIT {
                return None;
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if fits(mid * MIB) { hi = mid } else { lo = mid }
        }
        Some(hi * MIB)
    }
}

impl<'t> PlanChild<'t> {
    fn new(path: &EntryPath, mtime: i64, mode: u32, kind: ChildKind<'t>) -> Self {
        PlanChild {
            // check_entry has accepted every component as UTF-8.
            name: String::from_utf8_lossy(path.file_name()).into_owned(),
            short: [b' '; 11],
            case: 0,
            long: None,
            mtime,
            mode,
            kind,
        }
    }
}
