//! The lexer: one line of text → `Token`s, each a `Tok` with the column
//! where it starts.
//!
//! `tokenize` walks the line's characters once; the first character of a
//! token picks its kind: an identifier (`identifier`), a number or local
//! label reference (`number`), a character literal (`char_literal`), a
//! string (`string_literal`), or a single punctuation character. A `#` or
//! `//` ends the line (a comment). Columns count characters from 1, so an
//! error points at the same place an editor shows.
//!
//! The lexer knows nothing of mnemonics or registers: `a0`, `addi` and
//! `.text` are all `Tok::Ident`, and the parser decides what they mean.

use super::errors::Fail;

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name: mnemonic, register, label, directive (`.text`) or `.`.
    Ident(String),
    Num(u64),
    /// `'a'`: the byte value of one character.
    Char(u8),
    /// `"..."`: the bytes of a string, escapes applied, UTF-8 as it is.
    Str(Vec<u8>),
    /// Any other single character: `,` `(` `)` `:` `%` `+` `-` ...
    Punct(char),
    /// `1b` / `1f`: the nearest local label `1:` before or after (GNU as).
    LocalRef {
        number: u64,
        forward: bool,
    },
}

/// A token and the 1-based column (in characters) where it starts.
#[derive(Clone, Debug)]
pub struct Token {
    pub tok: Tok,
    pub column: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '.' || c == '$'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '$'
}

/// Splits one line into tokens, dropping a `#` or `//` comment.
///
/// # Errors
/// A bad number, character literal or string, at the column where it starts.
pub fn tokenize(line: &str) -> Result<Vec<Token>, Fail> {
    let chars: Vec<char> = line.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let column = i + 1;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' || (c == '/' && chars.get(i + 1) == Some(&'/')) {
            break;
        }
        // Each reader returns the token and the index after it.
        let (tok, next) = if is_ident_start(c) {
            identifier(&chars, i)
        } else if c.is_ascii_digit() {
            number(&chars, i)?
        } else if c == '\'' {
            char_literal(&chars, i)?
        } else if c == '"' {
            string_literal(&chars, i)?
        } else {
            (Tok::Punct(c), i + 1)
        };
        tokens.push(Token { tok, column });
        i = next;
    }
    Ok(tokens)
}

/// The end of the run of identifier characters that starts at `start`.
fn ident_end(chars: &[char], start: usize) -> usize {
    let mut i = start;
    while chars.get(i).is_some_and(|&c| is_ident_char(c)) {
        i += 1;
    }
    i
}

/// `name`, `.text`, `sext.w`, `__global_pointer$`.
fn identifier(chars: &[char], start: usize) -> (Tok, usize) {
    let end = ident_end(chars, start);
    (Tok::Ident(chars[start..end].iter().collect()), end)
}

/// `42`, `0x2a`, or a local label reference `1b` / `1f`. The digits run on
/// through identifier characters so that `1x` is one bad number, not `1`
/// followed by `x`.
fn number(chars: &[char], start: usize) -> Result<(Tok, usize), Fail> {
    let end = ident_end(chars, start);
    let text: String = chars[start..end].iter().collect();
    let tok = match local_reference(&text) {
        Some(tok) => tok,
        None => Tok::Num(parse_number(&text).ok_or((start + 1, format!("bad number `{text}`")))?),
    };
    Ok((tok, end))
}

/// `'a'`, `'\n'`: one ASCII character or escape.
fn char_literal(chars: &[char], start: usize) -> Result<(Tok, usize), Fail> {
    let column = start + 1;
    let i = start + 1;
    if byte_is_char(chars, i) {
        return Err((column, "character literal is not ASCII".into()));
    }
    let (byte, next) = unescape_char(chars, i).map_err(|m| (column, m))?;
    if chars.get(next) != Some(&'\'') {
        return Err((column, "unterminated character literal".into()));
    }
    Ok((Tok::Char(byte), next + 1))
}

