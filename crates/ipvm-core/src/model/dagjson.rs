//! A DAG-JSON reader.
//!
//! Written here rather than taken from `serde_ipld_dagjson` because that
//! crate reads integers below -2^63 as floats (serde_json's number model),
//! which changes their DAG-CBOR encoding and hence every CID around them.
//! This reader keeps every integer literal in [-2^64, 2^64-1] exact; a larger
//! literal becomes a float, as JavaScript reads it (Homestar workflows write
//! "no fuel limit" as 18446744073709552000). `{"/": "<cid>"}` is a link and
//! `{"/": {"bytes": "<base64>"}}` is bytes, per the DAG-JSON spec.

use std::collections::BTreeMap;

use cid::Cid;
use ipld_core::ipld::Ipld;

use crate::CoreError;

/// Parses one DAG-JSON value (surrounding whitespace allowed).
pub fn parse(text: &[u8]) -> Result<Ipld, CoreError> {
    let mut p = Parser {
        s: text,
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != p.s.len() {
        return Err(p.err("trailing data after the value"));
    }
    Ok(v)
}

/// Nesting deeper than this is rejected rather than risking the stack.
const MAX_DEPTH: usize = crate::model::address::MAX_DOCUMENT_DEPTH;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn err(&self, what: &str) -> CoreError {
        let line = 1 + self.s[..self.i.min(self.s.len())]
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        CoreError::Decode {
            format: "DAG-JSON",
            reason: format!("{what} at line {line}, byte {}", self.i),
        }
    }

    fn ws(&mut self) {
        while matches!(self.s.get(self.i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.i..].starts_with(lit) {
            self.i += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self) -> Result<Ipld, CoreError> {
        self.ws();
        match self.s.get(self.i) {
            None => Err(self.err("unexpected end of input")),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(b'"') => Ok(Ipld::String(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) if self.eat(b"true") => Ok(Ipld::Bool(true)),
            Some(_) if self.eat(b"false") => Ok(Ipld::Bool(false)),
            Some(_) if self.eat(b"null") => Ok(Ipld::Null),
            Some(c) => Err(self.err(&format!("unexpected character `{}`", *c as char))),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Ipld, CoreError>) -> Result<Ipld, CoreError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("nesting deeper than 128 levels (the most DAG-CBOR can hold)"));
        }
        let v = f(self);
        self.depth -= 1;
        v
    }

    fn array(&mut self) -> Result<Ipld, CoreError> {
        self.i += 1;
        let mut items = Vec::new();
        self.ws();
        if self.eat(b"]") {
            return Ok(Ipld::List(items));
        }
        loop {
            items.push(self.value()?);
            self.ws();
            if self.eat(b"]") {
                return Ok(Ipld::List(items));
            }
            if !self.eat(b",") {
                return Err(self.err("expected `,` or `]`"));
            }
        }
    }

    fn object(&mut self) -> Result<Ipld, CoreError> {
        let start = self.i;
        self.i += 1;
        let mut map = BTreeMap::new();
        self.ws();
        if !self.eat(b"}") {
            loop {
                self.ws();
                if self.s.get(self.i) != Some(&b'"') {
                    return Err(self.err("expected a string key"));
                }
                let key = self.string()?;
                self.ws();
                if !self.eat(b":") {
                    return Err(self.err("expected `:`"));
                }
                let value = self.value()?;
                if map.insert(key.clone(), value).is_some() {
                    return Err(self.err(&format!("duplicate key `{key}`")));
                }
                self.ws();
                if self.eat(b"}") {
                    break;
                }
                if !self.eat(b",") {
                    return Err(self.err("expected `,` or `}`"));
                }
            }
        }
        if map.len() == 1 {
            match map.get("/") {
                Some(Ipld::String(text)) => {
                    return Cid::try_from(text.as_str()).map(Ipld::Link).map_err(|e| {
                        self.i = start;
                        self.err(&format!("`{text}` is not a valid CID ({e})"))
                    })
                }
                Some(Ipld::Map(inner)) if inner.len() == 1 => {
                    if let Some(Ipld::String(b64)) = inner.get("bytes") {
                        return base64_decode(b64).map(Ipld::Bytes).ok_or_else(|| {
                            self.i = start;
                            self.err("`bytes` is not valid base64")
                        });
                    }
                }
                _ => {}
            }
        }
        Ok(Ipld::Map(map))
    }

    fn hex4(&mut self) -> Result<u32, CoreError> {
        let digits = self
            .s
            .get(self.i..self.i + 4)
            .ok_or_else(|| self.err("truncated \\u escape"))?;
        let text = std::str::from_utf8(digits).map_err(|_| self.err("bad \\u escape"))?;
        let v = u32::from_str_radix(text, 16).map_err(|_| self.err("bad \\u escape"))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, CoreError> {
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.i) else {
                return Err(self.err("unterminated string"));
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.i) else {
                        return Err(self.err("unterminated escape"));
                    };
                    self.i += 1;
                    let ch = match e {
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
                            let code = if (0xd800..0xdc00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                let lo = self.hex4()?;
                                if !(0xdc00..0xe000).contains(&lo) {
                                    return Err(self.err("unpaired surrogate"));
                                }
                                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
                            } else {
                                hi
                            };
                            char::from_u32(code).ok_or_else(|| self.err("unpaired surrogate"))?
                        }
                        _ => return Err(self.err("unknown escape")),
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                0..=0x1f => return Err(self.err("control character in string")),
                _ => out.push(c),
            }
        }
        String::from_utf8(out).map_err(|_| self.err("string is not valid UTF-8"))
    }

    fn number(&mut self) -> Result<Ipld, CoreError> {
        let start = self.i;
        let mut integral = true;
        self.eat(b"-");
        while let Some(c) = self.s.get(self.i) {
            match c {
                b'0'..=b'9' | b'+' | b'-' => {}
                b'.' | b'e' | b'E' => integral = false,
                _ => break,
            }
            self.i += 1;
        }
        let text =
            std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.err("bad number"))?;
        let bad = |p: &Self| p.err(&format!("`{text}` is not a valid number"));
        if integral {
            if text.len() > 1 && (text.starts_with('0') || text.starts_with("-0")) && text != "-0" {
                return Err(bad(self));
            }
            if let Ok(i) = text.parse::<i128>() {
                if (-(1i128 << 64)..(1i128 << 64)).contains(&i) {
                    return Ok(Ipld::Integer(i));
                }
            }
        }
        let f: f64 = text.parse().map_err(|_| bad(self))?;
        if !f.is_finite() {
            return Err(bad(self));
        }
        Ok(Ipld::Float(f))
    }
}

