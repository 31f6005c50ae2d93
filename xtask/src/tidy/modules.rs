//! The module tree of a crate, read from its source files from the crate root through its
//! `mod` declarations (`#[path]` and inline modules included), the paths each module names
//! (`crate::…`, `super::…`, `self::…`, `use` trees expanded), and the circles among them.
//!
//! An edge `a → b` is a file of module `a` naming `b` or something in it. Edges are compared
//! between siblings: `crate::api::bindings` naming `crate::routing::x` is `api → routing`; a
//! module naming its own parent or child (`use super::*` in `mod tests`) is no edge.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};

use super::lexer::{tokenize, Tok, Token};

/// A module's path from its crate root (`[]` for the root itself).
pub type ModPath = Vec<String>;

/// `a::b`, or `crate` for the root.
pub fn display(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// Where a module names another.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evidence {
    /// The file.
    pub file: PathBuf,
    /// Its line.
    pub line: usize,
    /// The path as written (`crate::routing::Snapshot`).
    pub text: String,
}

/// One crate's modules and the paths they name.
#[derive(Debug, Default)]
pub struct ModuleTree {
    /// Every module (inline ones included) and the file it is in.
    pub modules: BTreeMap<ModPath, PathBuf>,
    /// Every `crate`/`super`/`self` path: the module it is written in, its segments.
    pub refs: Vec<(ModPath, Vec<String>, Evidence)>,
}

/// A `mod x;` or `mod x { … }` of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ModDecl {
    /// The inline modules it sits in, outermost first.
    inline: Vec<String>,
    name: String,
    /// `#[path = "…"]`.
    path_attr: Option<String>,
    /// `mod x { … }`.
    is_inline: bool,
}

/// What one file declares and names.
#[derive(Debug, Default)]
struct FileScan {
    mods: Vec<ModDecl>,
    /// Paths with the inline modules they are written in.
    refs: Vec<(Vec<String>, Vec<String>, usize)>,
}

fn is(tokens: &[Token], i: usize, want: &Tok) -> bool {
    tokens.get(i).is_some_and(|t| &t.tok == want)
}

