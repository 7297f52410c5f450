//! A run's progress as people watch it: [`TerminalProgress`], one line
//! redrawn in place on a terminal, and [`PlainProgress`], a line now and then
//! for logs (CI, a file, a pipe), where a redrawn line would be noise. Both
//! are [`Observer`]s and print the same line; [`ProgressMode`] and
//! [`observer`] choose between them. Sampling the run is
//! [`crate::run::observe`]'s.

use crate::run::observe::{Observer, Snapshot};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Runs shorter than this show no progress line on a terminal: it would only flicker.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// The first plain line comes after this long: a run that ends sooner logs only its summary.
pub const PLAIN_FIRST: Duration = Duration::from_secs(2);
/// Plain lines come this often during [`PLAIN_DENSE_FOR`], enough to see a run move…
pub const PLAIN_EVERY: Duration = Duration::from_secs(2);
/// …and this often after it, so that an hour-long run logs hundreds of lines, not thousands.
pub const PLAIN_EVERY_LATER: Duration = Duration::from_secs(10);
/// How long plain lines come every [`PLAIN_EVERY`].
pub const PLAIN_DENSE_FOR: Duration = Duration::from_secs(60);

/// Where progress goes (`--progress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// A redrawn line when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines now and then, wherever stderr goes.
    Plain,
    /// A redrawn line, wherever stderr goes.
    Tty,
    /// None.
    Off,
}

/// The observer `mode` asks for, writing to `out`, which is a terminal if
/// `out_is_terminal`.
pub fn observer(mode: ProgressMode, out: Box<dyn Write + Send>, out_is_terminal: bool) -> Option<Box<dyn Observer>> {
    match (mode, out_is_terminal) {
        (ProgressMode::Off, _) => None,
        (ProgressMode::Tty, _) | (ProgressMode::Auto, true) => Some(Box::new(TerminalProgress::new(out))),
        (ProgressMode::Plain, _) | (ProgressMode::Auto, false) => Some(Box::new(PlainProgress::new(out))),
    }
}

/// The progress line for `s`, without control characters: wall time, where
/// the instances stand, virtual time, events and the last sync state reached.
pub fn line(s: &Snapshot) -> String {
    let state = s.last_state.as_ref().map(|(name, n)| format!(" · state {name:?} {n}")).unwrap_or_default();
    format!(
        "{:.1} s · {} running, {} ok, {} failed, {} crashed of {} · {} virtual · {}{state}",
        s.wall.as_secs_f64(),
        s.running(),
        s.ok,
        s.failed,
        s.crashed,
        s.total,
        crate::text::duration_ns(s.virtual_ns),
        crate::text::count(s.events, "event"),
    )
}

/// A one-line progress display, redrawn in place on a terminal.
pub struct TerminalProgress {
    out: Mutex<Box<dyn Write + Send>>,
    drawn: AtomicBool,
}

impl TerminalProgress {
    /// A display on `out`, which should be a terminal.
    pub fn new(out: Box<dyn Write + Send>) -> TerminalProgress {
        TerminalProgress { out: Mutex::new(out), drawn: false.into() }
    }
}

impl Observer for TerminalProgress {
    fn update(&self, s: &Snapshot) {
        if s.wall < SHOW_AFTER {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // \r and erase-line redraw in place; a display error is not worth failing a run for.
        let _ = write!(out, "\r\x1b[2K{}", line(s));
        let _ = out.flush();
        self.drawn.store(true, Ordering::Relaxed);
    }

    fn finish(&self) {
        if self.drawn.load(Ordering::Relaxed) {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

/// Progress for logs: `progress: <line>` after [`PLAIN_FIRST`], then every
/// [`PLAIN_EVERY`] for a minute and every [`PLAIN_EVERY_LATER`] after.
pub struct PlainProgress {
    out: Mutex<Box<dyn Write + Send>>,
    /// When the next line is due, as wall time since the start.
    due: Mutex<Duration>,
}

impl PlainProgress {
    /// Lines on `out`.
    pub fn new(out: Box<dyn Write + Send>) -> PlainProgress {
        PlainProgress { out: Mutex::new(out), due: Mutex::new(PLAIN_FIRST) }
    }
}

impl Observer for PlainProgress {
    fn update(&self, s: &Snapshot) {
        let mut due = self.due.lock().unwrap_or_else(|e| e.into_inner());
        if s.wall < *due {
            return;
        }
        let every = if s.wall < PLAIN_DENSE_FOR { PLAIN_EVERY } else { PLAIN_EVERY_LATER };
        // The next line is due a whole interval after this one, however late this one came.
        *due = s.wall + every;
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "progress: {}", line(s));
        let _ = out.flush();
    }

    fn finish(&self) {}
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer tests read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn at(wall_ms: u64) -> Snapshot {
        Snapshot {
            ok: 3,
            failed: 1,
            crashed: 0,
            total: 10,
            virtual_ns: 1_500_000_000,
            events: 42,
            last_state: Some(("ready".into(), 4)),
            wall: Duration::from_millis(wall_ms),
        }
    }

    #[test]
    fn the_line_counts_instances_by_where_they_stand() {
        assert_eq!(
            line(&at(2500)),
            "2.5 s · 6 running, 3 ok, 1 failed, 0 crashed of 10 · 1.5 s virtual · 42 events · state \"ready\" 4"
        );
    }

    #[test]
    fn plain_lines_come_every_interval_without_control_characters() {
        let out = Shared::default();
        let progress = PlainProgress::new(Box::new(out.clone()));
        // Sampled every 200 ms for 80 s: every 2 s up to a minute, then every 10 s.
        for ms in (0..80_000).step_by(200) {
            progress.update(&at(ms));
        }
        progress.finish();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let walls: Vec<&str> = text.lines().map(|l| l.split(' ').nth(1).unwrap()).collect();
        let mut expected: Vec<String> = (1..=30).map(|k| format!("{}.0", 2 * k)).collect();
        expected.push("70.0".into());
        assert_eq!(walls, expected, "{text}");
        assert!(text.lines().all(|l| l.starts_with("progress: ")), "{text}");
        assert!(!text.contains('\r') && !text.contains('\x1b'), "{text:?}");
    }

    #[test]
    fn auto_chooses_by_whether_the_output_is_a_terminal() {
        let tty = |mode, terminal| {
            let out = Shared::default();
            let observer = observer(mode, Box::new(out.clone()), terminal);
            if let Some(o) = &observer {
                o.update(&at(5000));
            }
            String::from_utf8(out.0.lock().unwrap().clone()).unwrap()
        };
        assert!(tty(ProgressMode::Auto, true).starts_with("\r\x1b[2K"));
        assert!(tty(ProgressMode::Auto, false).starts_with("progress: "));
        assert!(tty(ProgressMode::Tty, false).starts_with("\r\x1b[2K"));
        assert!(tty(ProgressMode::Plain, true).starts_with("progress: "));
        assert_eq!(tty(ProgressMode::Off, true), "");
    }
}
