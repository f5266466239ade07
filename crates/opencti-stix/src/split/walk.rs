//! pycti's `enlist_element`, iteratively, over the objects' shapes: decides
//! the order of the parts, each object's `nb_deps`, and which references
//! each object keeps.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

use super::compact::CompactBundle;
use super::shape::{Kind, RefList, Slot};
use super::symbols::{Sym, SymInfo};
use super::{SplitError, object_error};

/// What the walk decided.
#[derive(Debug)]
pub(super) struct Walked {
    /// The last `nb_deps` computed for each object.
    pub(super) nb_deps: Vec<u64>,
    /// Objects to publish, in enlistment order (an object may appear twice).
    pub(super) elements: Vec<u32>,
    /// Objects withheld.
    pub(super) incompatible: Vec<u32>,
}

/// Walks every object of `bundle` in order, rewriting the shapes'
/// references as pycti rewrites the objects'.
pub(super) fn walk(bundle: &mut CompactBundle, cleanup: bool) -> Result<Walked, SplitError> {
    let count = bundle.len();
    let mut walker = Walker {
        cleanup,
        bundle,
        nb_deps: vec![0; count],
        active_frame: vec![None; count],
        kept_refs: HashSet::default(),
        elements: Vec::with_capacity(count),
        incompatible: Vec::new(),
    };
    for object in 0..count {
        let id = walker.bundle.ids[object];
        walker.enlist(id)?;
    }
    Ok(Walked {
        nb_deps: walker.nb_deps,
        elements: walker.elements,
        incompatible: walker.incompatible,
    })
}

/// One object being processed (a frame of pycti's recursive `enlist_element`).
#[derive(Debug)]
struct Frame {
    /// The string the object was enlisted under (its id or an internal id).
    item: Sym,
    object: u32,
    nb_deps: u64,
    /// Position of the next property to process among the object's entries
    /// (pycti iterates a snapshot of the keys; none is added meanwhile).
    next_key: usize,
    refs: Option<RefsWalk>,
    /// The reference whose enlistment this frame waits for.
    awaiting: Option<Awaiting>,
    /// The next frame out processing the same object (re-entry through a cycle).
    outer_frame_of_object: Option<usize>,
}

#[derive(Debug, Clone, Copy)]
enum Awaiting {
    /// An element of the `*_refs` list being walked.
    ListElement(Sym),
    /// The `*_ref` at `next_key`.
    Single(Sym),
}

/// What to do with one property of an object.
#[derive(Debug)]
enum KeyAction {
    Skip,
    /// Filter this `*_refs` list (taken out of the object meanwhile).
    WalkRefs(RefList),
    /// Enlist this `*_ref` target if it is kept, else null it.
    FollowRef(Sym),
    /// Null this `*_ref`.
    DropRef,
    Invalid(&'static str),
}

/// A `*_refs` list being filtered. The list is out of the object while
/// walked; pycti's object then shows the original list before the first
/// element is done and the kept list after, which [`Walker::materialize`]
/// recreates if the object is re-entered meanwhile.
#[derive(Debug)]
struct RefsWalk {
    /// Position of the property among the object's entries.
    key_index: usize,
    list: RefList,
    position: usize,
    kept: Vec<Sym>,
    kept_syms: SeenSet<Sym, SymHashing>,
}

struct Walker<'b> {
    cleanup: bool,
    bundle: &'b mut CompactBundle,
    nb_deps: Vec<u64>,
    /// The innermost frame processing each object, if any.
    active_frame: Vec<Option<usize>>,
    /// `(referencing, referenced)` pairs kept so far (pycti's `cache_refs`).
    kept_refs: HashSet<(Sym, Sym), SymHashing>,
    elements: Vec<u32>,
    incompatible: Vec<u32>,
}

