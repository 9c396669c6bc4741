//! Fast path for decoding telemetry event messages (flat JSON objects).
//!
//! Parses `{"ts_ns": <int>, "site": "<str>", "<signal>": <number|null>, ...,
//! "units": "MW"|"kW"}` straight into columns, without building any Python
//! object per message. Anything outside that shape (other keys, escapes in
//! strings, ISO timestamps, wrong types, duplicate keys, non-finite numbers,
//! invalid JSON) is reported as [`Status::Check`]: the caller decodes those
//! messages one by one with its full validation, which names the fault. So
//! this parser never has to be right about *why* a message is bad, only
//! never accept one the full validation would reject.

/// Outcome for one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    /// Decoded into the columns.
    Ok = 0,
    /// Not in the fast shape: decode it with the full checks.
    Check = 1,
}

/// One decoded event.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    /// Timestamp, int64 ns.
    pub ts_ns: i64,
    /// The site id (raw UTF-8, no escapes), if the message has one.
    pub site: Option<&'a str>,
    /// Whether `"units": "kW"` was given.
    pub kw: bool,
    /// Whether at least one signal key was present.
    pub any_signal: bool,
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn ws(&mut self) {
        while self.pos < self.buf.len()
            && matches!(self.buf[self.pos], b' ' | b'\t' | b'\n' | b'\r')
        {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.pos < self.buf.len() && self.buf[self.pos] == c {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// A string without escapes or control characters, as valid UTF-8.
    fn string(&mut self) -> Option<&'a str> {
        self.ws();
        if self.buf.get(self.pos) != Some(&b'"') {
            return None;
        }
        let start = self.pos + 1;
        let mut i = start;
        while i < self.buf.len() {
            match self.buf[i] {
                b'"' => {
                    self.pos = i + 1;
                    return std::str::from_utf8(&self.buf[start..i]).ok();
                }
                b'\\' | 0..=0x1f => return None,
                _ => i += 1,
            }
        }
        None
    }

    /// The text of a JSON number (strict grammar), and whether it is an integer.
    fn number(&mut self) -> Option<(&'a str, bool)> {
        self.ws();
        let b = self.buf;
        let start = self.pos;
        let mut i = start;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while matches!(b.get(i), Some(b'0'..=b'9')) {
                    i += 1;
                }
            }
            _ => return None,
        }
        let mut integer = true;
        if b.get(i) == Some(&b'.') {
            integer = false;
            i += 1;
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            integer = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if !matches!(b.get(i), Some(b'0'..=b'9')) {
                return None;
            }
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        self.pos = i;
        // ASCII by construction.
        std::str::from_utf8(&b[start..i]).ok().map(|s| (s, integer))
    }

    fn literal(&mut self, word: &[u8]) -> bool {
        self.ws();
        if self.buf[self.pos..].starts_with(word) {
            self.pos += word.len();
            true
        } else {
            false
        }
    }
}

