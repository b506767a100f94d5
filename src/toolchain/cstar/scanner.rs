//! The scanner: source text → `Token`s with their positions.
//!
//! `scan` walks the bytes once. It skips white space, `//` and `/* */`
//! comments, and preprocessor lines (a `#` first on a line, e.g.
//! `#include`), so that files written for a C compiler scan unchanged.
//! Malformed tokens are reported and skipped; the token list always ends
//! with `Token::End`.
//!
//! Three predefined names of C are replaced here, as a C preprocessor
//! would: `__LINE__` becomes the integer of its line, `__FILE__` the
//! string of the file's name, and `__func__` the token `Func`, which the
//! parser turns into the name of the procedure it is in (selfie's
//! `assert(..., __LINE__, __func__)`).

use super::errors::{Diagnostics, Pos};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Token {
    Identifier(String),
    /// Integer and character literals (a character is its byte value).
    Integer(u64),
    /// A string literal's bytes, without the terminating NUL.
    Str(Vec<u8>),
    // Keywords of docs/spec/cstar.md, and the C type words selfie reads as uint64_t.
    Uint64,
    Void,
    Sizeof,
    If,
    Else,
    While,
    Return,
    Int,
    Char,
    Unsigned,
    Long,
    Const,
    // Punctuation.
    LParen,
    RParen,
    LBrace,
    RBrace,
    Semicolon,
    Comma,
    Ellipsis,
    /// `__func__`: the name of the enclosing procedure, as a string.
    Func,
    Assign,
    Eq,
    NotEq,
    Less,
    LessEq,
    Greater,
    GreaterEq,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    End,
}

impl Token {
    /// How the token reads in a message ("'('", "identifier 'x'").
    pub fn describe(&self) -> String {
        match self {
            Token::Identifier(name) => format!("identifier '{name}'"),
            Token::Integer(n) => format!("integer {n}"),
            Token::Str(_) => "string literal".to_string(),
            Token::End => "end of file".to_string(),
            other => format!("'{}'", other.spelling()),
        }
    }

    fn spelling(&self) -> &'static str {
        match self {
            Token::Uint64 => "uint64_t",
            Token::Void => "void",
            Token::Sizeof => "sizeof",
            Token::If => "if",
            Token::Else => "else",
            Token::While => "while",
            Token::Return => "return",
            Token::Int => "int",
            Token::Char => "char",
            Token::Unsigned => "unsigned",
            Token::Long => "long",
            Token::Const => "const",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::LBrace => "{",
            Token::RBrace => "}",
            Token::Semicolon => ";",
            Token::Comma => ",",
            Token::Ellipsis => "...",
            Token::Func => "__func__",
            Token::Assign => "=",
            Token::Eq => "==",
            Token::NotEq => "!=",
            Token::Less => "<",
            Token::LessEq => "<=",
            Token::Greater => ">",
            Token::GreaterEq => ">=",
            Token::Plus => "+",
            Token::Minus => "-",
            Token::Star => "*",
            Token::Slash => "/",
            Token::Percent => "%",
            Token::Identifier(_) | Token::Integer(_) | Token::Str(_) | Token::End => "?",
        }
    }
}

fn keyword(word: &str) -> Option<Token> {
    Some(match word {
        "uint64_t" => Token::Uint64,
        "void" => Token::Void,
        "sizeof" => Token::Sizeof,
        "if" => Token::If,
        "else" => Token::Else,
        "while" => Token::While,
        "return" => Token::Return,
        "int" => Token::Int,
        "char" => Token::Char,
        "unsigned" => Token::Unsigned,
        "long" => Token::Long,
        "const" => Token::Const,
        _ => return None,
    })
}