impl Walker<'_> {
    fn info(&self, sym: Sym) -> &SymInfo {
        self.bundle.symbols.info(sym)
    }

    fn info_mut(&mut self, sym: Sym) -> &mut SymInfo {
        self.bundle.symbols.info_mut(sym)
    }

    fn set_slot(&mut self, object: u32, key_index: usize, slot: Slot) {
        self.bundle.shapes[object as usize].entries[key_index].slot = slot;
    }

    /// pycti's test for keeping reference `target` of the object enlisted as `item`.
    fn keeps(&self, item: Sym, target: Sym) -> bool {
        let info = self.info(target);
        info.supported
            && !(self.cleanup && info.object.is_none())
            && !info.on_path
            && target != item
            && !self.kept_refs.contains(&(target, item))
    }

    /// `enlist_element(item, raw_data, cleanup, [])`, iteratively.
    fn enlist(&mut self, item: Sym) -> Result<(), SplitError> {
        let mut stack = Vec::new();
        if self.begin(item, &mut stack).is_some() {
            return Ok(());
        }
        while let Some(top) = stack.len().checked_sub(1) {
            match self.advance(&mut stack[top])? {
                Some(child) => {
                    self.info_mut(child).on_path = true;
                    if let Some(nb_deps) = self.begin(child, &mut stack) {
                        self.resume(&mut stack[top], nb_deps);
                    }
                }
                None => {
                    let frame = stack.pop().expect("the loop saw a frame");
                    let nb_deps = self.finish(&frame)?;
                    if let Some(parent) = stack.last_mut() {
                        self.resume(parent, nb_deps);
                    }
                }
            }
        }
        Ok(())
    }

    /// Starts enlisting `item`: returns its count right away when it is
    /// absent or already enlisted, otherwise pushes a frame.
    fn begin(&mut self, item: Sym, stack: &mut Vec<Frame>) -> Option<u64> {
        let info = *self.info(item);
        let Some(object) = info.object else {
            return Some(0);
        };
        if let Some(cached) = info.cached {
            return Some(self.nb_deps[cached as usize]);
        }
        let outer = self.active_frame[object as usize];
        if let Some(outer) = outer {
            self.materialize(&stack[outer]);
        }
        self.active_frame[object as usize] = Some(stack.len());
        stack.push(Frame {
            item,
            object,
            nb_deps: 1,
            next_key: 0,
            refs: None,
            awaiting: None,
            outer_frame_of_object: outer,
        });
        None
    }

    /// Puts back into the object the `*_refs` list its outer frame is
    /// walking, as pycti's re-entered object would show it.
    fn materialize(&mut self, outer: &Frame) {
        if let Some(walk) = &outer.refs {
            let visible = if walk.position == 0 {
                walk.list.clone()
            } else {
                RefList {
                    refs: walk.kept.clone(),
                    broken: false,
                }
            };
            self.set_slot(outer.object, walk.key_index, Slot::List(visible));
        }
    }

    /// Processes properties until a reference must be enlisted (returned)
    /// or the object is done (`None`).
    fn advance(&mut self, frame: &mut Frame) -> Result<Option<Sym>, SplitError> {
        let key_count = self.bundle.shapes[frame.object as usize].entries.len();
        loop {
            if let Some(walk) = &mut frame.refs {
                while walk.position < walk.list.refs.len() {
                    let target = walk.list.refs[walk.position];
                    if self.keeps(frame.item, target) {
                        self.kept_refs.insert((frame.item, target));
                        frame.awaiting = Some(Awaiting::ListElement(target));
                        return Ok(Some(target));
                    }
                    walk.position += 1;
                }
                if walk.list.broken {
                    return Err(self.key_error(
                        frame.object,
                        walk.key_index,
                        "holds a reference that is not a string",
                    ));
                }
                let walk = frame.refs.take().expect("walk in progress");
                let kept = RefList {
                    refs: walk.kept,
                    broken: false,
                };
                self.set_slot(frame.object, walk.key_index, Slot::List(kept));
                frame.next_key += 1;
                continue;
            }
            if frame.next_key >= key_count {
                return Ok(None);
            }
            let key_index = frame.next_key;
            match self.classify(frame.object, key_index) {
                KeyAction::Skip => frame.next_key += 1,
                KeyAction::WalkRefs(list) => {
                    frame.refs = Some(RefsWalk {
                        key_index,
                        list,
                        position: 0,
                        kept: Vec::new(),
                        kept_syms: SeenSet::default(),
                    });
                }
                KeyAction::FollowRef(target) => {
                    if self.keeps(frame.item, target) {
                        self.kept_refs.insert((frame.item, target));
                        frame.awaiting = Some(Awaiting::Single(target));
                        return Ok(Some(target));
                    }
                    self.set_slot(frame.object, key_index, Slot::Null);
                    frame.next_key += 1;
                }
                KeyAction::DropRef => {
                    self.set_slot(frame.object, key_index, Slot::Null);
                    frame.next_key += 1;
                }
                KeyAction::Invalid(problem) => {
                    return Err(self.key_error(frame.object, key_index, problem));
                }
            }
        }
    }

    /// What pycti does with the property at `key_index` of an object, given
    /// its current value.
    fn classify(&mut self, object: u32, key_index: usize) -> KeyAction {
        let slot = &mut self.bundle.shapes[object as usize].entries[key_index].slot;
        match slot {
            Slot::List(list) if list.is_walked() => KeyAction::WalkRefs(std::mem::take(list)),
            Slot::Null | Slot::List(_) | Slot::Empty => KeyAction::Skip,
            Slot::Single(target) => KeyAction::FollowRef(*target),
            // A number names no object: cleanup removes it, pycti fails otherwise.
            Slot::Scalar if self.cleanup => KeyAction::DropRef,
            Slot::Scalar => KeyAction::Invalid("is not a string reference"),
            Slot::Invalid(problem) => KeyAction::Invalid(problem),
            // De-duplicated when the part is written.
            Slot::Embedded(_, None) => KeyAction::Skip,
            Slot::Embedded(_, Some(problem)) => KeyAction::Invalid(problem),
        }
    }

    /// Adds a child's count to the waiting frame and moves past the reference.
    fn resume(&mut self, frame: &mut Frame, nb_deps: u64) {
        frame.nb_deps = frame.nb_deps.saturating_add(nb_deps);
        match frame
            .awaiting
            .take()
            .expect("a frame resumes only after asking")
        {
            Awaiting::ListElement(target) => {
                self.info_mut(target).on_path = false;
                let walk = frame.refs.as_mut().expect("walking a list");
                if walk.kept_syms.insert(target) {
                    walk.kept.push(target);
                }
                walk.position += 1;
            }
            Awaiting::Single(target) => {
                self.info_mut(target).on_path = false;
                frame.next_key += 1;
            }
        }
    }

    /// The end of `enlist_element`: records the count and, the first time
    /// this string is enlisted, files the object as compatible or not.
    fn finish(&mut self, frame: &Frame) -> Result<u64, SplitError> {
        let object = frame.object as usize;
        self.nb_deps[object] = frame.nb_deps;
        self.active_frame[object] = frame.outer_frame_of_object;
        if self.info(frame.item).cached.is_none() {
            if self.is_compatible(frame)? {
                self.elements.push(frame.object);
            } else {
                self.incompatible.push(frame.object);
            }
            self.info_mut(frame.item).cached = Some(frame.object);
            // Filed in object order.
            let aliases = match self
                .bundle
                .aliases
                .binary_search_by_key(&frame.object, |(owner, _)| *owner)
            {
                Ok(found) => self.bundle.aliases[found].1.clone(),
                Err(_) => Vec::new(),
            };
            for alias in aliases {
                self.info_mut(alias).cached = Some(frame.object);
            }
        }
        Ok(frame.nb_deps)
    }

    /// The current value of property `key` of `object`, when it has one.
    fn property(&self, object: u32, key: &str) -> Option<&Slot> {
        let symbols = &self.bundle.symbols;
        self.bundle.shapes[object as usize]
            .entries
            .iter()
            .find(|entry| symbols.text(entry.key) == key)
            .map(|entry| &entry.slot)
    }

    fn is_compatible(&self, frame: &Frame) -> Result<bool, SplitError> {
        match self.bundle.shapes[frame.object as usize].kind {
            Kind::Missing => Err(self.error(frame.object, "type", "is missing")),
            Kind::Relationship => {
                let end = |field: &str| {
                    self.property(frame.object, field)
                        .map(|slot| *slot != Slot::Null)
                        .ok_or_else(|| self.error(frame.object, field, "is missing"))
                };
                Ok(end("source_ref")? && end("target_ref")?)
            }
            Kind::Sighting => {
                let sighted = self
                    .property(frame.object, "sighting_of_ref")
                    .is_some_and(|slot| *slot != Slot::Null);
                let where_sighted = match self.property(frame.object, "where_sighted_refs") {
                    None | Some(Slot::Empty) => 0,
                    Some(Slot::List(list)) => list.refs.len(),
                    Some(_) => {
                        return Err(self.error(
                            frame.object,
                            "where_sighted_refs",
                            "has no length",
                        ));
                    }
                };
                Ok(sighted && where_sighted > 0)
            }
            Kind::Other => Ok(self.info(frame.item).supported),
        }
    }

    fn key_error(&self, object: u32, key_index: usize, problem: &str) -> SplitError {
        let key = self.bundle.shapes[object as usize].entries[key_index].key;
        let key = self.bundle.symbols.text(key).to_owned();
        self.error(object, &key, problem)
    }

    fn error(&self, object: u32, field: &str, problem: &str) -> SplitError {
        let id = self.bundle.symbols.text(self.bundle.ids[object as usize]);
        object_error(object as usize, Some(id.to_owned()), field, problem)
    }
}

