//! The core's layout: five folders, each importing only from the ones before
//! it (`model` ← `auth` ← `store` ← `peer` ← `run`), and never through the crate
//! root's short names, which would hide the direction. Test code (from
//! `#[cfg(test)]` to the end of a file) and comments are not imports.

use std::path::{Path, PathBuf};

/// The folders, in the order they may import each other.
const LAYERS: [&str; 5] = ["model", "auth", "store", "peer", "run"];
/// What the crate root gives every folder.
const ROOT_ITEMS: [&str; 2] = ["CoreError", "ValidationError"];

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every `crate::name` in the code of `text` (not its tests or comments),
/// with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == '{')
                .collect();
            if let Some(group) = name.strip_prefix('{') {
                // `crate::{a, b}`: each name in the group.
                let end = rest.find('}').unwrap_or(rest.len());
                for item in rest[1..end].split(',') {
                    let item = item.trim().split("::").next().unwrap_or("").to_string();
                    if !item.is_empty() {
                        out.push((n + 1, item));
                    }
                }
                let _ = group;
            } else {
                out.push((n + 1, name));
            }
        }
    }
    out
}

#[test]
fn the_core_s_folders_import_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let mut wrong = Vec::new();
    let mut seen_layers = [false; 5];
    for path in &all {
        let rel = path.strip_prefix(&src).expect("under src");
        let first = rel.components().next().expect("a component");
        let folder = first.as_os_str().to_string_lossy().to_string();
        let Some(rank) = LAYERS.iter().position(|l| *l == folder) else {
            continue; // lib.rs, error.rs: the root
        };
        seen_layers[rank] = true;
        let text = std::fs::read_to_string(path).expect("read");
        for (line, name) in crate_paths(&text) {
            match LAYERS.iter().position(|l| *l == name) {
                Some(r) if r <= rank => {}
                Some(r) => wrong.push(format!(
                    "{}:{line}: {folder} imports {} (only {} may be imported from {folder})",
                    rel.display(),
                    LAYERS[r],
                    LAYERS[..=rank].join(", ")
                )),
                None if ROOT_ITEMS.contains(&name.as_str()) => {}
                None => wrong.push(format!(
                    "{}:{line}: `crate::{name}` goes through the crate root; name its folder",
                    rel.display()
                )),
            }
        }
    }
    assert_eq!(seen_layers, [true; 5], "every layer has files");
    assert!(
        wrong.is_empty(),
        "imports against the layout:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_against_the_layout() {
    let paths = crate_paths(
        "use crate::store::memo;\nuse crate::{run, CoreError};\n// crate::auth in a comment\n#[cfg(test)]\nuse crate::run::x;",
    );
    let names: Vec<&str> = paths.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["store", "run", "CoreError"]);
}