/// Decode one message into `values` (one slot per entry of `signals`, NaN
/// where absent or null, already in MW). Returns the event or `None` when the
/// message needs the full checks.
pub fn decode_event<'a>(buf: &'a [u8], signals: &[&str], values: &mut [f64]) -> Option<Event<'a>> {
    debug_assert_eq!(signals.len(), values.len());
    values.iter_mut().for_each(|v| *v = f64::NAN);
    let mut c = Cursor { buf, pos: 0 };
    if !c.eat(b'{') {
        return None;
    }
    let mut ts: Option<i64> = None;
    let mut site: Option<&str> = None;
    let mut units: Option<&str> = None;
    let mut seen: u64 = 0; // bit per signal, to refuse duplicate keys
    let mut any_signal = false;
    let mut first = true;
    loop {
        if c.eat(b'}') {
            break;
        }
        if !first && !c.eat(b',') {
            return None;
        }
        first = false;
        let key = c.string()?;
        if !c.eat(b':') {
            return None;
        }
        match key {
            "ts_ns" => {
                let (text, integer) = c.number()?;
                if ts.is_some() || !integer {
                    return None;
                }
                ts = Some(text.parse::<i64>().ok()?);
            }
            "site" => {
                let s = c.string()?;
                if site.is_some() || s.is_empty() {
                    return None;
                }
                site = Some(s);
            }
            "units" => {
                let u = c.string()?;
                if units.is_some() || !(u == "MW" || u == "kW") {
                    return None;
                }
                units = Some(u);
            }
            _ => {
                let j = signals.iter().position(|s| *s == key)?;
                if j >= 64 || seen & (1 << j) != 0 {
                    return None;
                }
                seen |= 1 << j;
                any_signal = true;
                if c.literal(b"null") {
                    continue;
                }
                let (text, _) = c.number()?;
                let v = text.parse::<f64>().ok()?;
                if !v.is_finite() {
                    return None;
                }
                values[j] = v;
            }
        }
    }
    c.ws();
    if c.pos != buf.len() || !any_signal {
        return None;
    }
    let kw = units == Some("kW");
    Some(Event {
        ts_ns: ts?,
        site,
        kw,
        any_signal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIG: [&str; 3] = ["load_mw", "solar_mw", "price_per_mwh"];

    fn dec(s: &str) -> Option<(Event<'_>, Vec<f64>)> {
        let mut v = vec![0.0; SIG.len()];
        decode_event(s.as_bytes(), &SIG, &mut v).map(|e| (e, v))
    }

    #[test]
    fn decodes_the_fast_shape() {
        let (e, v) =
            dec(r#" {"ts_ns": -5, "site":"a b", "load_mw": 1.5e2, "solar_mw": null} "#).unwrap();
        assert_eq!((e.ts_ns, e.site, e.kw), (-5, Some("a b"), false));
        assert_eq!(v[0], 150.0);
        assert!(v[1].is_nan() && v[2].is_nan());
        let (e, _) = dec(r#"{"load_mw":0,"ts_ns":1,"units":"kW"}"#).unwrap();
        assert!(e.kw && e.site.is_none());
    }

    #[test]
    fn everything_else_goes_to_the_full_checks() {
        for bad in [
            "",
            "[]",
            "{}",
            r#"{"ts_ns": 1}"#,
            r#"{"ts_ns": 1.0, "load_mw": 1}"#,
            r#"{"ts_ns": 9223372036854775808, "load_mw": 1}"#,
            r#"{"ts_ns": 1, "load_mw": "1"}"#,
            r#"{"ts_ns": 1, "load_mw": true}"#,
            r#"{"ts_ns": 1, "load_mw": 1e400}"#,
            r#"{"ts_ns": 1, "load_mw": 01}"#,
            r#"{"ts_ns": 1, "load_mw": 1.}"#,
            r#"{"ts_ns": 1, "load_mw": 1, "load_mw": 2}"#,
            r#"{"ts_ns": 1, "load_kw": 1}"#,
            r#"{"ts_ns": 1, "load_mw": 1, "units": "GW"}"#,
            r#"{"ts_ns": 1, "site": "a\"b", "load_mw": 1}"#,
            r#"{"ts_ns": 1, "site": "", "load_mw": 1}"#,
            r#"{"timestamp": "2024-01-01", "load_mw": 1}"#,
            r#"{"ts_ns": 1, "load_mw": 1,}"#,
            r#"{"ts_ns": 1, "load_mw": 1} x"#,
            r#"{"ts_ns": 1 "load_mw": 1}"#,
            r#"{"ts_ns": 1, "load_mw": 1"#,
        ] {
            assert!(dec(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn numbers_parse_like_python_floats() {
        let (_, v) = dec(
            r#"{"ts_ns":1,"load_mw":0.1,"solar_mw":-12345678901234567890,"price_per_mwh":2.5E-3}"#,
        )
        .unwrap();
        assert_eq!(v, vec![0.1, -12345678901234567890.0, 0.0025]);
    }
}
