//! `Attributes`: the attributes of a version, group or dataset.

use napi::bindgen_prelude::*;
use napi::Env;

use crate::convert::{attr_from_js, attr_to_js, AttrJs};
use crate::guard::{guard, Arg, Out};

/// Attributes of a version, group or dataset. Values are numbers, bigints, booleans,
/// strings, or arrays of them. Writable only while the version is being staged.
#[napi]
pub struct Attributes {
    view: vh5::View,
    path: String,
}

impl Attributes {
    pub(crate) fn new(view: vh5::View, path: String) -> Self {
        Attributes { view, path }
    }

    /// The staged version, or `READ_ONLY` for a committed one.
    fn stage(&self) -> Out<&vh5::StagedVersion> {
        match &self.view {
            vh5::View::Staged(stage) => Ok(stage),
            vh5::View::Committed { version, .. } => Err(vh5::Error::new(
                vh5::ErrorKind::ReadOnly,
                format!("version '{version}' is committed: set attributes while staging a version"),
            )
            .into()),
        }
    }
}

#[napi]
impl Attributes {
    /// Attribute names, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        guard(env, || {
            let mut k: Vec<String> = self
                .view
                .attrs(&self.path)?
                .into_iter()
                .map(|(k, _)| k)
                .collect();
            k.sort();
            Ok(k)
        })
    }

    /// Whether the attribute exists.
    #[napi]
    pub fn has(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Arg<String>,
    ) -> Result<bool> {
        guard(env, || {
            Ok(self
                .view
                .attrs(&self.path)?
                .iter()
                .any(|(k, _)| *k == name.0))
        })
    }

    /// The attribute's value, or `undefined`.
    #[napi(
        ts_return_type = "number | bigint | boolean | string | Array<number | bigint | boolean> | string[] | undefined"
    )]
    pub fn get(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Arg<String>,
    ) -> Result<Either<AttrJs, Undefined>> {
        guard(env, || {
            Ok(
                match self
                    .view
                    .attrs(&self.path)?
                    .into_iter()
                    .find(|(k, _)| *k == name.0)
                {
                    Some((_, v)) => Either::A(attr_to_js(v)),
                    None => Either::B(()),
                },
            )
        })
    }

    /// All attributes as a plain object.
    #[napi(
        ts_return_type = "Record<string, number | bigint | boolean | string | Array<number | bigint | boolean> | string[]>"
    )]
    pub fn to_object(&self, env: &Env) -> Result<std::collections::HashMap<String, AttrJs>> {
        guard(env, || {
            Ok(self
                .view
                .attrs(&self.path)?
                .into_iter()
                .map(|(k, v)| (k, attr_to_js(v)))
                .collect())
        })
    }

    /// Sets an attribute (staging only; committed versions throw `READ_ONLY`).
    #[napi]
    pub fn set(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Arg<String>,
        #[napi(
            ts_arg_type = "number | bigint | boolean | string | Array<number | bigint | boolean> | string[]"
        )]
        value: Arg<AttrJs>,
    ) -> Result<()> {
        guard(env, || {
            let stage = self.stage()?;
            let v = attr_from_js(value.0)?;
            Ok(stage.set_attr(&self.path, &name.0, v)?)
        })
    }

    /// Deletes an attribute; returns whether it existed (staging only).
    #[napi]
    pub fn delete(
        &self,
        env: &Env,
        #[napi(ts_arg_type = "string")] name: Arg<String>,
    ) -> Result<bool> {
        guard(env, || {
            Ok(self.stage()?.delete_attr(&self.path, &name.0)?)
        })
    }
}
