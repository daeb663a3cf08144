//! No module of `src/` depends on a module that depends back on it, directly
//! or through a loop. Dependencies are read from the source: every `use`
//! and every `crate::`/`super::` path, resolved to the module that defines
//! the item (following `pub use` re-exports, so a parent's facade does not
//! hide who depends on whom). A parent re-exporting its own children is not
//! a dependency of the parent. Test modules are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Module = Vec<String>;

struct Crate {
    /// Module path → its source (test modules cut off).
    sources: BTreeMap<Module, String>,
    /// Module → item name → the module it re-exports the item from.
    reexports: BTreeMap<Module, BTreeMap<String, Module>>,
}

fn read_modules(dir: &Path, prefix: &[String], out: &mut BTreeMap<Module, String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().flatten().collect();
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        if path.is_dir() {
            if name != "bin" {
                let mut sub = prefix.to_vec();
                sub.push(name);
                read_modules(&path, &sub, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let mut module = prefix.to_vec();
            if !matches!(name.as_str(), "mod" | "lib" | "main") {
                module.push(name);
            }
            let source = std::fs::read_to_string(&path).unwrap();
            let source = match source.find("#[cfg(test)]\nmod ") {
                Some(at) => source[..at].to_string(),
                None => source,
            };
            out.insert(module, source);
        }
    }
}

/// Splits `a::{b, c::{d, e}}` into full paths.
fn expand(prefix: &str, text: &str, out: &mut Vec<String>) {
    let text = text.trim();
    let join = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}::{p}")
        }
    };
    if let (Some(open), true) = (text.find("::{"), text.ends_with('}')) {
        let head = join(&text[..open]);
        let inner = &text[open + 3..text.len() - 1];
        let (mut depth, mut start) = (0, 0);
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&head, &inner[start..i], out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            expand(&head, &inner[start..], out);
        }
    } else if !text.is_empty() {
        let path = text.split(" as ").next().unwrap().trim();
        out.push(join(path));
    }
}

/// `use` statements of a source: (is `pub`, full paths).
fn uses(source: &str) -> Vec<(bool, Vec<String>)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lead = before[line_start..].trim();
        let after = &rest[at + 4..];
        let is_statement = lead.is_empty() || lead.starts_with("pub");
        match after.find(';') {
            Some(end) if is_statement => {
                let mut paths = Vec::new();
                expand("", &after[..end].replace('\n', " "), &mut paths);
                found.push((lead.starts_with("pub"), paths));
                rest = &after[end..];
            }
            _ => rest = after,
        }
    }
    found
}

/// The source with its `use` statements cut out (they are read apart).
fn without_uses(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(at) = rest.find("use ") {
        let before = &rest[..at];
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let lead = before[line_start..].trim();
        let is_statement = lead.is_empty() || lead.starts_with("pub");
        match rest[at..].find(';') {
            Some(end) if is_statement => {
                out.push_str(&rest[..line_start]);
                rest = &rest[at + end + 1..];
            }
            _ => {
                out.push_str(&rest[..at + 4]);
                rest = &rest[at + 4..];
            }
        }
    }
    out.push_str(rest);
    out
}

impl Crate {
    fn read(src: &Path) -> Self {
        let mut sources = BTreeMap::new();
        read_modules(src, &[], &mut sources);
        Crate::of(sources)
    }

    fn of(sources: BTreeMap<Module, String>) -> Self {
        let mut krate = Crate {
            sources,
            reexports: BTreeMap::new(),
        };
        let mut reexports = BTreeMap::new();
        for (module, source) in &krate.sources {
            for (public, paths) in uses(source) {
                for path in paths.iter().filter(|_| public) {
                    if let Some((target, rest)) = krate.locate(module, path) {
                        if &target != module && !rest.is_empty() {
                            reexports
                                .entry(module.clone())
                                .or_insert_with(BTreeMap::new)
                                .insert(rest.last().unwrap().clone(), target);
                        }
                    }
                }
            }
        }
        krate.reexports = reexports;
        krate
    }

    /// The deepest module a path names, and the path's rest.
    fn locate(&self, current: &Module, path: &str) -> Option<(Module, Vec<String>)> {
        let parts: Vec<String> = path.split("::").map(|s| s.trim().to_string()).collect();
        let (mut base, mut parts): (Module, &[String]) = match parts[0].as_str() {
            "crate" => (Vec::new(), &parts[1..]),
            "self" => (current.clone(), &parts[1..]),
            "super" => (current.clone(), &parts[..]),
            first => {
                let mut child = current.clone();
                child.push(first.to_string());
                if !self.sources.contains_key(&child) {
                    return None;
                }
                (current.clone(), &parts[..])
            }
        };
        while parts.first().is_some_and(|p| p == "super") {
            base.pop();
            parts = &parts[1..];
        }
        let mut best = None;
        for i in 0..=parts.len() {
            let mut candidate = base.clone();
            candidate.extend(parts[..i].iter().cloned());
            if self.sources.contains_key(&candidate) {
                best = Some((candidate, parts[i..].to_vec()));
            }
        }
        best
    }

    /// The module that defines what `path` names (through re-exports).
    fn resolve(&self, current: &Module, path: &str) -> Option<Module> {
        let (mut module, mut rest) = self.locate(current, path)?;
        for _ in 0..10 {
            let Some(next) = rest
                .first()
                .and_then(|item| self.reexports.get(&module)?.get(item))
            else {
                break;
            };
            module = next.clone();
            rest.remove(0);
        }
        Some(module)
    }

