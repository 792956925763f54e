//! Every example in `queries/` runs, through the command line as a user would run it, and
//! prints what its `.out` file says. `NODEFUSION_BLESS=1 cargo test queries::`
//! rewrites the `.out` files (review the diff before committing).

use std::path::PathBuf;
use std::process::Command;

#[test]
fn every_example_query_prints_its_expected_output() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut queries: Vec<PathBuf> = std::fs::read_dir(root.join("queries"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    queries.sort();
    assert!(!queries.is_empty());
    let bless = std::env::var_os("NODEFUSION_BLESS").is_some();
    let mut mismatches = Vec::new();
    for query in &queries {
        let output = Command::new(env!("CARGO_BIN_EXE_nodefusion"))
            .args(["sql", "-f"])
            .arg(query)
            .current_dir(&root)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            query.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        let actual = String::from_utf8(output.stdout).unwrap();
        let expected_path = query.with_extension("out");
        if bless {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if actual != expected {
            mismatches.push(format!(
                "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
                query.display()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
