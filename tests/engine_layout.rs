//! The engine's modules form no import loop: no module of `src/engine`
//! refers to another that refers back to it, directly or around a circle.
//! A reference is a `use` line or a path in code (`crate::engine::..`,
//! `super::..`, a child module's name); comments and strings do not count.
// Reads the engine's sources (the default `engine` feature).
#![cfg(feature = "engine")]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Module = Vec<String>;

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `engine::stream::ctx` for `src/engine/stream/ctx.rs` (and `mod.rs` is its folder).
fn module_of(root: &Path, file: &Path) -> Module {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut m: Module = vec!["engine".into()];
    m.extend(rel.iter().map(|p| p.to_string_lossy().into_owned()));
    if m.last().is_some_and(|l| l == "mod") {
        m.pop();
    }
    m
}

/// The code without comments and string or char literals.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            '\'' => {
                // A char literal ('x', '\n'), or a lifetime ('a): keep lifetimes.
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with('\\') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                } else if rest.chars().nth(1) == Some('\'') {
                    chars.next();
                    chars.next();
                } else {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path the code names: `a::b::c`, with the groups of `use` lines
/// expanded, and the inline modules (`mod tests { .. }`) it is named in.
fn paths(code: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    // Inline modules open here, with the brace depth they close at.
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut i = 0;
    while i < tokens.len() {
        let inside = || inline.iter().map(|(m, _)| m.clone()).collect::<Vec<_>>();
        match tokens[i].as_str() {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if inline.last().is_some_and(|(_, d)| *d == depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).is_some_and(|t| t == "{") => {
                inline.push((tokens[i + 1].clone(), depth));
                depth += 1;
                i += 3;
                continue;
            }
            "use" => {
                let end = tokens[i..]
                    .iter()
                    .position(|t| t == ";")
                    .map_or(tokens.len(), |p| i + p);
                let mut used = Vec::new();
                expand(&tokens[i + 1..end], Vec::new(), &mut used);
                out.extend(used.into_iter().map(|p| (inside(), p)));
                i = end;
                continue;
            }
            t if is_ident(t) && tokens.get(i + 1).is_some_and(|t| t == "::") => {
                let mut path = vec![t.to_string()];
                let mut j = i + 1;
                while tokens.get(j).is_some_and(|t| t == "::")
                    && tokens.get(j + 1).is_some_and(|t| is_ident(t))
                {
                    path.push(tokens[j + 1].clone());
                    j += 2;
                }
                out.push((inside(), path));
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

fn is_ident(t: &str) -> bool {
    t.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_alphanumeric() || c == '_' {
            let mut t = String::new();
            while let Some(&c) = chars.peek().filter(|c| c.is_alphanumeric() || **c == '_') {
                t.push(c);
                chars.next();
            }
            tokens.push(t);
        } else if c == ':' {
            chars.next();
            if chars.peek() == Some(&':') {
                chars.next();
                tokens.push("::".into());
            }
        } else {
            chars.next();
            if !c.is_whitespace() {
                tokens.push(c.to_string());
            }
        }
    }
    tokens
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &[String], prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut path = prefix;
    let mut i = 0;
    while i < tree.len() {
        match tree[i].as_str() {
            "::" => i += 1,
            "{" => {
                // Split the group at top-level commas.
                let mut depth = 0;
                let mut start = i + 1;
                for j in i + 1..tree.len() {
                    match tree[j].as_str() {
                        "{" => depth += 1,
                        "}" if depth > 0 => depth -= 1,
                        "}" | "," if depth == 0 => {
                            expand(&tree[start..j], path.clone(), out);
                            start = j + 1;
                            if tree[j] == "}" {
                                return;
                            }
                        }
                        _ => {}
                    }
                }
                return;
            }
            "as" | "*" => break,
            t if is_ident(t) => {
                path.push(t.to_string());
                i += 1;
            }
            _ => i += 1,
        }
    }
    if path.last().is_some_and(|l| l == "self") {
        path.pop();
    }
    if !path.is_empty() {
        out.push(path);
    }
}

/// The engine module a path names (the longest module it starts with).
fn resolve(from: &Module, path: &[String], modules: &BTreeSet<Module>) -> Option<Module> {
    let mut full: Module = match path.first()?.as_str() {
        "crate" => path[1..].to_vec(),
        "super" | "self" => {
            let mut base = from.clone();
            let mut rest = path;
            while let Some(first) = rest.first() {
                match first.as_str() {
                    "super" => {
                        base.pop();
                    }
                    "self" => {}
                    _ => break,
                }
                rest = &rest[1..];
            }
            base.extend(rest.iter().cloned());
            base
        }
        child => {
            let mut m = from.clone();
            m.push(child.to_string());
            if !modules.contains(&m) {
                return None;
            }
            m.extend(path[1..].iter().cloned());
            m
        }
    };
    if full.first().is_none_or(|f| f != "engine") {
        return None;
    }
    while !full.is_empty() {
        if modules.contains(&full) {
            return Some(full);
        }
        full.pop();
    }
    None
}

/// Strongly connected components of more than one module.
fn loops(graph: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    // Two modules are in one loop when each reaches the other.
    let reach = |from: &Module| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<&Module, BTreeSet<Module>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for m in graph.keys() {
        if done.contains(m) || !reaches[m].contains(m) {
            continue;
        }
        let component: Vec<Module> = graph
            .keys()
            .filter(|n| reaches[m].contains(*n) && reaches[*n].contains(m))
            .cloned()
            .collect();
        done.extend(component.iter().cloned());
        out.push(component);
    }
    out
}

#[test]
fn engine_modules_form_no_import_loop() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
    let mut files = Vec::new();
    sources(&root, &mut files);
    let modules: BTreeSet<Module> = files.iter().map(|f| module_of(&root, f)).collect();
    let mut graph: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for file in &files {
        let from = module_of(&root, file);
        let code = code_only(&std::fs::read_to_string(file).unwrap());
        let targets = graph.entry(from.clone()).or_default();
        for (inline, path) in paths(&code) {
            // A path in `mod tests { .. }` is resolved from there, and counts
            // as the file's.
            let mut at = from.clone();
            at.extend(inline);
            if let Some(to) = resolve(&at, &path, &modules) {
                if to != from {
                    targets.insert(to);
                }
            }
        }
    }
    assert!(modules.len() > 10, "found {} modules", modules.len());
    let edges: usize = graph.values().map(BTreeSet::len).sum();
    assert!(edges > 20, "found {edges} references");
    let loops = loops(&graph);
    let shown: Vec<String> = loops
        .iter()
        .map(|l| {
            l.iter()
                .map(|m| m.join("::"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(loops.is_empty(), "import loops: {shown:#?}");
}

#[test]
fn the_loop_finder_finds_loops() {
    let m = |s: &str| s.split("::").map(String::from).collect::<Module>();
    let modules: BTreeSet<Module> = ["engine", "engine::a", "engine::b", "engine::a::c"]
        .iter()
        .map(|s| m(s))
        .collect();
    let code = code_only(
        "use super::{b::{self, X}, a::c}; // crate::engine::b\n let s = \"super::a\"; c::f(); a::g();",
    );
    let found: BTreeSet<Module> = paths(&code)
        .iter()
        .filter_map(|(_, p)| resolve(&m("engine::a"), p, &modules))
        .collect();
    assert_eq!(found, [m("engine::b"), m("engine::a::c")].into());
    // In an inline module, `super` is the file's module.
    let code = code_only("mod tests { use super::*; use super::super::b; }");
    let found: Vec<(Vec<String>, Vec<String>)> = paths(&code);
    assert_eq!(found.len(), 2);
    let mut at = m("engine::a");
    at.extend(found[0].0.clone());
    assert_eq!(resolve(&at, &found[0].1, &modules), Some(m("engine::a")));
    assert_eq!(resolve(&at, &found[1].1, &modules), Some(m("engine::b")));
    let mut graph = BTreeMap::new();
    graph.insert(m("engine::a"), [m("engine::b")].into());
    graph.insert(m("engine::b"), [m("engine::a")].into());
    graph.insert(m("engine"), [m("engine::a")].into());
    assert_eq!(loops(&graph), vec![vec![m("engine::a"), m("engine::b")]]);
}
