//! JSON: the [`Value`] document type with a [`json!`](crate::json) builder,
//! a validating reader ([`Parser`]) and compact and pretty writers.
//!
//! Checkpoint metadata, standardizers and classifier descriptions are JSON,
//! and reading them is part of the lean library, which carries no JSON crate.
//! The reader bounds nesting so that a hostile file cannot exhaust the stack,
//! numbers keep their integer or float form as written, and floats are written
//! in their shortest round-trip form, so a value read back is bit-identical.
//! Objects keep their keys sorted, as `serde_json` does by default, so the
//! text a document writes does not depend on the order it was built in.

use std::collections::BTreeMap;
use std::fmt;

/// A JSON document.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(String),
    Array(Vec<Value>),
    Object(Map),
}

/// A JSON object: keys in sorted order.
pub type Map = BTreeMap<String, Value>;

/// A JSON number as it was written: an integer (non-negative or negative) or
/// a float.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    Unsigned(u64),
    Negative(i64),
    Float(f64),
}

static NULL: Value = Value::Null;

impl Value {
    /// Parses a whole document.
    pub fn parse(text: &str) -> Result<Value, String> {
        let mut p = Parser::new(text);
        let v = p.value(0)?;
        p.finish()?;
        Ok(v)
    }

    /// The member `key` of an object.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.as_object_mut().and_then(|m| m.get_mut(key))
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// An integer written without fraction or exponent that fits `u64`.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(Number::Unsigned(u)) => Some(*u),
            _ => None,
        }
    }

    /// An integer written without fraction or exponent that fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Number(Number::Unsigned(u)) => i64::try_from(*u).ok(),
            Value::Number(Number::Negative(i)) => Some(*i),
            _ => None,
        }
    }

    /// Any number, as the nearest `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(Number::Unsigned(u)) => Some(*u as f64),
            Value::Number(Number::Negative(i)) => Some(*i as f64),
            Value::Number(Number::Float(f)) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_array_mut(&mut self) -> Option<&mut Vec<Value>> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_object_mut(&mut self) -> Option<&mut Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Indented text, two spaces per level.
    pub fn to_string_pretty(&self) -> String {
        let mut out = String::new();
        write_value(&mut out, self, Some(0));
        out
    }
}

impl std::str::FromStr for Value {
    type Err = String;
    fn from_str(text: &str) -> Result<Value, String> {
        Value::parse(text)
    }
}

/// Compact text, as `serde_json::to_string` writes it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_value(&mut out, self, None);
        f.write_str(&out)
    }
}

/// `v["key"]`: the member, or null where there is none.
impl std::ops::Index<&str> for Value {
    type Output = Value;
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

/// `v[i]`: the element, or null where there is none.
impl std::ops::Index<usize> for Value {
    type Output = Value;
    fn index(&self, i: usize) -> &Value {
        self.as_array().and_then(|a| a.get(i)).unwrap_or(&NULL)
    }
}

/// `v["key"] = …`: sets the member, turning null into an empty object first.
/// Panics on any other non-object (a bug in the code building the document).
impl std::ops::IndexMut<&str> for Value {
    fn index_mut(&mut self, key: &str) -> &mut Value {
        if self.is_null() {
            *self = Value::Object(Map::new());
        }
        match self {
            Value::Object(m) => m.entry(key.to_owned()).or_default(),
            other => panic!("cannot set member '{key}' of the non-object JSON value {other}"),
        }
    }
}

impl PartialEq<str> for Value {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == Some(other)
    }
}

impl PartialEq<&str> for Value {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == Some(*other)
    }
}

/// What [`json!`](crate::json) turns an expression into; taken by reference,
/// so building a document never moves a field out of a struct.
pub trait ToJson {
    fn to_json(&self) -> Value;
}

