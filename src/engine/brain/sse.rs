//! Server-sent events as chat-completion streams send them: `data:` lines
//! ended by a blank line, `:` comments, other fields ignored. Fed the body's
//! chunks as they arrive (a line may be split anywhere, even between `\r`
//! and `\n`), it hands out each event's data.

/// A line longer than this ends the stream (a server gone wrong).
const MAX_LINE_BYTES: usize = 1 << 20;

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct LineTooLong;

#[derive(Default)]
pub(crate) struct SseParser {
    line: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    /// The last byte was a `\r`: a `\n` right after it ends no other line.
    after_cr: bool,
}

impl SseParser {
    /// Reads `bytes`; each complete event's data goes to `out`.
    pub fn push(&mut self, bytes: &[u8], out: &mut Vec<String>) -> Result<(), LineTooLong> {
        for &b in bytes {
            let after_cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if after_cr => {}
                b'\n' | b'\r' => self.end_line(out),
                _ => {
                    if self.line.len() >= MAX_LINE_BYTES {
                        return Err(LineTooLong);
                    }
                    self.line.push(b)
                }
            }
        }
        Ok(())
    }

    fn end_line(&mut self, out: &mut Vec<String>) {
        let line = std::mem::take(&mut self.line);
        if line.is_empty() {
            if std::mem::take(&mut self.has_data) {
                out.push(String::from_utf8_lossy(&self.data).into_owned());
            }
            self.data.clear();
            return;
        }
        if line.starts_with(b":") {
            return;
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(at) => {
                let value = &line[at + 1..];
                (&line[..at], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (&line[..], &b""[..]),
        };
        if field == b"data" {
            if self.has_data {
                self.data.push(b'\n');
            }
            self.data.extend_from_slice(value);
            self.has_data = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        for c in chunks {
            p.push(c, &mut out).unwrap();
        }
        out
    }

    #[test]
    fn events_are_read_across_chunks_and_line_endings() {
        let body = b": keep-alive\r\n\r\ndata: {\"a\":1}\r\n\r\nevent: x\ndata:two\ndata: lines\n\ndata: [DONE]\r\r";
        let whole = events(&[body]);
        assert_eq!(whole, ["{\"a\":1}", "two\nlines", "[DONE]"]);
        // Split at every byte, including between \r and \n.
        let bytes: Vec<&[u8]> = body.chunks(1).collect();
        assert_eq!(events(&bytes), whole);
        // An event without its blank line is not complete.
        assert!(events(&[b"data: x\n"]).is_empty());
    }

    #[test]
    fn a_line_without_end_is_bounded() {
        let mut p = SseParser::default();
        let mut out = Vec::new();
        let big = vec![b'x'; MAX_LINE_BYTES + 1];
        assert_eq!(p.push(&big, &mut out), Err(LineTooLong));
    }
}
