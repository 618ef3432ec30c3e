//! Stop strings in streamed text: text is passed on as soon as it can no
//! longer turn out to be the start of a stop string.

/// Scans generated text for stop strings, holding back the shortest tail
/// that might still grow into one.
///
/// Held text is the longest suffix of the unsent text that is a proper
/// prefix of a stop string. So any stop string that completes later starts
/// inside the held text, never in text already sent.
#[derive(Debug)]
pub struct StopScanner {
    stops: Vec<String>,
    held: String,
}

/// What [`StopScanner::push`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scanned {
    /// Text that is safe to send now; it never contains a stop string.
    pub text: String,
    /// Whether a stop string appeared; the text ends right before it.
    pub stopped: bool,
}

impl StopScanner {
    /// Creates a scanner; `stops` must not contain an empty string.
    pub fn new(stops: Vec<String>) -> StopScanner {
        StopScanner { stops, held: String::new() }
    }

    /// Adds a piece of generated text.
    pub fn push(&mut self, piece: &str) -> Scanned {
        self.held.push_str(piece);
        let first_stop = self.stops.iter().filter_map(|stop| self.held.find(stop.as_str())).min();
        if let Some(offset) = first_stop {
            self.held.truncate(offset);
            return Scanned { text: std::mem::take(&mut self.held), stopped: true };
        }

        let keep = self.stop_prefix_len();
        let text = self.held[..self.held.len() - keep].to_string();
        self.held.drain(..self.held.len() - keep);
        Scanned { text, stopped: false }
    }

    /// Ends the text and returns what was held back.
    pub fn finish(self) -> String {
        self.held
    }

    /// Length in bytes of the longest suffix of `held` that is a proper
    /// prefix of some stop string, cut at a character boundary.
    fn stop_prefix_len(&self) -> usize {
        for (start, _) in self.held.char_indices() {
            let suffix = &self.held[start..];
            if self.stops.iter().any(|stop| stop.len() > suffix.len() && stop.starts_with(suffix)) {
                return suffix.len();
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `pieces` and returns the text sent and whether a stop ended it.
    fn scan(stops: &[&str], pieces: &[&str]) -> (Vec<String>, bool) {
        let mut scanner = StopScanner::new(stops.iter().map(|stop| stop.to_string()).collect());
        let mut sent = Vec::new();
        for piece in pieces {
            let scanned = scanner.push(piece);
            sent.push(scanned.text);
            if scanned.stopped {
                return (sent, true);
            }
        }
        sent.push(scanner.finish());
        (sent, false)
    }

    #[test]
    fn no_stops_sends_everything_at_once() {
        let (sent, stopped) = scan(&[], &["ab", "c"]);
        assert_eq!(sent, ["ab", "c", ""]);
        assert!(!stopped);
    }

    #[test]
    fn stop_across_pieces_is_never_sent() {
        let (sent, stopped) = scan(&["END"], &["one E", "N", "D two"]);
        assert!(stopped);
        assert_eq!(sent.concat(), "one ");
        assert_eq!(sent[0], "one ", "\"E\" waits for the next piece");
    }

    #[test]
    fn false_start_is_released() {
        let (sent, stopped) = scan(&["END"], &["a E", "ND", "x"]);
        assert!(stopped);
        assert_eq!(sent.concat(), "a ");
        let (sent, stopped) = scan(&["END"], &["a E", "x"]);
        assert!(!stopped);
        assert_eq!(sent.concat(), "a Ex");
    }

    #[test]
    fn earliest_stop_wins() {
        let (sent, stopped) = scan(&["cd", "b"], &["abcd"]);
        assert!(stopped);
        assert_eq!(sent.concat(), "a");
    }

    #[test]
    fn chinese_stop_is_held_by_character() {
        let (sent, stopped) = scan(&["再见"], &["你好", "再", "见了"]);
        assert!(stopped);
        assert_eq!(sent, ["你好", "", ""]);
    }

    #[test]
    fn held_text_comes_out_at_finish() {
        let (sent, stopped) = scan(&["STOP"], &["x ST"]);
        assert!(!stopped);
        assert_eq!(sent, ["x ", "ST"]);
    }
}
