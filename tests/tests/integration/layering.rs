//! The source tree's shape, checked: within each crate the modules import one another one way
//! (no cycle between top-level modules, so a drawing of `use crate::…` arrows has no loop), and
//! no source file holds more than 500 lines of non-test code (one concept per file).
//!
//! A module is a top-level file or folder of a crate's `src/` (`core/src/search/` is the module
//! `search`); an import is any `crate::name` path in code (comments and `#[cfg(test)]` modules,
//! which by convention close a file, are left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const CRATES: [&str; 4] = ["core", "native", "web", "shaders"];
const MAX_LINES: usize = 500;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The code of a file: everything before its test module, without `//` comments.
fn code_of(text: &str) -> String {
    let body = text.split("#[cfg(test)]").next().unwrap_or("");
    body.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

/// An identifier at the start of `s`.
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules a piece of code names through `crate::`.
fn imports(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // `crate::{a, b::{c, d}, e}`: the first name of every item at depth 0.
            let mut depth = 0;
            let mut start = true;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && !c.is_whitespace() => {
                        out.insert(ident(&group[j..]).to_string());
                        start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.insert(ident(rest).to_string());
        }
    }
    out.retain(|m| !m.is_empty());
    out
}

/// A cycle in `graph`, if there is one, as the modules along it (first = last).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(u: &str, graph: &BTreeMap<String, BTreeSet<String>>, state: &mut BTreeMap<String, u8>, path: &mut Vec<String>) -> Option<Vec<String>> {
        state.insert(u.to_string(), 1);
        path.push(u.to_string());
        for v in graph.get(u).into_iter().flatten().filter(|v| graph.contains_key(*v)) {
            match state.get(v) {
                Some(1) => {
                    let at = path.iter().position(|p| p == v).expect("on the path");
                    return Some(path[at..].iter().cloned().chain([v.clone()]).collect());
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(v, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        state.insert(u.to_string(), 2);
        path.pop();
        None
    }
    let mut state = BTreeMap::new();
    for u in graph.keys() {
        if !state.contains_key(u)
            && let Some(c) = visit(u, graph, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

/// The module graph of the crate in `dir`, and the files over the line limit.
fn crate_shape(dir: &Path) -> (BTreeMap<String, BTreeSet<String>>, Vec<String>) {
    let src = dir.join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut long = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).expect("readable source");
        let code = code_of(&text);
        let lines = code.lines().count();
        if lines > MAX_LINES {
            long.push(format!("{} ({lines} lines)", f.display()));
        }
        let rel = f.strip_prefix(&src).expect("under src");
        let top = rel.components().next().expect("a file").as_os_str().to_string_lossy();
        let top = top.trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let deps: Vec<String> = imports(&code).into_iter().filter(|d| *d != top).collect();
        graph.entry(top).or_default().extend(deps);
    }
    (graph, long)
}

#[test]
fn the_import_checker_finds_cycles_and_grouped_imports() {
    let code = "use crate::a::X;\nuse crate::{b::{C, D}, c, d::E as F};\nlet x = crate::e::f(); // crate::g";
    let found: Vec<String> = imports(&code_of(code)).into_iter().collect();
    assert_eq!(found, ["a", "b", "c", "d", "e"]);
    let g = |edges: &[(&str, &str)]| {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (a, b) in edges {
            m.entry(a.to_string()).or_default().insert(b.to_string());
            m.entry(b.to_string()).or_default();
        }
        m
    };
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("a", "c")])), None);
    assert_eq!(find_cycle(&g(&[("a", "b"), ("b", "c"), ("c", "a")])), Some(["a", "b", "c", "a"].map(String::from).to_vec()));
}

#[test]
fn modules_import_one_way_and_files_stay_small() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
    let mut problems = Vec::new();
    for name in CRATES {
        let (graph, long) = crate_shape(&root.join(name));
        assert!(graph.len() > 1 || name == "shaders", "{name}: found no modules (is the tree where the test expects it?)");
        if let Some(cycle) = find_cycle(&graph) {
            problems.push(format!("{name}: import cycle {}", cycle.join(" → ")));
        }
        problems.extend(long.into_iter().map(|f| format!("over {MAX_LINES} lines of non-test code: {f}")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
