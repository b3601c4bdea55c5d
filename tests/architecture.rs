//! The module graph's rules, checked on the source text so they stay true.
//!
//! Arrows point one way (ARCHITECTURE.md, "Architecture invariants"):
//! `api ← pipeline ← connectors ← plan ← {local, runner, check}`, and
//! `api ← controller`: the controller reaches no connector, no runner, no
//! check. `protocol` (what the controller and the processes it starts in
//! pods agree on) depends on `api` only; `signal` (SIGINT and SIGTERM for
//! `local` and `runner`) on nothing. Inside `connectors/`, a connector
//! folder uses `common/`, `secrets` and the module root, never another
//! connector's folder.
//!
//! The test reads every `crate::…` path in `src/` (comments excluded) and
//! fails on an arrow the table below does not allow, naming the file and
//! line, and on any cycle among the top-level modules.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the modules it may use.
const ALLOWED: &[(&str, &[&str])] = &[
    ("api", &[]),
    ("protocol", &["api"]),
    ("crd", &["api"]),
    ("manifest", &["api"]),
    ("pipeline", &["api"]),
    ("connectors", &["api", "pipeline", "protocol"]),
    ("plan", &["api", "pipeline", "connectors"]),
    ("signal", &[]),
    (
        "local",
        &[
            "api",
            "pipeline",
            "connectors",
            "plan",
            "manifest",
            "signal",
        ],
    ),
    (
        "runner",
        &[
            "api",
            "pipeline",
            "connectors",
            "plan",
            "protocol",
            "signal",
        ],
    ),
    ("check", &["api", "pipeline", "connectors", "protocol"]),
    ("controller", &["api", "protocol"]),
];

/// The folders of `connectors/` that every connector may use.
const CONNECTOR_SHARED: &[&str] = &["common", "secrets", "catalog", "format_guess"];

/// One `crate::` reference: where it is and what it names.
#[derive(Debug)]
struct Arrow {
    file: PathBuf,
    line: usize,
    from: String,
    to: String,
    /// For arrows inside `connectors`: the folders on both sides.
    from_folder: Option<String>,
    to_folder: Option<String>,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level module of a file under `src/`, and its folder inside
/// `connectors/` (`s3` for `src/connectors/s3/store.rs`).
fn module_of(relative: &Path) -> (String, Option<String>) {
    let parts: Vec<String> = relative
        .components()
        .map(|c| {
            c.as_os_str()
                .to_string_lossy()
                .trim_end_matches(".rs")
                .to_owned()
        })
        .collect();
    let top = parts[0].clone();
    let folder =
        (top == "connectors" && parts.len() > 1 && parts[1] != "mod").then(|| parts[1].clone());
    (top, folder)
}

/// Every `crate::a` and `crate::connectors::b` on code lines of `text`.
fn references(text: &str) -> Vec<(usize, String, Option<String>)> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let folder = (name == "connectors")
                .then(|| {
                    after["connectors".len()..].strip_prefix("::").map(|inner| {
                        inner
                            .chars()
                            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                            .collect::<String>()
                    })
                })
                .flatten()
                .filter(|f| f.chars().next().is_some_and(|c| c.is_ascii_lowercase()));
            if !name.is_empty() {
                found.push((index + 1, name, folder));
            }
            rest = after;
        }
    }
    found
}

fn arrows() -> Vec<Arrow> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut arrows = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap().to_owned();
        if relative == Path::new("main.rs") || relative == Path::new("lib.rs") {
            continue;
        }
        let (from, from_folder) = module_of(&relative);
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, to, to_folder) in references(&text) {
            arrows.push(Arrow {
                file: relative.clone(),
                line,
                from: from.clone(),
                to,
                from_folder: from_folder.clone(),
                to_folder,
            });
        }
    }
    arrows
}

#[test]
fn every_arrow_between_top_level_modules_is_allowed() {
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let arrows = arrows();
    assert!(
        arrows.len() > 100,
        "the scan found only {} references: is it reading src/?",
        arrows.len()
    );
    let mut wrong = Vec::new();
    for arrow in &arrows {
        if arrow.from == arrow.to {
            continue;
        }
        let Some(may) = allowed.get(arrow.from.as_str()) else {
            wrong.push(format!(
                "{}: module `{}` is not in the table of tests/architecture.rs; add it with the modules it may use",
                arrow.file.display(),
                arrow.from
            ));
            continue;
        };
        if !may.contains(&arrow.to.as_str()) {
            wrong.push(format!(
                "{}:{}: `{}` uses `crate::{}`, which it may not (it may use: {})",
                arrow.file.display(),
                arrow.line,
                arrow.from,
                arrow.to,
                may.join(", ")
            ));
        }
    }
    assert!(wrong.is_empty(), "forbidden arrows:\n{}", wrong.join("\n"));
}

#[test]
fn connector_folders_use_only_the_shared_parts_of_connectors() {
    let mut wrong = Vec::new();
    for arrow in arrows() {
        let (Some(from), Some(to)) = (&arrow.from_folder, &arrow.to_folder) else {
            continue;
        };
        if from == to || CONNECTOR_SHARED.contains(&to.as_str()) {
            continue;
        }
        // The catalog's one match over connectors opens each folder's
        // catalog; nothing else in a folder reaches another connector's.
        if from != "catalog" {
            wrong.push(format!(
                "{}:{}: connectors/{from} uses connectors/{to}; share it through connectors/common instead",
                arrow.file.display(),
                arrow.line
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_top_level_module_graph_has_no_cycle() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for arrow in arrows() {
        if arrow.from != arrow.to {
            graph.entry(arrow.from).or_default().insert(arrow.to);
        }
    }
    // Depth-first search with colours: a grey node met again is a cycle.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        colour: &mut BTreeMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match colour.get(node) {
            Some(1) => {
                let start = path.iter().position(|n| n == node).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(node.to_owned());
                return Some(cycle);
            }
            Some(2) => return None,
            _ => {}
        }
        colour.insert(node.to_owned(), 1);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, colour, path) {
                return Some(cycle);
            }
        }
        path.pop();
        colour.insert(node.to_owned(), 2);
        None
    }
    let mut colour = BTreeMap::new();
    for node in graph.keys() {
        if let Some(cycle) = visit(node, &graph, &mut colour, &mut Vec::new()) {
            panic!("the module graph has a cycle: {}", cycle.join(" → "));
        }
    }
}

#[test]
fn the_scan_sees_the_forms_it_must() {
    let text = "use crate::api::v1alpha1::Flow;\n// crate::controller in a comment\nlet x = crate::connectors::s3::runtime(); // crate::plan\nuse crate::connectors::Entity;\n";
    let found = references(text);
    assert_eq!(
        found,
        vec![
            (1, "api".to_owned(), None),
            (3, "connectors".to_owned(), Some("s3".to_owned())),
            (4, "connectors".to_owned(), None),
        ]
    );
    assert_eq!(
        module_of(Path::new("connectors/s3/store.rs")),
        ("connectors".to_owned(), Some("s3".to_owned()))
    );
    assert_eq!(
        module_of(Path::new("connectors/mod.rs")),
        ("connectors".to_owned(), None)
    );
    assert_eq!(module_of(Path::new("plan.rs")), ("plan".to_owned(), None));
}
