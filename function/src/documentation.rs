//! Documentation for nodefusion functions: the sections `nodefusion functions` groups them
//! by, and a one-line description for functions a user builds in code.

use datafusion::logical_expr::{DocSection, Documentation};

/// Built-in text functions.
pub const DOC_SECTION_TEXT: DocSection = DocSection {
    include: true,
    label: "nodefusion text functions",
    description: None,
};

/// Built-in vector functions.
pub const DOC_SECTION_VECTOR: DocSection = DocSection {
    include: true,
    label: "nodefusion vector functions",
    description: None,
};

/// Built-in embedding functions.
pub const DOC_SECTION_EMBEDDING: DocSection = DocSection {
    include: true,
    label: "nodefusion embedding functions",
    description: None,
};

/// Functions a user builds in code.
pub const DOC_SECTION_USER: DocSection = DocSection {
    include: true,
    label: "user functions",
    description: None,
};

/// Documentation of a user function `name` that says only what it does.
pub fn describe(name: &str, description: impl Into<String>) -> Documentation {
    Documentation::builder(DOC_SECTION_USER, description, format!("{name}(...)")).build()
}