/// `"text\n"`: escapes become their byte, other non-ASCII characters their
/// UTF-8 bytes.
fn string_literal(chars: &[char], start: usize) -> Result<(Tok, usize), Fail> {
    let column = start + 1;
    let mut i = start + 1;
    let mut bytes = Vec::new();
    loop {
        match chars.get(i) {
            None => return Err((column, "unterminated string".into())),
            Some('"') => return Ok((Tok::Str(bytes), i + 1)),
            Some(_) => {
                let (byte, next) = unescape_char(chars, i).map_err(|m| (column, m))?;
                if byte_is_char(chars, i) {
                    // A non-ASCII character: its UTF-8 bytes.
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(chars[i].encode_utf8(&mut buf).as_bytes());
                } else {
                    bytes.push(byte);
                }
                i = next;
            }
        }
    }
}

/// Whether the character at `i` is a plain non-ASCII character (not an escape).
fn byte_is_char(chars: &[char], i: usize) -> bool {
    chars.get(i).is_some_and(|c| !c.is_ascii())
}

/// Reads one possibly escaped character at `i`; returns its byte and the
/// index after it. Escapes: `\n \t \r \0 \\ \' \" \a \b \f \v \xHH \NNN`.
fn unescape_char(chars: &[char], i: usize) -> Result<(u8, usize), String> {
    match chars.get(i) {
        None => Err("unterminated literal".into()),
        Some('\\') => escape(chars, i),
        Some(&c) => Ok((if c.is_ascii() { c as u8 } else { 0 }, i + 1)),
    }
}

/// The escape sequence whose backslash is at `i`.
fn escape(chars: &[char], i: usize) -> Result<(u8, usize), String> {
    let Some(&e) = chars.get(i + 1) else {
        return Err("unterminated escape".into());
    };
    if let Some(b) = simple_escape(e) {
        return Ok((b, i + 2));
    }
    if e == 'x' {
        return hex_escape(chars, i + 2);
    }
    if e.is_digit(8) {
        return Ok(octal_escape(chars, i + 1));
    }
    Err(format!("unknown escape `\\{e}`"))
}

/// The byte of a one-letter escape: `\n` is `n`.
fn simple_escape(e: char) -> Option<u8> {
    match e {
        'n' => Some(b'\n'),
        't' => Some(b'\t'),
        'r' => Some(b'\r'),
        'a' => Some(7),
        'b' => Some(8),
        'f' => Some(12),
        'v' => Some(11),
        '\\' => Some(b'\\'),
        '\'' => Some(b'\''),
        '"' => Some(b'"'),
        _ => None,
    }
}

/// `\xHH...`: as many hex digits as follow `start`; the value keeps its
/// low byte.
fn hex_escape(chars: &[char], start: usize) -> Result<(u8, usize), String> {
    let mut j = start;
    let mut value: u32 = 0;
    while let Some(d) = chars.get(j).and_then(|c| c.to_digit(16)) {
        value = (value * 16 + d) & 0xff;
        j += 1;
    }
    if j == start {
        return Err("`\\x` needs hex digits".into());
    }
    Ok((value as u8, j))
}

/// `\NNN`: up to three octal digits from `start` (`\0` is the common case).
fn octal_escape(chars: &[char], start: usize) -> (u8, usize) {
    let mut j = start;
    let mut value: u32 = 0;
    while j < start + 3 {
        match chars.get(j).and_then(|c| c.to_digit(8)) {
            Some(d) => value = value * 8 + d,
            None => break,
        }
        j += 1;
    }
    ((value & 0xff) as u8, j)
}

/// `1b`, `12f`: a reference to a numeric local label.
fn local_reference(text: &str) -> Option<Tok> {
    let forward = match text.chars().last()? {
        'b' => false,
        'f' => true,
        _ => return None,
    };
    let digits = &text[..text.len() - 1];
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    Some(Tok::LocalRef {
        number: digits.parse().ok()?,
        forward,
    })
}

/// `123`, `0x7f`, `0b101`, `0o17`: any value that fits in 64 bits.
fn parse_number(text: &str) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let (digits, radix) = if let Some(h) = lower.strip_prefix("0x") {
        (h, 16)
    } else if let Some(b) = lower.strip_prefix("0b") {
        (b, 2)
    } else if let Some(o) = lower.strip_prefix("0o") {
        (o, 8)
    } else {
        (lower.as_str(), 10)
    };
    if digits.is_empty() {
        return None;
    }
    u64::from_str_radix(digits, radix).ok()
}
