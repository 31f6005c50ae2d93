//! The console bundle's record of what it was built from: `console/build.mjs` writes
//! `dist/inputs.sha256`, one `sha256sum` line per input (every file under `src/`,
//! `package-lock.json`, `build.mjs`, `tsconfig.json`; sorted by path). Tests cannot run npm, so
//! tidy recomputes the record and compares: a difference means the committed `dist/` is stale.

use std::path::Path;

use sha2::{Digest, Sha256};

/// The console, from the workspace root.
pub const CONSOLE: &str = "crates/alert-server/console";

/// The record, from the console.
pub const RECORD: &str = "dist/inputs.sha256";

/// The build's inputs, relative to the console with `/`, sorted.
pub fn inputs(console: &Path) -> Vec<String> {
    let mut files: Vec<String> = ["build.mjs", "package-lock.json", "tsconfig.json"]
        .map(str::to_owned)
        .to_vec();
    let mut dirs = vec!["src".to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(console.join(&dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let rel = format!("{dir}/{}", entry.file_name().to_string_lossy());
            if entry.path().is_dir() {
                dirs.push(rel);
            } else {
                files.push(rel);
            }
        }
    }
    files.sort();
    files
}

/// The record `build.mjs` writes for the console's current inputs.
pub fn record(console: &Path) -> String {
    inputs(console)
        .iter()
        .map(|f| {
            let bytes = std::fs::read(console.join(f)).unwrap_or_default();
            let hex: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{hex}  {f}\n")
        })
        .collect()
}

/// The inputs whose hash differs between two records (changed, added or removed), sorted.
pub fn changed_inputs(recorded: &str, fresh: &str) -> Vec<String> {
    let parse = |record: &str| -> std::collections::BTreeMap<String, String> {
        record
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(hash, file)| (file.to_owned(), hash.to_owned()))
            .collect()
    };
    let (old, new) = (parse(recorded), parse(fresh));
    let mut files: Vec<String> = old.keys().chain(new.keys()).cloned().collect();
    files.sort();
    files.dedup();
    files.retain(|f| old.get(f) != new.get(f));
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_added_and_removed_inputs_are_named() {
        let recorded = "aa  build.mjs\nbb  src/main.ts\ncc  src/old.ts\n";
        let fresh = "aa  build.mjs\nbd  src/main.ts\ndd  src/new.ts\n";
        assert_eq!(
            changed_inputs(recorded, fresh),
            ["src/main.ts", "src/new.ts", "src/old.ts"]
        );
        assert!(changed_inputs(fresh, fresh).is_empty());
    }

    #[test]
    fn the_record_hashes_every_input_in_order() {
        let dir = std::env::temp_dir().join(format!("tidy-console-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("src/pages")).unwrap();
        for (file, text) in [
            ("build.mjs", "b"),
            ("package-lock.json", "{}"),
            ("tsconfig.json", ""),
            ("src/main.ts", "m"),
            ("src/pages/a.ts", "a"),
        ] {
            std::fs::write(dir.join(file), text).unwrap();
        }
        let record = record(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        let files: Vec<&str> = record
            .lines()
            .filter_map(|l| l.split_once("  "))
            .map(|(_, f)| f)
            .collect();
        assert_eq!(
            files,
            [
                "build.mjs",
                "package-lock.json",
                "src/main.ts",
                "src/pages/a.ts",
                "tsconfig.json"
            ]
        );
        // sha256("") and sha256("b"), as `sha256sum` prints them.
        assert!(record.contains(
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  tsconfig.json\n"
        ));
        assert!(record.starts_with(
            "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d  build.mjs\n"
        ));
    }
}
