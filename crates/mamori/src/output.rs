//! Printing that tolerates a closed pipe (`mamori inspect x | head`).

use std::io::Write;

/// Writes `text` to stdout; a reader that went away is not an error.
pub fn out(text: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(text.as_bytes());
    let _ = o.flush();
}

/// Writes `text` and a newline to stdout.
pub fn outln(text: &str) {
    out(&format!("{text}\n"));
}
