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
                pub fn $name(mut self, $name: impl $crate::settings::SettingArgument<$value>) -> Self {
                    self.$layer().$name = Some($name.into_setting());
                    self
                }
            )*
        }
    };
}

pub(crate) use define_setting_builders;

/// What a builder method of a setting takes: the setting's value, or for `batch_size` a
/// number of rows as well (`.batch_size(64)`, `.batch_size(BatchSize::Auto)`).
pub trait SettingArgument<T> {
    /// The setting's value.
    fn into_setting(self) -> T;
}

impl<T> SettingArgument<T> for T {
    fn into_setting(self) -> T {
        self
    }
}

impl SettingArgument<super::BatchSize> for usize {
    fn into_setting(self) -> super::BatchSize {
        super::BatchSize::Rows(self)
    }
}
