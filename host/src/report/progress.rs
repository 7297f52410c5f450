//! The terminal line that shows a run's progress: [`TerminalProgress`], the
//! [`Observer`] `tg-wasm run` installs when stderr is a terminal. Sampling
//! the run is [`crate::run::observe`]'s.

use crate::run::observe::{Observer, Snapshot};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// Runs shorter than this show no progress line: it would only flicker.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// A one-line progress display, redrawn in place on a terminal.
pub struct TerminalProgress {
    out: Mutex<Box<dyn Write + Send>>,
    drawn: std::sync::atomic::AtomicBool,
}

impl TerminalProgress {
    /// A display on `out`, which should be a terminal.
    pub fn new(out: Box<dyn Write + Send>) -> TerminalProgress {
        TerminalProgress { out: Mutex::new(out), drawn: false.into() }
    }

    /// The line for `s`, without control characters.
    pub fn line(s: &Snapshot) -> String {
        let state = s.last_state.as_ref().map(|(name, n)| format!(" · state {name:?} {n}")).unwrap_or_default();
        format!(
            "{}/{} instances done · {} virtual · {} events{state} · {:.1} s",
            s.done,
            s.total,
            crate::text::duration_ns(s.virtual_ns),
            s.events,
            s.wall.as_secs_f64()
        )
    }
}

impl Observer for TerminalProgress {
    fn update(&self, s: &Snapshot) {
        if s.wall < SHOW_AFTER {
            return;
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        // \r and erase-line redraw in place; a display error is not worth failing a run for.
        let _ = write!(out, "\r\x1b[2K{}", Self::line(s));
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
