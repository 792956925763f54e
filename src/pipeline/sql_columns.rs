//! The columns a SQL expression node reads, found in its syntax tree before any schema is
//! known, so that SQL nodes are wired by name like every other node.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{Expr, Ident, visit_expressions};
use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::Parser;

/// The column names `expression` refers to, in order of first appearance. Unquoted names
/// are lowercased, as DataFusion does; quoted ones are kept as written.
pub fn referenced_columns(expression: &str) -> Result<Vec<String>, String> {
    let parsed = Parser::new(&GenericDialect {})
        .try_with_sql(expression)
        .and_then(|mut parser| parser.parse_expr())
        .map_err(|error| format!("cannot parse SQL expression '{expression}': {error}"))?;
    let mut columns: Vec<String> = Vec::new();
    let mut remember = |ident: &Ident| {
        let name = match ident.quote_style {
            Some(_) => ident.value.clone(),
            None => ident.value.to_lowercase(),
        };
        if !columns.contains(&name) {
            columns.push(name);
        }
    };
    let _ = visit_expressions(&parsed, |expr| {
        match expr {
            Expr::Identifier(ident) => remember(ident),
            Expr::CompoundIdentifier(parts) => {
                if let Some(first) = parts.first() {
                    remember(first);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_columns_but_not_functions_or_literals() {
        assert_eq!(
            referenced_columns("words < 50 AND upper(Title) <> 'x'").unwrap(),
            vec!["words", "title"]
        );
    }

    #[test]
    fn keeps_quoted_names_and_reads_struct_access_roots() {
        assert_eq!(
            referenced_columns("\"Score\" + r['status']").unwrap(),
            vec!["Score", "r"]
        );
    }

    #[test]
    fn a_syntax_error_is_reported() {
        let error = referenced_columns("words <").unwrap_err();
        assert!(error.contains("cannot parse SQL expression"), "{error}");
    }
}
