//! The builder methods of the node settings, one per setting, for the types that carry a
//! settings layer (`Node`, `Pipeline`): `Node::function(...).batch_size(64)`.

/// Given `[Type, layer]` and the declaration's entries, adds to `Type` one builder method
/// per setting that sets it in the layer `Type::layer(&mut self)` returns.
macro_rules! define_setting_builders {
    ([$target:ty, $layer:ident] $($name:ident : $value:ty => $resolved:ty = $builtin:expr,
        $check:ident, $default:literal, $doc:literal;)*) => {
        impl $target {
            $(
                #[doc = $doc]
                #[doc = ""]
                #[doc = concat!("Default: ", $default, ".")]
                pub fn $name(mut self, $name: $value) -> Self {
                    self.$layer().$name = Some($name);
                    self
                }
            )*
        }
    };
}

pub(crate) use define_setting_builders;
