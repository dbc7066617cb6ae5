//! The boundary every call crosses: errors become JS `Error`s with a stable `code`,
//! and no panic reaches JavaScript.
//!
//! - A method body returns [`Out`]: engine errors keep their kind; napi errors (a value
//!   that did not convert) become `INVALID_ARGUMENT`. [`guard`] runs the body, catches
//!   a panic as `INTERNAL_ERROR`, and throws the result with its code. Every `#[napi]`
//!   function, method, getter and task step runs inside `guard` (tasks' `compute` inside
//!   [`guard_engine`]).
//! - Arguments napi-rs converts before the body runs are declared as [`Arg<T>`], whose
//!   conversion failures are thrown as `INVALID_ARGUMENT` too.

use std::panic::{catch_unwind, AssertUnwindSafe};

use napi::bindgen_prelude::*;
use napi::{Env, Status};

/// Why a call failed, before it is thrown to JS.
pub enum Failure {
    /// An engine error, with its kind.
    Engine(vh5::Error),
    /// A napi error: a conversion that failed (`INVALID_ARGUMENT`), or a JS exception
    /// already pending (thrown as it is).
    Napi(napi::Error),
}

impl From<vh5::Error> for Failure {
    fn from(e: vh5::Error) -> Self {
        Failure::Engine(e)
    }
}

impl From<napi::Error> for Failure {
    fn from(e: napi::Error) -> Self {
        Failure::Napi(e)
    }
}

/// What a binding method body returns.
pub type Out<T> = std::result::Result<T, Failure>;

/// `INVALID_ARGUMENT` with `msg`.
pub fn invalid(msg: impl Into<String>) -> vh5::Error {
    vh5::Error::new(vh5::ErrorKind::InvalidArgument, msg)
}

/// The engine error a napi error stands for: `INVALID_ARGUMENT` (what reaches here is
/// a JS value napi-rs could not convert, or a JS object that could not be made).
fn from_napi(e: &napi::Error) -> vh5::Error {
    invalid(e.reason.clone())
}

/// Turns an engine error into a JS `Error` with `code` set, ready to throw.
pub fn js_err(env: &Env, e: &vh5::Error) -> napi::Error {
    js_err_raw(env.raw(), e)
}

fn js_err_raw(env: napi::sys::napi_env, e: &vh5::Error) -> napi::Error {
    let build = || -> napi::Result<napi::Error> {
        let env = Env::from_raw(env);
        let mut obj =
            env.create_error(napi::Error::new(Status::GenericFailure, e.message.clone()))?;
        obj.set_named_property("code", e.code())?;
        Ok(napi::Error::from(obj.to_unknown()))
    };
    build().unwrap_or_else(|_| {
        napi::Error::new(
            Status::GenericFailure,
            format!("{}: {}", e.code(), e.message),
        )
    })
}

impl Failure {
    /// The JS error to throw.
    pub fn into_js(self, env: &Env) -> napi::Error {
        match self {
            Failure::Engine(e) => js_err(env, &e),
            Failure::Napi(e) if e.status == Status::PendingException => e,
            Failure::Napi(e) => js_err(env, &from_napi(&e)),
        }
    }
}

/// The `INTERNAL_ERROR` a caught panic becomes.
pub fn panic_error(payload: Box<dyn std::any::Any + Send>) -> vh5::Error {
    let why = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    vh5::Error::new(
        vh5::ErrorKind::InternalError,
        format!("the call failed on an internal error ({why}): close and reopen the file before writing again, and please report the steps that led to it"),
    )
}

/// Runs a method body: its error is thrown with its code, a panic as
/// `INTERNAL_ERROR`.
pub fn guard<T>(env: &Env, body: impl FnOnce() -> Out<T>) -> napi::Result<T> {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(f)) => Err(f.into_js(env)),
        Err(p) => Err(js_err(env, &panic_error(p))),
    }
}

/// Runs engine work off the JS thread (a task's `compute`): a panic becomes
/// `INTERNAL_ERROR`, returned like any engine error.
pub fn guard_engine<T>(work: impl FnOnce() -> vh5::Result<T>) -> vh5::Result<T> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|p| Err(panic_error(p)))
}

/// An argument napi-rs converts to `T` before the method runs; a value that does not
/// convert is thrown as `INVALID_ARGUMENT` (declare its TypeScript type with
/// `#[napi(ts_arg_type = "...")]`).
pub struct Arg<T>(pub T);

impl<T: FromNapiValue> FromNapiValue for Arg<T> {
    unsafe fn from_napi_value(
        env: napi::sys::napi_env,
        value: napi::sys::napi_value,
    ) -> napi::Result<Self> {
        // SAFETY: forwarded unchanged from the call napi-rs makes for this argument.
        match unsafe { T::from_napi_value(env, value) } {
            Ok(v) => Ok(Arg(v)),
            Err(e) => {
                let mut pending = false;
                // SAFETY: `env` is the running call's; `pending` is a valid out-pointer.
                unsafe { napi::sys::napi_is_exception_pending(env, &mut pending) };
                if pending {
                    // A getter or `toString` of the value threw: take that exception
                    // back, so the coded error can be thrown instead.
                    let mut exception = std::ptr::null_mut();
                    // SAFETY: as above; an exception is pending.
                    unsafe { napi::sys::napi_get_and_clear_last_exception(env, &mut exception) };
                }
                Err(js_err_raw(env, &from_napi(&e)))
            }
        }
    }
}

impl<T: TypeName> TypeName for Arg<T> {
    fn type_name() -> &'static str {
        T::type_name()
    }

    fn value_type() -> ValueType {
        T::value_type()
    }
}