/// A set that stays a short list while small (most reference lists hold a
/// few entries) and becomes a hash set when it grows.
#[derive(Debug)]
pub(super) enum SeenSet<T, S> {
    Few(Vec<T>),
    Many(HashSet<T, S>),
}

impl<T, S> Default for SeenSet<T, S> {
    fn default() -> Self {
        Self::Few(Vec::new())
    }
}

impl<T: Eq + Hash, S: BuildHasher + Default> SeenSet<T, S> {
    const FEW: usize = 16;

    /// Adds `item`; `false` when it was already there.
    pub(super) fn insert(&mut self, item: T) -> bool {
        match self {
            Self::Few(items) if items.contains(&item) => false,
            Self::Few(items) if items.len() < Self::FEW => {
                items.push(item);
                true
            }
            Self::Few(items) => {
                let mut set: HashSet<T, S> = items.drain(..).collect();
                set.insert(item);
                *self = Self::Many(set);
                true
            }
            Self::Many(set) => set.insert(item),
        }
    }
}

/// Hashing for the splitter's own symbol numbers: they are assigned here,
/// not chosen by the input, so a fast multiplicative hash is safe.
type SymHashing = BuildHasherDefault<SymHasher>;

#[derive(Debug, Default, Clone, Copy)]
struct SymHasher(u64);

impl Hasher for SymHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.write_u32(u32::from(byte));
        }
    }

    fn write_u32(&mut self, number: u32) {
        self.0 = (self.0.rotate_left(5) ^ u64::from(number)).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}
