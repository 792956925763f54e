//! `nodefusion functions`: every function a query or a pipeline node can call, nodefusion's
//! own first, each with its signature and the first sentence of its description.

use std::collections::BTreeMap;

use datafusion::logical_expr::Documentation;
use nodefusion::new_context;

fn first_sentence(text: &str) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("");
    match line.find(". ") {
        Some(end) => line[..=end].to_string(),
        None => line.to_string(),
    }
}

fn describe(name: &str, documentation: Option<&Documentation>) -> (String, String) {
    match documentation {
        Some(doc) => (doc.syntax_example.clone(), first_sentence(&doc.description)),
        None => (format!("{name}(...)"), String::new()),
    }
}

fn print_section(title: &str, rows: BTreeMap<String, (String, String)>) -> std::io::Result<()> {
    out!("{title} ({}):", rows.len())?;
    let width = rows
        .values()
        .map(|(syntax, _)| syntax.len())
        .max()
        .unwrap_or(0)
        .min(48);
    for (syntax, description) in rows.values() {
        out!("  {syntax:<width$}  {description}")?;
    }
    out!()
}

/// Prints every function.
pub fn list() -> anyhow::Result<()> {
    let ctx = new_context()?;
    let state = ctx.state();
    let ours: BTreeMap<String, (String, String)> = nodefusion_udfs::all_functions()
        .iter()
        .map(|udf| {
            (
                udf.name().to_string(),
                describe(udf.name(), udf.documentation()),
            )
        })
        .collect();
    let scalar = state
        .scalar_functions()
        .iter()
        .filter(|(name, _)| !ours.contains_key(*name))
        .map(|(name, udf)| (name.clone(), describe(name, udf.documentation())))
        .collect();
    let aggregate = state
        .aggregate_functions()
        .iter()
        .map(|(name, udaf)| (name.clone(), describe(name, udaf.documentation())))
        .collect();
    let window = state
        .window_functions()
        .iter()
        .map(|(name, udwf)| (name.clone(), describe(name, udwf.documentation())))
        .collect();
    print_section("nodefusion functions", ours)?;
    print_section("DataFusion scalar functions", scalar)?;
    print_section("DataFusion aggregate functions", aggregate)?;
    print_section("DataFusion window functions", window)?;
    Ok(())
}