impl ToJson for Value {
    fn to_json(&self) -> Value {
        self.clone()
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
}

impl ToJson for str {
    fn to_json(&self) -> Value {
        Value::String(self.to_owned())
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

impl ToJson for std::path::Path {
    fn to_json(&self) -> Value {
        Value::String(self.display().to_string())
    }
}

impl ToJson for std::path::PathBuf {
    fn to_json(&self) -> Value {
        self.as_path().to_json()
    }
}

macro_rules! unsigned_to_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                Value::Number(Number::Unsigned(*self as u64))
            }
        }
    )*};
}
unsigned_to_json!(u8, u16, u32, u64, usize);

macro_rules! signed_to_json {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                let i = *self as i64;
                Value::Number(if i >= 0 { Number::Unsigned(i as u64) } else { Number::Negative(i) })
            }
        }
    )*};
}
signed_to_json!(i8, i16, i32, i64, isize);

impl ToJson for f64 {
    /// Non-finite values have no JSON form and are written as null.
    fn to_json(&self) -> Value {
        if self.is_finite() { Value::Number(Number::Float(*self)) } else { Value::Null }
    }
}

impl ToJson for f32 {
    fn to_json(&self) -> Value {
        f64::from(*self).to_json()
    }
}

impl<T: ToJson + ?Sized> ToJson for &T {
    fn to_json(&self) -> Value {
        (**self).to_json()
    }
}

impl<T: ToJson> ToJson for Option<T> {
    fn to_json(&self) -> Value {
        self.as_ref().map_or(Value::Null, T::to_json)
    }
}

impl<T: ToJson> ToJson for [T] {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(T::to_json).collect())
    }
}

impl<T: ToJson, const N: usize> ToJson for [T; N] {
    fn to_json(&self) -> Value {
        self.as_slice().to_json()
    }
}

impl<T: ToJson> ToJson for Vec<T> {
    fn to_json(&self) -> Value {
        self.as_slice().to_json()
    }
}

