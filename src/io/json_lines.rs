//! The first line of a newline-delimited JSON file that is not a JSON object, by number:
//! Arrow's JSON reader says what is wrong with a line but not which line of which file.

use std::io::{BufRead, BufReader};
use std::path::Path;

/// `line N: what is wrong` for the first line of `file` (counted from 1) that is neither
/// blank nor a JSON object; `None` when every line is one, or the file cannot be read.
pub fn first_bad_json_line(file: &Path) -> Option<String> {
    let reader = BufReader::new(std::fs::File::open(file).ok()?);
    for (index, line) in reader.split(b'\n').enumerate() {
        let line = line.ok()?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let number = index + 1;
        match serde_json::from_slice::<serde_json::Value>(&line) {
            Ok(value) if value.is_object() => {}
            Ok(value) => {
                let found = match value {
                    serde_json::Value::Array(_) => "an array",
                    serde_json::Value::String(_) => "a string",
                    serde_json::Value::Number(_) => "a number",
                    serde_json::Value::Bool(_) => "a boolean",
                    _ => "null",
                };
                return Some(format!("line {number}: {found}, not a JSON object"));
            }
            Err(error) => {
                let text = error.to_string();
                let what = text.split(" at line ").next().unwrap_or(&text);
                return Some(format!("line {number}: {what} (column {})", error.column()));
            }
        }
    }
    None
}