struct Scanner<'a> {
    text: &'a [u8],
    /// The file's name, for `__FILE__`.
    name: &'a str,
    at: usize,
    line: u32,
    column: u32,
    file: u32,
}

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn peek2(&self) -> Option<u8> {
        self.text.get(self.at + 1).copied()
    }

    fn bump(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.at += 1;
        if c == b'\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn pos(&self) -> Pos {
        Pos {
            file: self.file,
            line: self.line,
            column: self.column,
        }
    }

    /// Skips white space, comments and preprocessor lines.
    fn skip_blank(&mut self, diags: &mut Diagnostics) {
        let mut line_start = self.column == 1;
        loop {
            match (self.peek(), self.peek2()) {
                (Some(b'\n'), _) => {
                    self.bump();
                    line_start = true;
                }
                (Some(c), _) if c.is_ascii_whitespace() => {
                    self.bump();
                }
                (Some(b'#'), _) if line_start => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                (Some(b'/'), Some(b'/')) => {
                    while !matches!(self.peek(), None | Some(b'\n')) {
                        self.bump();
                    }
                }
                (Some(b'/'), Some(b'*')) => {
                    let start = self.pos();
                    self.bump();
                    self.bump();
                    loop {
                        match (self.peek(), self.peek2()) {
                            (None, _) => {
                                diags.error(
                                    start,
                                    "comment is not closed: expected '*/', found end of file",
                                );
                                return;
                            }
                            (Some(b'*'), Some(b'/')) => {
                                self.bump();
                                self.bump();
                                break;
                            }
                            _ => {
                                self.bump();
                            }
                        }
                    }
                    line_start = false;
                }
                _ => return,
            }
        }
    }

    /// One escaped or plain character inside a '...' or "..." literal;
    /// `None` at the end of the line or file.
    fn literal_char(&mut self, diags: &mut Diagnostics) -> Option<u8> {
        let pos = self.pos();
        match self.peek() {
            None | Some(b'\n') => None,
            Some(b'\\') => {
                self.bump();
                let c = match self.peek() {
                    None | Some(b'\n') => return None,
                    Some(c) => c,
                };
                self.bump();
                Some(match c {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 8,
                    b'0' => 0,
                    b'"' | b'\'' | b'\\' | b'%' => c,
                    _ => {
                        diags.error(
                            pos,
                            format!("unknown escape sequence: expected one of \\n \\t \\r \\b \\0 \\\" \\' \\\\ \\%, found '\\{}'", c as char),
                        );
                        c
                    }
                })
            }
            Some(c) => {
                self.bump();
                Some(c)
            }
        }
    }

    fn number(&mut self, diags: &mut Diagnostics, pos: Pos) -> Token {
        let start = self.at;
        let radix = if self.peek() == Some(b'0') && matches!(self.peek2(), Some(b'x' | b'X')) {
            self.bump();
            self.bump();
            16
        } else {
            10
        };
        let digits_start = self.at;
        while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
            self.bump();
        }
        let digits = String::from_utf8_lossy(&self.text[digits_start..self.at]).into_owned();
        match u64::from_str_radix(&digits, radix) {
            Ok(n) => Token::Integer(n),
            Err(_) => {
                let all = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
                let valid = !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix));
                if valid {
                    diags.error(pos, format!("integer literal {all} is out of range: the largest is 18446744073709551615"));
                } else {
                    diags.error(pos, format!("malformed integer literal '{all}'"));
                }
                Token::Integer(0)
            }
        }
    }

    fn next(&mut self, diags: &mut Diagnostics) -> (Token, Pos) {
        loop {
            self.skip_blank(diags);
            let pos = self.pos();
            let Some(c) = self.peek() else {
                return (Token::End, pos);
            };
            if c.is_ascii_alphabetic() || c == b'_' {
                let start = self.at;
                while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'_') {
                    self.bump();
                }
                let word = String::from_utf8_lossy(&self.text[start..self.at]).into_owned();
                let token = match word.as_str() {
                    "__LINE__" => Token::Integer(u64::from(pos.line)),
                    "__FILE__" => Token::Str(self.name.as_bytes().to_vec()),
                    "__func__" => Token::Func,
                    _ => keyword(&word).unwrap_or(Token::Identifier(word)),
                };
                return (token, pos);
            }
            if c.is_ascii_digit() {
                return (self.number(diags, pos), pos);
            }
            if c == b'\'' {
                self.bump();
                let value = self.literal_char(diags);
                if value.is_some() && self.peek() == Some(b'\'') {
                    self.bump();
                } else {
                    diags.error(
                        pos,
                        "character literal is not closed: expected one character and then '",
                    );
                    while !matches!(self.peek(), None | Some(b'\n' | b'\'' | b';')) {
                        self.bump();
                    }
                    if self.peek() == Some(b'\'') {
                        self.bump();
                    }
                }
                return (Token::Integer(u64::from(value.unwrap_or(0))), pos);
            }
            if c == b'"' {
                self.bump();
                let mut bytes = Vec::new();
                loop {
                    if self.peek() == Some(b'"') {
                        self.bump();
                        break;
                    }
                    match self.literal_char(diags) {
                        Some(b) => bytes.push(b),
                        None => {
                            diags.error(pos, "string literal is not closed: expected '\"' before the end of the line");
                            break;
                        }
                    }
                }
                return (Token::Str(bytes), pos);
            }
            self.bump();
            let two = |s: &mut Self, next: u8, yes: Token, no: Token| {
                if s.peek() == Some(next) {
                    s.bump();
                    yes
                } else {
                    no
                }
            };
            let token = match c {
                b'(' => Token::LParen,
                b')' => Token::RParen,
                b'{' => Token::LBrace,
                b'}' => Token::RBrace,
                b';' => Token::Semicolon,
                b',' => Token::Comma,
                b'+' => Token::Plus,
                b'-' => Token::Minus,
                b'*' => Token::Star,
                b'/' => Token::Slash,
                b'%' => Token::Percent,
                b'=' => two(self, b'=', Token::Eq, Token::Assign),
                b'<' => two(self, b'=', Token::LessEq, Token::Less),
                b'>' => two(self, b'=', Token::GreaterEq, Token::Greater),
                b'!' if self.peek() == Some(b'=') => {
                    self.bump();
                    Token::NotEq
                }
                b'.' if self.peek() == Some(b'.') && self.peek2() == Some(b'.') => {
                    self.bump();
                    self.bump();
                    Token::Ellipsis
                }
                _ => {
                    let shown = if c.is_ascii_graphic() {
                        format!("'{}'", c as char)
                    } else {
                        format!("byte 0x{c:02x}")
                    };
                    diags.error(
                        pos,
                        format!("unexpected character {shown}: it is not part of C*"),
                    );
                    // Skip the rest of a UTF-8 sequence so it is reported once.
                    while matches!(self.peek(), Some(b) if b & 0xc0 == 0x80) {
                        self.bump();
                    }
                    continue;
                }
            };
            return (token, pos);
        }
    }
}

/// Scans one file. `file` is its index in the diagnostics' file list.
pub fn scan(text: &str, file: u32, diags: &mut Diagnostics) -> Vec<(Token, Pos)> {
    let name = diags.file_name(file).to_string();
    let mut scanner = Scanner {
        text: text.as_bytes(),
        name: &name,
        at: 0,
        line: 1,
        column: 1,
        file,
    };
    let mut tokens = Vec::new();
    loop {
        let (token, pos) = scanner.next(diags);
        let end = token == Token::End;
        tokens.push((token, pos));
        if end {
            return tokens;
        }
    }
}
