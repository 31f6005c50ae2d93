//! The report of a one-shot command (`send`, `import dinky`, `migrate`): the lines it prints and
//! its exit code. The commands build one and `main` prints it and exits with its code.

/// What a one-shot command prints and its exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Lines for standard output.
    pub stdout: Vec<String>,
    /// Lines for standard error.
    pub stderr: Vec<String>,
    /// The exit code (see [`crate::exit`]).
    pub code: u8,
}

impl Report {
    /// Nothing on standard output, `error: {message}` on standard error, and `code`.
    pub fn error(code: u8, message: impl std::fmt::Display) -> Self {
        Self {
            stdout: Vec::new(),
            stderr: vec![format!("error: {message}")],
            code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_one_line_on_stderr_with_its_code() {
        assert_eq!(
            Report::error(crate::exit::INVALID_INPUT, "--to: empty database URL"),
            Report {
                stdout: vec![],
                stderr: vec!["error: --to: empty database URL".to_owned()],
                code: 2,
            }
        );
    }
}