/// The project's one base64 codec (standard alphabet, RFC 4648), as
/// DAG-JSON writes bytes: without padding. Every base64 in the Rust code
/// goes through these two functions, which are multibase's.
pub fn base64_encode(bytes: &[u8]) -> String {
    multibase::Base::Base64.encode(bytes)
}

/// Decodes standard base64, with or without padding; `None` if it is not
/// base64 (another alphabet, a bad length, or bits set past the last byte,
/// which no encoder writes).
pub fn base64_decode(text: &str) -> Option<Vec<u8>> {
    multibase::Base::Base64
        .decode(text.trim_end_matches('='))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_keep_their_full_range() {
        assert_eq!(
            parse(b"-18446744073709551616").unwrap(),
            Ipld::Integer(-(1i128 << 64))
        );
        assert_eq!(
            parse(b"18446744073709551615").unwrap(),
            Ipld::Integer((1i128 << 64) - 1)
        );
        assert_eq!(
            parse(b"18446744073709552000").unwrap(),
            Ipld::Float(18446744073709552000.0)
        );
        assert_eq!(parse(b"1.5").unwrap(), Ipld::Float(1.5));
        assert!(parse(b"01").is_err());
    }

    #[test]
    fn base64_is_rfc_4648_padded_or_not_and_canonical() {
        for (bytes, text) in [
            (&b""[..], ""),
            (b"f", "Zg"),
            (b"fo", "Zm8"),
            (b"foo", "Zm9v"),
            (b"foobar", "Zm9vYmFy"),
            (&[0, 1, 2, 255][..], "AAEC/w"),
        ] {
            assert_eq!(base64_encode(bytes), text);
            assert_eq!(base64_decode(text).as_deref(), Some(bytes));
        }
        assert_eq!(base64_decode("Zg==").as_deref(), Some(&b"f"[..]));
        for bad in ["Z", "Zh", "Zm9v!", "Zm-v", "Zm_v"] {
            assert_eq!(base64_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn links_bytes_and_strings() {
        let v = parse(br#"[{"/":"bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"},{"/":{"bytes":"AAEC/w"}},"\ud83e\udd80\n"]"#).unwrap();
        let Ipld::List(items) = v else { panic!() };
        assert!(matches!(items[0], Ipld::Link(_)));
        assert_eq!(items[1], Ipld::Bytes(vec![0, 1, 2, 255]));
        assert_eq!(items[2], Ipld::String("🦀\n".into()));
        assert!(parse(br#"{"/":"nope"}"#)
            .unwrap_err()
            .to_string()
            .contains("not a valid CID"));
        assert!(parse(br#"{"a":1,"a":2}"#)
            .unwrap_err()
            .to_string()
            .contains("duplicate key"));
        assert!(parse(b"[1] x")
            .unwrap_err()
            .to_string()
            .contains("trailing"));
    }
}