impl<T: ToJson> ToJson for BTreeMap<String, T> {
    fn to_json(&self) -> Value {
        Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

impl<T: ToJson> From<&T> for Value {
    fn from(v: &T) -> Value {
        v.to_json()
    }
}

/// Builds a [`Value`] from JSON-like syntax: `json!({"dim": d, "grid": [0.0, t], "name": null})`.
/// Keys are string literals; values are nested `{…}`/`[…]`, `null`, or any
/// expression whose type implements [`ToJson`] (taken by reference).
#[macro_export]
macro_rules! json {
    (null) => { $crate::io::json::Value::Null };
    ([ $($tt:tt)* ]) => { $crate::io::json::Value::Array($crate::__json_array!([] $($tt)*)) };
    ({ $($tt:tt)* }) => {{
        #[allow(unused_mut)]
        let mut map = $crate::io::json::Map::new();
        $crate::__json_object!(map $($tt)*);
        $crate::io::json::Value::Object(map)
    }};
    ($other:expr) => { $crate::io::json::ToJson::to_json(&$other) };
}

/// [`json!`]'s array builder: one step per element (`null`, `{…}`, `[…]` or an
/// expression), so long documents stay far from the recursion limit.
#[doc(hidden)]
#[macro_export]
macro_rules! __json_array {
    ([$($done:expr,)*]) => { ::std::vec![$($done,)*] };
    ([$($done:expr,)*] null $(, $($rest:tt)*)?) => {
        $crate::__json_array!([$($done,)* $crate::io::json::Value::Null,] $($($rest)*)?)
    };
    ([$($done:expr,)*] { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        $crate::__json_array!([$($done,)* $crate::json!({ $($inner)* }),] $($($rest)*)?)
    };
    ([$($done:expr,)*] [ $($inner:tt)* ] $(, $($rest:tt)*)?) => {
        $crate::__json_array!([$($done,)* $crate::json!([ $($inner)* ]),] $($($rest)*)?)
    };
    ([$($done:expr,)*] $value:expr $(, $($rest:tt)*)?) => {
        $crate::__json_array!([$($done,)* $crate::json!($value),] $($($rest)*)?)
    };
}

/// [`json!`]'s object builder: one step per `"key": value` member.
#[doc(hidden)]
#[macro_export]
macro_rules! __json_object {
    ($map:ident) => {};
    ($map:ident $key:literal : null $(, $($rest:tt)*)?) => {
        $map.insert(::std::string::String::from($key), $crate::io::json::Value::Null);
        $crate::__json_object!($map $($($rest)*)?);
    };
    ($map:ident $key:literal : { $($inner:tt)* } $(, $($rest:tt)*)?) => {
        $map.insert(::std::string::String::from($key), $crate::json!({ $($inner)* }));
        $crate::__json_object!($map $($($rest)*)?);
    };
    ($map:ident $key:literal : [ $($inner:tt)* ] $(, $($rest:tt)*)?) => {
        $map.insert(::std::string::String::from($key), $crate::json!([ $($inner)* ]));
        $crate::__json_object!($map $($($rest)*)?);
    };
    ($map:ident $key:literal : $value:expr $(, $($rest:tt)*)?) => {
        $map.insert(::std::string::String::from($key), $crate::json!($value));
        $crate::__json_object!($map $($($rest)*)?);
    };
}

/// `s` as a JSON string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    out
}

fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn write_number(out: &mut String, n: Number) {
    use std::fmt::Write;
    match n {
        Number::Unsigned(u) => write!(out, "{u}"),
        Number::Negative(i) => write!(out, "{i}"),
        // `{:?}` is the shortest text that reads back as the same f64, and keeps a
        // `.0` on integral values so they read back as floats.
        Number::Float(f) if f.is_finite() => write!(out, "{f:?}"),
        Number::Float(_) => write!(out, "null"),
    }
    .expect("writing to a String");
}

/// Writes `v`; `indent` is the current level for pretty output, `None` for compact.
fn write_value(out: &mut String, v: &Value, indent: Option<usize>) {
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    };
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, *n),
        Value::String(s) => write_string(out, s),
        Value::Array(a) if a.is_empty() => out.push_str("[]"),
        Value::Array(a) => {
            out.push('[');
            for (i, e) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(l) = indent {
                    newline(out, l + 1);
                }
                write_value(out, e, indent.map(|l| l + 1));
            }
            if let Some(l) = indent {
                newline(out, l);
            }
            out.push(']');
        }
        Value::Object(m) if m.is_empty() => out.push_str("{}"),
        Value::Object(m) => {
            out.push('{');
            for (i, (k, e)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                if let Some(l) = indent {
                    newline(out, l + 1);
                }
                write_string(out, k);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                write_value(out, e, indent.map(|l| l + 1));
            }
            if let Some(l) = indent {
                newline(out, l);
            }
            out.push('}');
        }
    }
}

/// Values nested deeper than this are refused (wasserflow's own documents nest at most 5 deep).
const MAX_DEPTH: usize = 32;

pub struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

type Res<T> = Result<T, String>;

impl<'a> Parser<'a> {
    pub fn new(text: &'a str) -> Self {
        Parser { s: text.as_bytes(), pos: 0 }
    }

