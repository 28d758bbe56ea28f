//! Files that each published crate carries a copy of, because a package
//! holds only what is inside its own directory: the facade's README (its
//! crate docs) and the license texts. Each copy must equal the workspace's
//! original; a failure prints the command that re-syncs them.

use std::fs;
use std::path::{Path, PathBuf};

/// The crates published to the registry, each carrying the license texts.
const PUBLISHED: [&str; 5] = [
    "cachelite",
    "cachelite-macros",
    "cachelite-runtime",
    "cachelite-cli",
    "cachelite-redis",
];
const LICENSES: [&str; 2] = ["LICENSE-MIT", "LICENSE-APACHE"];

/// The workspace root, or `None` when this test runs from an unpacked
/// published crate, which has no workspace around it to compare with.
fn workspace_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?.to_owned();
    let manifest = fs::read_to_string(root.join("Cargo.toml")).ok()?;
    (manifest.contains("[workspace]") && root.join("cachelite-runtime").is_dir()).then_some(root)
}

/// `(copy, original)` pairs, relative to the workspace root.
fn copies() -> Vec<(String, String)> {
    let mut pairs = vec![("cachelite/README.md".to_owned(), "README.md".to_owned())];
    for krate in PUBLISHED {
        for license in LICENSES {
            pairs.push((format!("{krate}/{license}"), license.to_owned()));
        }
    }
    pairs
}

#[test]
fn published_copies_match_the_workspace_originals() {
    let Some(root) = workspace_root() else {
        return;
    };
    let stale: Vec<(String, String)> = copies()
        .into_iter()
        .filter(|(copy, original)| {
            let original = fs::read(root.join(original))
                .unwrap_or_else(|e| panic!("cannot read {original}: {e}"));
            fs::read(root.join(copy)).ok() != Some(original)
        })
        .collect();
    let commands: Vec<String> = stale
        .iter()
        .map(|(copy, original)| format!("cp {original} {copy}"))
        .collect();
    assert!(
        stale.is_empty(),
        "these copies differ from their originals: {}\nre-sync them from the workspace root with:\n  {}",
        stale
            .iter()
            .map(|(copy, _)| copy.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        commands.join(" && ")
    );
}

#[test]
fn every_published_crate_is_listed() {
    let Some(root) = workspace_root() else {
        return;
    };
    // A crate is published unless its manifest says `publish = false`: a
    // new one must be added to PUBLISHED, so it gets its license texts.
    for entry in fs::read_dir(&root).unwrap() {
        let dir = entry.unwrap().path();
        let Ok(manifest) = fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        if dir == root || manifest.contains("publish = false") {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            PUBLISHED.contains(&name.as_str()),
            "{name} is published (no `publish = false`) but missing from PUBLISHED in {}",
            file!()
        );
    }
}

#[test]
fn ci_packages_every_published_crate() {
    let Some(root) = workspace_root() else {
        return;
    };
    let ci = fs::read_to_string(root.join(".ci/run")).unwrap();
    let line = ci
        .lines()
        .find(|l| l.trim_start().starts_with("cargo package"))
        .expect(".ci/run runs `cargo package`");
    let listed: Vec<&str> = line
        .split_whitespace()
        .skip_while(|w| *w != "-p")
        .filter(|w| *w != "-p")
        .collect();
    for krate in PUBLISHED {
        assert!(
            listed.contains(&krate),
            "`cargo package` in .ci/run leaves out {krate}: add `-p {krate}`"
        );
    }
}
