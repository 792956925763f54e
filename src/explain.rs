//! What `nodefusion explain` prints: the pipeline's DAG as text and as a Mermaid
//! flowchart, and the DataFusion logical and physical plans it compiles into.

use std::fmt::Write;

use datafusion::physical_plan::displayable;

use crate::compile::CompiledPipeline;
use crate::pipeline::{PipelineGraph, ResolvedCall, ResolvedNode};

fn node_line(node: &ResolvedNode) -> String {
    format!(
        "{}: {} -> {}  [{}, batch_size={}]",
        node.path,
        node.describe(),
        node.output,
        node.runs_as(),
        node.settings.batch_size
    )
}

/// The DAG as text: input, nodes in the order they run, pruned nodes, outputs.
pub fn dag_text(graph: &PipelineGraph, input: &str) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "pipeline {}", graph.name);
    let _ = writeln!(text, "input: {input} [{}]", graph.input_columns.join(", "));
    let _ = writeln!(
        text,
        "nodes, in the order they run ({} partitions):",
        graph.defaults.effective_partitions()
    );
    for node in &graph.nodes {
        let _ = writeln!(text, "  {}", node_line(node));
    }
    if !graph.pruned.is_empty() {
        let _ = writeln!(text, "pruned (no requested output needs them):");
        for node in &graph.pruned {
            let _ = writeln!(text, "  {}", node_line(node));
        }
    }
    let _ = writeln!(text, "outputs: {}", graph.outputs.join(", "));
    text
}

/// The DAG as a Mermaid flowchart: a box per node, an edge per column read.
pub fn dag_mermaid(graph: &PipelineGraph) -> String {
    let all: Vec<&ResolvedNode> = graph.nodes.iter().chain(&graph.pruned).collect();
    let id = |column: &str| {
        all.iter()
            .position(|node| node.output == column)
            .map_or_else(|| "input".to_string(), |index| format!("n{index}"))
    };
    let label = |text: &str| text.replace('"', "#quot;");
    let mut chart = String::from("flowchart LR\n  input[(\"input\")]\n");
    for (index, node) in all.iter().enumerate() {
        let pruned = if index >= graph.nodes.len() {
            ":::pruned"
        } else {
            ""
        };
        let function = match &node.call {
            ResolvedCall::Function { udf, .. } => udf.name().to_string(),
            ResolvedCall::Sql { expression, .. } => expression.clone(),
        };
        let _ = writeln!(
            chart,
            "  n{index}[\"{}<br/>{}\"]{pruned}",
            label(&node.path),
            label(&function)
        );
    }
    let _ = writeln!(chart, "  output[(\"output\")]");
    for (index, node) in all.iter().enumerate() {
        for input in &node.inputs {
            let _ = writeln!(chart, "  {} -->|{}| n{index}", id(input), label(input));
        }
    }
    for output in &graph.outputs {
        let _ = writeln!(chart, "  {} -->|{}| output", id(output), label(output));
    }
    chart.push_str("  classDef pruned stroke-dasharray: 5 5,opacity:0.5\n");
    chart
}

/// Everything `nodefusion explain` prints for a compiled pipeline.
pub fn explain(compiled: &CompiledPipeline) -> String {
    let graph = compiled.graph();
    format!(
        "== DAG ==\n{}\n== Mermaid ==\n{}\n== Logical plan ==\n{}\n\n== Physical plan ==\n{}",
        dag_text(graph, &compiled.input().to_string()),
        dag_mermaid(graph),
        compiled.logical_plan().display_indent(),
        displayable(compiled.physical_plan().as_ref()).indent(true)
    )
}