    /// An error message locating the parser.
    pub fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    /// The next non-whitespace byte, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        while matches!(self.s.get(self.pos), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
        self.s.get(self.pos).copied()
    }

    /// Only whitespace may follow the top-level value.
    pub fn finish(&mut self) -> Res<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("invalid JSON: unexpected characters after the value")),
        }
    }

    fn expect(&mut self, c: u8) -> Res<()> {
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(&format!("expected '{}'", c as char)))
        }
    }

    /// Consumes `null` if it comes next.
    pub fn null(&mut self) -> bool {
        if self.peek() == Some(b'n') && self.s[self.pos..].starts_with(b"null") {
            self.pos += 4;
            return true;
        }
        false
    }

    /// An object at nesting `depth`; `member(parser, key, depth + 1)` must
    /// consume each member's value.
    pub fn object(&mut self, depth: usize, mut member: impl FnMut(&mut Self, String, usize) -> Res<()>) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("invalid JSON: nesting deeper than {MAX_DEPTH}")));
        }
        self.expect(b'{')?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error("invalid JSON: expected a string key"));
            }
            let key = self.string()?;
            self.expect(b':')?;
            member(self, key, depth + 1)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("invalid JSON: expected ',' or '}'")),
            }
        }
    }

    /// A list of numbers written as plain non-negative integers that fit
    /// `u64` (`1.0`, `1e3` and `-1` are refused, as by the reference implementation).
    pub fn uint_array(&mut self) -> Res<Vec<u64>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(out);
        }
        loop {
            self.peek();
            let start = self.pos;
            self.number()?;
            let text = &self.s[start..self.pos];
            let v = if text.iter().all(u8::is_ascii_digit) {
                std::str::from_utf8(text).ok().and_then(|t| t.parse().ok())
            } else {
                None
            };
            match v {
                Some(v) => out.push(v),
                None => {
                    self.pos = start;
                    return Err(self.error("expected a non-negative integer below 2^64"));
                }
            }
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(out);
                }
                _ => return Err(self.error("invalid JSON: expected ',' or ']'")),
            }
        }
    }

    /// An array at nesting `depth`; `element(parser, depth + 1)` must consume each element.
    pub fn array(&mut self, depth: usize, mut element: impl FnMut(&mut Self, usize) -> Res<()>) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("invalid JSON: nesting deeper than {MAX_DEPTH}")));
        }
        self.expect(b'[')?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(());
        }
        loop {
            element(self, depth + 1)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(());
                }
                _ => return Err(self.error("invalid JSON: expected ',' or ']'")),
            }
        }
    }

    /// Any value, read into a [`Value`]; a key repeated within an object is
    /// refused, since which of its values was meant cannot be known.
    pub fn value(&mut self, depth: usize) -> Res<Value> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("invalid JSON: nesting deeper than {MAX_DEPTH}")));
        }
        match self.peek() {
            Some(b'{') => {
                let mut map = Map::new();
                self.object(depth, |p, key, d| {
                    let v = p.value(d)?;
                    match map.insert(key, v) {
                        None => Ok(()),
                        Some(_) => Err(p.error("invalid JSON: a key appears twice in one object")),
                    }
                })?;
                Ok(Value::Object(map))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.array(depth, |p, d| {
                    items.push(p.value(d)?);
                    Ok(())
                })?;
                Ok(Value::Array(items))
            }
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.pos;
                self.number()?;
                let text = std::str::from_utf8(&self.s[start..self.pos]).expect("the number grammar is ASCII");
                let integral = !text.contains(['.', 'e', 'E']);
                let n = match (integral, text.parse::<u64>(), text.parse::<i64>()) {
                    (true, Ok(u), _) => Number::Unsigned(u),
                    (true, _, Ok(i)) => Number::Negative(i),
                    // Rust's float parsing is correctly rounded: written floats read back exactly.
                    _ => Number::Float(text.parse().map_err(|_| self.error("invalid JSON: bad number"))?),
                };
                Ok(Value::Number(n))
            }
            _ => {
                let start = self.pos;
                self.skip_value(depth)?;
                Ok(match &self.s[start..self.pos] {
                    b"true" => Value::Bool(true),
                    b"false" => Value::Bool(false),
                    _ => Value::Null,
                })
            }
        }
    }

    /// Validates and skips any value.
    pub fn skip_value(&mut self, depth: usize) -> Res<()> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("invalid JSON: nesting deeper than {MAX_DEPTH}")));
        }
        match self.peek() {
            None => Err(self.error("invalid JSON: unexpected end")),
            Some(b'{') => self.object(depth, |p, _, d| p.skip_value(d)),
            Some(b'[') => self.array(depth, |p, d| p.skip_value(d)),
            Some(b'"') => self.string().map(drop),
            Some(b't') => self.literal("true"),
            Some(b'f') => self.literal("false"),
            Some(b'n') => self.literal("null"),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(c) if c.is_ascii_graphic() => Err(self.error(&format!("invalid JSON: unexpected '{}'", c as char))),
            Some(c) => Err(self.error(&format!("invalid JSON: unexpected byte 0x{c:02x}"))),
        }
    }

    fn literal(&mut self, word: &str) -> Res<()> {
        if self.s[self.pos..].starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.error("invalid JSON: bad literal"))
        }
    }

    fn digits(&mut self) -> Res<()> {
        if !matches!(self.s.get(self.pos), Some(b'0'..=b'9')) {
            return Err(self.error("invalid JSON: expected a digit"));
        }
        while matches!(self.s.get(self.pos), Some(b'0'..=b'9')) {
            self.pos += 1;
        }
        Ok(())
    }

    /// A number by the JSON grammar.
    fn number(&mut self) -> Res<()> {
        if self.s.get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        if self.s.get(self.pos) == Some(&b'0') {
            self.pos += 1;
        } else {
            self.digits()?;
        }
        if self.s.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            self.digits()?;
        }
        if matches!(self.s.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.s.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            self.digits()?;
        }
        Ok(())
    }

    /// A string value, unescaped.
    pub fn string(&mut self) -> Res<String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            let start = self.pos;
            while let Some(&c) = self.s.get(self.pos) {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            // The run ends at an ASCII byte (or the end), so it is whole UTF-8.
            let run = std::str::from_utf8(&self.s[start..self.pos]).map_err(|_| self.error("invalid UTF-8"))?;
            out.push_str(run);
            match self.s.get(self.pos) {
                None => return Err(self.error("invalid JSON: unterminated string")),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    out.push(self.escape()?);
                }
                Some(_) => return Err(self.error("invalid JSON: unescaped control character in a string")),
            }
        }
    }

    fn escape(&mut self) -> Res<char> {
        let Some(&c) = self.s.get(self.pos) else {
            return Err(self.error("invalid JSON: unterminated escape"));
        };
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = self.hex4()?;
                let code = match hi {
                    0xD800..=0xDBFF => {
                        if self.s.get(self.pos..self.pos + 2) != Some(b"\\u".as_slice()) {
                            return Err(self.error("invalid JSON: unpaired surrogate in \\u escape"));
                        }
                        self.pos += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&lo) {
                            return Err(self.error("invalid JSON: unpaired surrogate in \\u escape"));
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    }
                    0xDC00..=0xDFFF => return Err(self.error("invalid JSON: unpaired surrogate in \\u escape")),
                    _ => hi,
                };
                char::from_u32(code).ok_or_else(|| self.error("invalid JSON: invalid code point"))?
            }
            _ => return Err(self.error("invalid JSON: invalid escape")),
        })
    }

    fn hex4(&mut self) -> Res<u32> {
        let Some(digits) = self.s.get(self.pos..self.pos + 4) else {
            return Err(self.error("invalid JSON: truncated \\u escape"));
        };
        let mut v = 0;
        for &d in digits {
            let d = (d as char).to_digit(16).ok_or_else(|| self.error("invalid JSON: bad hex digit"))?;
            v = v * 16 + d;
        }
        self.pos += 4;
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skip(text: &str) -> Res<()> {
        let mut p = Parser::new(text);
        p.skip_value(0)?;
        p.finish()
    }

    #[test]
    fn accepts_the_grammar() {
        skip(r#" {"a": [1, -2.5e3, 0.5E+2, true, false, null, [], {}], "b": {"c": "x\"\\\n\u00e9"}} "#).unwrap();
        let mut p = Parser::new(r#""b\u00e9\ud83d\ude00\/""#);
        assert_eq!(p.string().unwrap(), "bé😀/");
    }

    #[test]
    fn refuses_malformed_text() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "{\"a\":}",
            "[1,]",
            "01",
            "1.",
            "-",
            "1e",
            "\"\\x\"",
            "\"\\ud800\"",
            "\"a\nb\"",
            "{} x",
            "tru",
            "[1 2]",
            "{\"a\":1,}",
            "{a:1}",
            "'a'",
        ] {
            assert!(skip(bad).is_err(), "{bad:?}");
        }
        assert!(skip(&"[".repeat(10_000)).unwrap_err().contains("nesting"));
        assert!(skip(&"{\"a\":".repeat(10_000)).unwrap_err().contains("nesting"));
    }

    #[test]
    fn integers_only_where_integers_are_wanted() {
        let mut p = Parser::new("[0, 7, 18446744073709551615]");
        assert_eq!(p.uint_array().unwrap(), [0, 7, u64::MAX]);
        for bad in ["[18446744073709551616]", "[1.0]", "[1e3]", "[-1]", "[\"1\"]", "[1,]", "3"] {
            assert!(Parser::new(bad).uint_array().is_err(), "{bad}");
        }
    }

    #[test]
    fn values_read_back_as_written() {
        let text = r#"{"a":[1,-2,2.5,1e-7,18446744073709551615,-9223372036854775808,true,false,null],"b":{"c":"x\"\\\n\u00e9"},"d":{}}"#;
        let v = Value::parse(text).unwrap();
        assert_eq!(v["a"][0].as_u64(), Some(1));
        assert_eq!(v["a"][1].as_i64(), Some(-2));
        assert_eq!(v["a"][1].as_u64(), None);
        assert_eq!(v["a"][2].as_f64(), Some(2.5));
        assert_eq!(v["a"][2].as_u64(), None);
        assert_eq!(v["a"][3].as_f64(), Some(1e-7));
        assert_eq!(v["a"][4].as_u64(), Some(u64::MAX));
        assert_eq!(v["a"][5].as_i64(), Some(i64::MIN));
        assert_eq!(v["a"][6].as_bool(), Some(true));
        assert!(v["a"][8].is_null());
        assert_eq!(v["b"]["c"], "x\"\\\né");
        assert!(v["missing"]["deeper"].is_null());
        assert_eq!(Value::parse(&v.to_string()).unwrap(), v);
        assert_eq!(Value::parse(&v.to_string_pretty()).unwrap(), v);
        assert!(Value::parse(r#"{"a":1,"a":2}"#).unwrap_err().contains("twice"));
        assert!(Value::parse(&"[".repeat(10_000)).unwrap_err().contains("nesting"));
        assert!(Value::parse("[1] 2").is_err());
    }

    #[test]
    fn floats_round_trip_bit_for_bit() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..10_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let f = f64::from_bits(state);
            if !f.is_finite() {
                continue;
            }
            let back = Value::parse(&crate::json!(f).to_string()).unwrap().as_f64().unwrap();
            assert_eq!(back.to_bits(), f.to_bits(), "{f:e}");
        }
        assert_eq!(crate::json!(1.0).to_string(), "1.0");
        assert_eq!(crate::json!(f64::NAN).to_string(), "null");
    }

    #[test]
    fn the_builder_takes_expressions_by_reference() {
        struct S {
            hidden: Vec<usize>,
            name: String,
        }
        let s = S { hidden: vec![64, 64], name: "x".into() };
        let beta = 20.0;
        let v = crate::json!({
            "hidden": s.hidden,
            "name": s.name,
            "nested": {"beta": beta, "list": [1, -1, "a", null, [true]], "empty": {}},
            "computed": if beta > 1.0 { "big" } else { "small" },
            "sum": s.hidden.iter().sum::<usize>(),
        });
        assert_eq!(s.hidden.len(), 2);
        assert_eq!(
            v.to_string(),
            r#"{"computed":"big","hidden":[64,64],"name":"x","nested":{"beta":20.0,"empty":{},"list":[1,-1,"a",null,[true]]},"sum":128}"#
        );
        assert_eq!(Value::parse(&v.to_string_pretty()).unwrap(), v);
    }
}
