//! Just enough of a Rust lexer for the tidy checks: identifiers, punctuation and string
//! literals with their lines; comments dropped, so that a path in a comment or a doc link names
//! nothing, and string contents kept apart, so that `"crate::x"` is not a path either.

/// What a token is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    /// An identifier or keyword (`r#` stripped from raw identifiers).
    Ident(String),
    /// One punctuation character (`::` is two `:`).
    Punct(char),
    /// A string literal's contents, escapes left as written.
    Str(String),
    /// A number, a character literal, a lifetime or a label.
    Other,
}

/// A token and the line (1-based) it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its line.
    pub line: usize,
}

/// The tokens of `src`.
pub fn tokenize(src: &str) -> Vec<Token> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let at = |i: usize| chars.get(i).copied().unwrap_or('\0');
    while i < chars.len() {
        let c = chars[i];
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && at(i + 1) == '/' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(chars[i] == '\n');
                    i += 1;
                }
            }
        } else if c == '"' {
            let (text, next) = quoted(&chars, i + 1, &mut line);
            out.push(Token {
                tok: Tok::Str(text),
                line: start_line,
            });
            i = next;
        } else if c == '\'' {
            i = char_or_lifetime(&chars, i);
            out.push(Token {
                tok: Tok::Other,
                line: start_line,
            });
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Other,
                line: start_line,
            });
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if prefix && (at(i) == '"' || (at(i) == '#' && raw_string_follows(&chars, i))) {
                let (text, next) = raw_string(&chars, i, &mut line);
                out.push(Token {
                    tok: Tok::Str(text),
                    line: start_line,
                });
                i = next;
            } else if word == "r" && at(i) == '#' {
                // A raw identifier: `r#type`.
                let start = i + 1;
                i = start;
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                out.push(Token {
                    tok: Tok::Ident(chars[start..i].iter().collect()),
                    line: start_line,
                });
            } else if matches!(word.as_str(), "b" | "c") && at(i) == '"' {
                let (text, next) = quoted(&chars, i + 1, &mut line);
                out.push(Token {
                    tok: Tok::Str(text),
                    line: start_line,
                });
                i = next;
            } else if word == "b" && at(i) == '\'' {
                i = char_or_lifetime(&chars, i);
                out.push(Token {
                    tok: Tok::Other,
                    line: start_line,
                });
            } else {
                out.push(Token {
                    tok: Tok::Ident(word),
                    line: start_line,
                });
            }
        } else {
            out.push(Token {
                tok: Tok::Punct(c),
                line: start_line,
            });
            i += 1;
        }
    }
    out
}

/// A `"`-delimited string from just after its opening quote: its text and the index after it.
fn quoted(chars: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
    let start = i;
    while i < chars.len() && chars[i] != '"' {
        if chars[i] == '\\' {
            i += 1;
        }
        if chars.get(i) == Some(&'\n') {
            *line += 1;
        }
        i += 1;
    }
    let end = i.min(chars.len());
    (chars[start..end].iter().collect(), i + 1)
}

/// Whether `#`s then `"` start at `i` (a raw string, not a raw identifier).
fn raw_string_follows(chars: &[char], mut i: usize) -> bool {
    while chars.get(i) == Some(&'#') {
        i += 1;
    }
    chars.get(i) == Some(&'"')
}

/// A raw string from its `#`s (or quote): its text and the index after it.
fn raw_string(chars: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
    let mut hashes = 0;
    while chars.get(i) == Some(&'#') {
        hashes += 1;
        i += 1;
    }
    i += 1; // the opening quote
    let start = i;
    while i < chars.len() {
        if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
            return (chars[start..i].iter().collect(), i + 1 + hashes);
        }
        *line += usize::from(chars[i] == '\n');
        i += 1;
    }
    (chars[start..].iter().collect(), i)
}

/// Skips a character literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime/label (`'a`) at the
/// quote at `i`; the index after it.
fn char_or_lifetime(chars: &[char], i: usize) -> usize {
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    if at(i + 1) == '\\' {
        let mut k = i + 3;
        while k < chars.len() && chars[k] != '\'' && chars[k] != '\n' {
            k += 1;
        }
        return k + 1;
    }
    if at(i + 2) == '\'' {
        return i + 3;
    }
    let mut k = i + 1;
    while k < chars.len() && (chars[k].is_alphanumeric() || chars[k] == '_') {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idents(src: &str) -> Vec<String> {
        tokenize(src)
            .into_iter()
            .filter_map(|t| match t.tok {
                Tok::Ident(s) => Some(s),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn comments_strings_and_chars_hide_their_contents() {
        let src = "// crate::a\n/* crate::b /* nested */ crate::c */ let s = \"crate::d\\\"\";\n\
                   let r = r#\"crate::e\"#; let q = '\"'; let l: &'static str = b\"x\"; fn f<'a>() {}";
        let words = idents(src);
        assert!(!words.iter().any(|w| w == "crate"), "{words:?}");
        assert_eq!(
            words,
            ["let", "s", "let", "r", "let", "q", "let", "l", "str", "fn", "f"]
        );
        let strings: Vec<Tok> = tokenize(src)
            .into_iter()
            .map(|t| t.tok)
            .filter(|t| matches!(t, Tok::Str(_)))
            .collect();
        assert_eq!(
            strings,
            [
                Tok::Str("crate::d\\\"".into()),
                Tok::Str("crate::e".into()),
                Tok::Str("x".into())
            ]
        );
    }

    #[test]
    fn lines_count_across_comments_and_strings() {
        let tokens = tokenize("/* one\ntwo */ a \"x\ny\" b\nr#c");
        let lines: Vec<(Tok, usize)> = tokens.into_iter().map(|t| (t.tok, t.line)).collect();
        assert_eq!(
            lines,
            [
                (Tok::Ident("a".into()), 2),
                (Tok::Str("x\ny".into()), 2),
                (Tok::Ident("b".into()), 3),
                (Tok::Ident("c".into()), 4),
            ]
        );
    }
}