fn ident(tokens: &[Token], i: usize) -> Option<&str> {
    match tokens.get(i).map(|t| &t.tok) {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

fn colons(tokens: &[Token], i: usize) -> bool {
    is(tokens, i, &Tok::Punct(':')) && is(tokens, i + 1, &Tok::Punct(':'))
}

/// Parses a path or use tree starting at the identifier at `i`, each full path prefixed with
/// `prefix`; returns the index after it.
fn path_tree(
    tokens: &[Token],
    mut i: usize,
    prefix: &[String],
    out: &mut Vec<Vec<String>>,
) -> usize {
    let mut segs = prefix.to_vec();
    let Some(first) = ident(tokens, i) else {
        return i + 1;
    };
    segs.push(first.to_owned());
    i += 1;
    loop {
        if !colons(tokens, i) {
            break;
        }
        if let Some(next) = ident(tokens, i + 2) {
            segs.push(next.to_owned());
            i += 3;
        } else if is(tokens, i + 2, &Tok::Punct('{')) {
            i += 3;
            while i < tokens.len() && !is(tokens, i, &Tok::Punct('}')) {
                if is(tokens, i, &Tok::Punct(',')) || is(tokens, i, &Tok::Punct('*')) {
                    i += 1;
                } else if ident(tokens, i).is_some() {
                    i = path_tree(tokens, i, &segs, out);
                    // `self` in a group names the prefix itself.
                    if let Some(last) = out.last_mut() {
                        if last.last().map(String::as_str) == Some("self") && last.len() > 1 {
                            last.pop();
                        }
                    }
                } else {
                    i += 1;
                }
            }
            return i + 1;
        } else {
            // `::*`, `::<T>`: the path ends here.
            break;
        }
    }
    if ident(tokens, i) == Some("as") {
        i += 2;
    }
    out.push(segs);
    i
}

/// The `mod` declarations and `crate`/`super`/`self` paths of one file.
fn scan(src: &str) -> FileScan {
    let tokens = tokenize(src);
    let mut scan = FileScan::default();
    let mut depth = 0usize;
    // Open inline modules: name, brace depth inside them.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut opening: Option<String> = None;
    let mut path_attr: Option<String> = None;
    let mut i = 0;
    while i < tokens.len() {
        let names = || inline.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        match &tokens[i].tok {
            Tok::Punct('#')
                if is(&tokens, i + 1, &Tok::Punct('['))
                    && ident(&tokens, i + 2) == Some("path")
                    && is(&tokens, i + 3, &Tok::Punct('=')) =>
            {
                if let Some(Tok::Str(p)) = tokens.get(i + 4).map(|t| &t.tok) {
                    path_attr = Some(p.clone());
                }
                i += 5;
                continue;
            }
            Tok::Punct('{') => {
                depth += 1;
                if let Some(name) = opening.take() {
                    inline.push((name, depth));
                }
                path_attr = None;
            }
            Tok::Punct('}') => {
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
                depth = depth.saturating_sub(1);
                path_attr = None;
            }
            Tok::Punct(';') => path_attr = None,
            Tok::Ident(kw) if kw == "mod" => {
                if let Some(name) = ident(&tokens, i + 1) {
                    let is_inline = is(&tokens, i + 2, &Tok::Punct('{'));
                    if is_inline || is(&tokens, i + 2, &Tok::Punct(';')) {
                        scan.mods.push(ModDecl {
                            inline: names(),
                            name: name.to_owned(),
                            path_attr: path_attr.take(),
                            is_inline,
                        });
                        if is_inline {
                            opening = Some(name.to_owned());
                        }
                    }
                    i += 2;
                    continue;
                }
            }
            Tok::Ident(kw)
                if matches!(kw.as_str(), "crate" | "super" | "self")
                    && colons(&tokens, i + 1)
                    && !(i >= 2 && colons(&tokens, i - 2)) =>
            {
                let line = tokens[i].line;
                let mut paths = Vec::new();
                i = path_tree(&tokens, i, &[], &mut paths);
                for p in paths {
                    scan.refs.push((names(), p, line));
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    scan
}

/// Whether `file` owns a directory for its children as `mod.rs` does (crate roots, `mod.rs`,
/// files loaded through `#[path]`).
fn dir_of_children(file: &Path, mod_rs: bool) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
    if mod_rs {
        dir
    } else {
        dir.join(file.file_stem().unwrap_or_default())
    }
}

/// Reads the module tree of the crate whose root file is `root`. A declared module whose file
/// is missing (or unreadable) is left out, with its children.
pub fn load(root: &Path) -> ModuleTree {
    let mut tree = ModuleTree::default();
    let mut queue: VecDeque<(PathBuf, ModPath, bool)> = VecDeque::new();
    queue.push_back((root.to_path_buf(), Vec::new(), true));
    let mut seen = BTreeSet::new();
    while let Some((file, path, mod_rs)) = queue.pop_front() {
        if !seen.insert((file.clone(), path.clone())) {
            continue;
        }
        let Ok(src) = std::fs::read_to_string(&file) else {
            continue;
        };
        tree.modules.insert(path.clone(), file.clone());
        let found = scan(&src);
        for decl in found.mods {
            let mut child = path.clone();
            child.extend(decl.inline.iter().cloned());
            child.push(decl.name.clone());
            if decl.is_inline {
                tree.modules.insert(child, file.clone());
                continue;
            }
            let mut dir = if decl.path_attr.is_some() && decl.inline.is_empty() {
                file.parent().unwrap_or(Path::new("")).to_path_buf()
            } else {
                dir_of_children(&file, mod_rs)
            };
            dir.extend(&decl.inline);
            let (target, target_mod_rs) = match &decl.path_attr {
                Some(p) => (dir.join(p), true),
                None if dir.join(format!("{}.rs", decl.name)).is_file() => {
                    (dir.join(format!("{}.rs", decl.name)), false)
                }
                None => (dir.join(&decl.name).join("mod.rs"), true),
            };
            queue.push_back((normalize(&target), child, target_mod_rs));
        }
        for (inline, segs, line) in found.refs {
            let mut from = path.clone();
            from.extend(inline);
            let text = segs.join("::");
            tree.refs.push((
                from,
                segs,
                Evidence {
                    file: file.clone(),
                    line,
                    text,
                },
            ));
        }
    }
    tree
}

/// `a/b/../c` as `a/c` (paths from `#[path = "../x.rs"]`).
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The deepest module a path written in module `from` reaches (`None`: not a module path).
pub fn resolve(
    modules: &BTreeMap<ModPath, PathBuf>,
    from: &[String],
    segs: &[String],
) -> Option<ModPath> {
    let (mut cur, mut rest): (ModPath, &[String]) = match segs.first()?.as_str() {
        "crate" => (Vec::new(), &segs[1..]),
        "self" => (from.to_vec(), &segs[1..]),
        "super" => (from.to_vec(), segs),
        _ => return None,
    };
    while rest.first().map(String::as_str) == Some("super") {
        cur.pop()?;
        rest = &rest[1..];
    }
    for seg in rest {
        let mut next = cur.clone();
        next.push(seg.clone());
        if !modules.contains_key(&next) {
            break;
        }
        cur = next;
    }
    Some(cur)
}

/// `from → to` as an edge between siblings, or `None` when one contains the other.
pub fn lift(from: &[String], to: &[String]) -> Option<(ModPath, ModPath)> {
    let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
    if common == from.len() || common == to.len() {
        return None;
    }
    Some((from[..=common].to_vec(), to[..=common].to_vec()))
}

/// The edges between sibling modules, each with where it is written.
pub type Graph = BTreeMap<(ModPath, ModPath), Vec<Evidence>>;

/// The graph of `tree`'s module references.
pub fn graph(tree: &ModuleTree) -> Graph {
    let mut edges = Graph::new();
    for (from, segs, evidence) in &tree.refs {
        let Some(to) = resolve(&tree.modules, from, segs) else {
            continue;
        };
        if let Some(edge) = lift(from, &to) {
            edges.entry(edge).or_default().push(evidence.clone());
        }
    }
    edges
}

/// A circle: the modules of one strongly connected component, one cycle through them, and
/// every edge among them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Circle {
    /// A cycle, first module repeated at the end.
    pub cycle: Vec<ModPath>,
    /// Every edge inside the component with where it is written.
    pub edges: Vec<((ModPath, ModPath), Vec<Evidence>)>,
}

/// Every circle of `graph` (one per strongly connected component of more than one module).
pub fn circles(graph: &Graph) -> Vec<Circle> {
    let mut next: BTreeMap<&ModPath, Vec<&ModPath>> = BTreeMap::new();
    for (from, to) in graph.keys() {
        next.entry(from).or_default().push(to);
        next.entry(to).or_default();
    }
    let reaches = |start: &ModPath| -> BTreeSet<ModPath> {
        let mut seen = BTreeSet::new();
        let mut queue = vec![start];
        while let Some(n) = queue.pop() {
            for m in next.get(n).into_iter().flatten() {
                if seen.insert((*m).clone()) {
                    queue.push(m);
                }
            }
        }
        seen
    };
    let reach: BTreeMap<&ModPath, BTreeSet<ModPath>> =
        next.keys().map(|n| (*n, reaches(n))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for (node, from_node) in &reach {
        if done.contains(*node) || !from_node.contains(*node) {
            continue;
        }
        let component: BTreeSet<ModPath> = from_node
            .iter()
            .filter(|m| reach[m].contains(*node))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        out.push(Circle {
            cycle: shortest_cycle(node, &component, &next),
            edges: graph
                .iter()
                .filter(|((a, b), _)| component.contains(a) && component.contains(b))
                .map(|(e, ev)| (e.clone(), ev.clone()))
                .collect(),
        });
    }
    out
}

fn shortest_cycle(
    start: &ModPath,
    component: &BTreeSet<ModPath>,
    next: &BTreeMap<&ModPath, Vec<&ModPath>>,
) -> Vec<ModPath> {
    let mut back: BTreeMap<&ModPath, &ModPath> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for m in next.get(n).into_iter().flatten() {
            if *m == start {
                let mut cycle = vec![start.clone()];
                let mut at = n;
                while at != start {
                    cycle.push(at.clone());
                    at = back[at];
                }
                cycle.push(start.clone());
                cycle.reverse();
                return cycle;
            }
            if component.contains(*m) && !back.contains_key(*m) {
                back.insert(m, n);
                queue.push_back(m);
            }
        }
    }
    vec![start.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> ModPath {
        s.split("::")
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect()
    }

    fn tree(modules: &[&str], refs: &[(&str, &str)]) -> ModuleTree {
        let mut t = ModuleTree::default();
        t.modules.insert(Vec::new(), PathBuf::from("lib.rs"));
        for m in modules {
            t.modules
                .insert(p(m), PathBuf::from(format!("{}.rs", m.replace("::", "/"))));
        }
        for (from, path) in refs {
            t.refs.push((
                p(from),
                path.split("::").map(str::to_owned).collect(),
                Evidence {
                    file: PathBuf::from(format!("{}.rs", from.replace("::", "/"))),
                    line: 1,
                    text: (*path).to_owned(),
                },
            ));
        }
        t
    }

    #[test]
    fn a_circle_between_siblings_is_found_with_its_files() {
        let t = tree(
            &["routing", "alertmanager", "api", "api::bindings", "store"],
            &[
                ("routing", "crate::alertmanager::AmRoute"),
                ("alertmanager", "crate::routing::Snapshot"),
                ("api::bindings", "crate::store::Binding"),
            ],
        );
        let found = circles(&graph(&t));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            found[0].cycle,
            [p("alertmanager"), p("routing"), p("alertmanager")]
        );
        let files: Vec<_> = found[0]
            .edges
            .iter()
            .flat_map(|(_, ev)| ev.iter().map(|e| e.file.clone()))
            .collect();
        assert_eq!(
            files,
            [
                PathBuf::from("alertmanager.rs"),
                PathBuf::from("routing.rs")
            ]
        );
    }

    #[test]
    fn a_longer_circle_through_nested_modules_is_found() {
        let t = tree(
            &["a", "a::x", "b", "c"],
            &[
                ("a::x", "crate::b::f"),
                ("b", "crate::c"),
                ("c", "super::a::x::g"),
            ],
        );
        let found = circles(&graph(&t));
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].cycle, [p("a"), p("b"), p("c"), p("a")]);
    }

    #[test]
    fn parent_and_child_naming_each_other_is_no_circle() {
        let t = tree(
            &["api", "api::bindings", "api::error", "api::bindings::tests"],
            &[
                ("api", "self::bindings::create"),
                ("api::bindings", "super::AppState"),
                ("api::bindings", "super::error::ApiError"),
                ("api::bindings::tests", "super::*"),
                ("api::bindings::tests", "crate::api::AppState"),
            ],
        );
        let g = graph(&t);
        assert_eq!(
            g.keys().cloned().collect::<Vec<_>>(),
            [(p("api::bindings"), p("api::error"))]
        );
        assert!(circles(&g).is_empty());
    }

    #[test]
    fn use_trees_attributes_and_inline_modules_are_read() {
        let src = r#"
            //! Docs naming [`crate::ignored`].
            #[path = "support/pg.rs"]
            mod pg;
            pub mod api;
            use crate::{a::X, b::{self, Y as Z}, c::*};
            use super::super::d;
            fn f() { let x = "crate::e::f"; $crate::g::h(); crate::i::<u8>(); }
            #[cfg(test)]
            mod tests {
                use super::*;
                mod deeper { use self::inner; }
            }
            fn after() { crate::j::k(); }
        "#;
        let s = scan(src);
        let decls: Vec<_> = s
            .mods
            .iter()
            .map(|d| {
                (
                    d.inline.join("::"),
                    d.name.as_str(),
                    d.path_attr.as_deref(),
                    d.is_inline,
                )
            })
            .collect();
        assert_eq!(
            decls,
            [
                (String::new(), "pg", Some("support/pg.rs"), false),
                (String::new(), "api", None, false),
                (String::new(), "tests", None, true),
                ("tests".to_owned(), "deeper", None, true),
            ]
        );
        let refs: Vec<_> = s
            .refs
            .iter()
            .map(|(inline, segs, _)| format!("{}:{}", inline.join("::"), segs.join("::")))
            .collect();
        assert_eq!(
            refs,
            [
                ":crate::a::X",
                ":crate::b",
                ":crate::b::Y",
                ":crate::c",
                ":super::super::d",
                ":crate::g::h",
                ":crate::i",
                "tests:super",
                "tests::deeper:self::inner",
                ":crate::j::k",
            ]
        );
    }

    #[test]
    fn resolution_stops_at_the_deepest_module() {
        let t = tree(&["store", "store::snapshot"], &[]);
        assert_eq!(
            resolve(
                &t.modules,
                &p("migrate"),
                &p("crate::store::snapshot::Cell")
            ),
            Some(p("store::snapshot"))
        );
        assert_eq!(
            resolve(&t.modules, &p("store::snapshot"), &p("super::Store")),
            Some(p("store"))
        );
        assert_eq!(resolve(&t.modules, &[], &p("super::x")), None);
        assert_eq!(
            lift(&p("a::b::c"), &p("a::d")),
            Some((p("a::b"), p("a::d")))
        );
        assert_eq!(lift(&p("a::b"), &p("a")), None);
    }
}
