//! `Attributes`: the attributes of a version, group or dataset.

use napi::bindgen_prelude::*;
use napi::Env;

use crate::convert::{attr_from_js, attr_to_js, js_err, AttrJs, OrJs};

#[derive(Clone)]
enum Owner {
    Committed {
        file: vh5::VersionedFile,
        version: String,
    },
    Staged {
        stage: vh5::StagedVersion,
    },
}

/// Attributes of a version, group or dataset. Values are numbers, bigints, booleans,
/// strings, or arrays of them. Writable only while the version is being staged.
#[napi(js_name = "Attributes")]
pub struct JsAttributes {
    owner: Owner,
    path: String,
}

impl JsAttributes {
    pub(crate) fn committed(file: vh5::VersionedFile, version: String, path: String) -> Self {
        JsAttributes {
            owner: Owner::Committed { file, version },
            path,
        }
    }

    pub(crate) fn staged(stage: vh5::StagedVersion, path: String) -> Self {
        JsAttributes {
            owner: Owner::Staged { stage },
            path,
        }
    }

    fn all(&self) -> vh5::Result<vh5::Attrs> {
        match &self.owner {
            Owner::Committed { file, version } => file.attrs(version, &self.path),
            Owner::Staged { stage } => stage.attrs(&self.path),
        }
    }

    fn staged_or_read_only(&self, env: &Env) -> Result<&vh5::StagedVersion> {
        match &self.owner {
            Owner::Staged { stage } => Ok(stage),
            Owner::Committed { version, .. } => Err(js_err(
                env,
                vh5::Error::new(
                    vh5::ErrorKind::ReadOnly,
                    format!(
                        "version '{version}' is committed: set attributes while staging a version"
                    ),
                ),
            )),
        }
    }
}

#[napi]
impl JsAttributes {
    /// Attribute names, sorted.
    #[napi]
    pub fn keys(&self, env: &Env) -> Result<Vec<String>> {
        let mut k: Vec<String> = self.all().js(env)?.into_iter().map(|(k, _)| k).collect();
        k.sort();
        Ok(k)
    }

    /// Whether the attribute exists.
    #[napi]
    pub fn has(&self, env: &Env, name: String) -> Result<bool> {
        Ok(self.all().js(env)?.iter().any(|(k, _)| *k == name))
    }

    /// The attribute's value, or `undefined`.
    #[napi(
        ts_return_type = "number | bigint | boolean | string | Array<number | bigint | boolean> | string[] | undefined"
    )]
    pub fn get(&self, env: &Env, name: String) -> Result<Either<AttrJs, Undefined>> {
        Ok(
            match self.all().js(env)?.into_iter().find(|(k, _)| *k == name) {
                Some((_, v)) => Either::A(attr_to_js(v)),
                None => Either::B(()),
            },
        )
    }

    /// All attributes as a plain object.
    #[napi(
        ts_return_type = "Record<string, number | bigint | boolean | string | Array<number | bigint | boolean> | string[]>"
    )]
    pub fn to_object(&self, env: &Env) -> Result<std::collections::HashMap<String, AttrJs>> {
        Ok(self
            .all()
            .js(env)?
            .into_iter()
            .map(|(k, v)| (k, attr_to_js(v)))
            .collect())
    }

    /// Sets an attribute (staging only; committed versions throw `READ_ONLY`).
    #[napi(
        ts_args_type = "name: string, value: number | bigint | boolean | string | Array<number | bigint | boolean> | string[]"
    )]
    pub fn set(&self, env: &Env, name: String, value: AttrJs) -> Result<()> {
        let stage = self.staged_or_read_only(env)?;
        let v = attr_from_js(value).js(env)?;
        stage.set_attr(&self.path, &name, v).js(env)
    }

    /// Deletes an attribute; returns whether it existed (staging only).
    #[napi]
    pub fn delete(&self, env: &Env, name: String) -> Result<bool> {
        let stage = self.staged_or_read_only(env)?;
        stage.delete_attr(&self.path, &name).js(env)
    }
}
