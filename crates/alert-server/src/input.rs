//! Reading `JSON|@FILE` arguments, with errors that say which argument and where.

use std::io::Read as _;
use std::path::PathBuf;

use serde::de::DeserializeOwned;

use crate::cli::Source;

/// A bad command-line input: which argument and why.
#[derive(Debug, thiserror::Error)]
#[error("--{arg}: {message}")]
pub struct InputError {
    /// The argument's name without dashes.
    pub arg: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Reads `raw` (inline JSON, `@FILE` or `@-`) and parses it as `T`.
pub fn read_json<T: DeserializeOwned>(arg: &'static str, raw: &str) -> Result<T, InputError> {
    let (text, source) = read_text(arg, raw)?;
    serde_json::from_str(&text).map_err(|e| {
        let from = match &source {
            Source::Inline => String::new(),
            Source::File(p) => format!(" in {}", p.display()),
            Source::Stdin => " on stdin".to_owned(),
        };
        InputError {
            arg,
            message: format!("invalid{from}: {e}"),
        }
    })
}

fn read_text(arg: &'static str, raw: &str) -> Result<(String, Source), InputError> {
    match raw.strip_prefix('@') {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| InputError {
                    arg,
                    message: format!("cannot read stdin: {e}"),
                })?;
            Ok((text, Source::Stdin))
        }
        Some(path) => {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path).map_err(|e| InputError {
                arg,
                message: format!("cannot read {}: {e}", path.display()),
            })?;
            Ok((text, Source::File(path)))
        }
        None => Ok((raw.to_owned(), Source::Inline)),
    }
}