    fn edges(&self) -> BTreeMap<Module, BTreeSet<Module>> {
        let mut edges = BTreeMap::new();
        for (module, source) in &self.sources {
            let mut to = BTreeSet::new();
            for (public, paths) in uses(source) {
                for path in paths {
                    if let Some(target) = self.resolve(module, &path) {
                        let reexported_child = public && target.starts_with(module);
                        if &target != module && !reexported_child {
                            to.insert(target);
                        }
                    }
                }
            }
            // Paths written in full inside code: `crate::a::b`, `super::c`
            // (not a visibility: `pub(in crate::a)` depends on nothing).
            let code = without_uses(source);
            for (at, _) in code
                .match_indices("crate::")
                .chain(code.match_indices("super::"))
                .filter(|(at, _)| !code[..*at].ends_with("in "))
            {
                let path: String = code[at..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                if let Some(target) = self.resolve(module, path.trim_end_matches(':')) {
                    if &target != module {
                        to.insert(target);
                    }
                }
            }
            // Bare paths to a child module inside code (`mic::Mic` in a
            // parent that declares `mod mic;`): the parent depends on it.
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("::") {
                    let head_len = line[..at]
                        .chars()
                        .rev()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .count();
                    let from = at - head_len;
                    let glued = line[..from]
                        .chars()
                        .last()
                        .is_some_and(|c| c == ':' || c.is_alphanumeric() || c == '_');
                    if head_len == 0 || glued {
                        continue;
                    }
                    let mut child = module.clone();
                    child.push(line[from..at].to_string());
                    if !self.sources.contains_key(&child) {
                        continue;
                    }
                    let path: String = line[from..]
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                        .collect();
                    if let Some(target) = self.resolve(module, path.trim_end_matches(':')) {
                        if &target != module {
                            to.insert(target);
                        }
                    }
                }
            }
            edges.insert(module.clone(), to);
        }
        edges
    }
}

/// Strongly connected components with more than one module (Tarjan).
fn loops(edges: &BTreeMap<Module, BTreeSet<Module>>) -> Vec<Vec<Module>> {
    struct State<'a> {
        edges: &'a BTreeMap<Module, BTreeSet<Module>>,
        index: BTreeMap<&'a Module, usize>,
        low: BTreeMap<&'a Module, usize>,
        stack: Vec<&'a Module>,
        found: Vec<Vec<Module>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a Module) {
        let n = s.index.len();
        s.index.insert(v, n);
        s.low.insert(v, n);
        s.stack.push(v);
        for w in &s.edges[v] {
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.stack.contains(&w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                component.push(w.clone());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                s.found.push(component);
            }
        }
    }
    let mut state = State {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !state.index.contains_key(v) {
            visit(&mut state, v);
        }
    }
    state.found
}

fn name(m: &Module) -> String {
    if m.is_empty() {
        "crate".into()
    } else {
        m.join("::")
    }
}

#[test]
fn no_module_depends_on_one_that_depends_back_on_it() {
    let krate = Crate::read(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let edges = krate.edges();
    assert!(edges.len() > 40, "read {} modules", edges.len());
    let found = loops(&edges);
    let report: Vec<String> = found
        .iter()
        .map(|component| {
            let members: Vec<String> = component.iter().map(name).collect();
            let arrows: Vec<String> = component
                .iter()
                .flat_map(|a| {
                    edges[a]
                        .iter()
                        .filter(|b| component.contains(b))
                        .map(move |b| format!("{} -> {}", name(a), name(b)))
                })
                .collect();
            format!("{members:?}: {}", arrows.join(", "))
        })
        .collect();
    assert!(found.is_empty(), "import loops:\n{}", report.join("\n"));
}

#[test]
fn the_checker_sees_loops_and_re_exports() {
    let mut sources = BTreeMap::new();
    sources.insert(vec![], "mod a;\nmod b;\npub use a::Thing;\n".to_string());
    sources.insert(
        vec!["a".into()],
        "pub struct Thing;\nuse crate::b::Other;\n".to_string(),
    );
    sources.insert(
        vec!["b".into()],
        "pub struct Other;\nuse crate::Thing;\n".to_string(),
    );
    let krate = Crate::of(sources);
    let edges = krate.edges();
    // b names the facade's `Thing`, which is a's: b -> a, and a -> b.
    assert!(edges[&vec!["b".to_string()]].contains(&vec!["a".to_string()]));
    assert_eq!(loops(&edges).len(), 1);
    assert!(
        edges[&Vec::<String>::new()].is_empty(),
        "re-exports are not dependencies"
    );
}

#[test]
fn the_checker_sees_a_parent_naming_its_child_in_code() {
    let mut sources = BTreeMap::new();
    sources.insert(
        vec![],
        "mod mic;\npub struct Driver {\n    mic: mic::Mic,\n}\n".to_string(),
    );
    sources.insert(
        vec!["mic".into()],
        "use super::Driver;\npub struct Mic;\nimpl Driver {}\n".to_string(),
    );
    let krate = Crate::of(sources);
    let edges = krate.edges();
    assert!(edges[&Vec::<String>::new()].contains(&vec!["mic".to_string()]));
    assert_eq!(loops(&edges).len(), 1);
}
