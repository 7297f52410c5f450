//! How tg-wasm's diagnostics read on stderr.
//!
//! At the default verbosity the only diagnostics are warnings, and they are
//! meant for the person who typed the command: one line each, `warning: …`,
//! as cargo and rustc write them, with the fields of the spans they happened
//! in (`shard=1`) before the message. A timestamp and a module path would only
//! push the message off the screen. With `-v` tracing's full format stays:
//! diagnostics are then for reading a run's course, where time and origin
//! matter.
//!
//! Owns: the format of one event. Does not own: which events are emitted or
//! filtered (the callers and `main`).

use std::fmt;

use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// `warning: <span fields>: <message> <fields>`, one line an event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Plain;

impl<S, N> FormatEvent<S, N> for Plain
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &Event<'_>) -> fmt::Result {
        let label = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "note",
            Level::DEBUG | Level::TRACE => "debug",
        };
        if writer.has_ansi_escapes() {
            // Bold yellow, as cargo marks its warnings.
            write!(writer, "\x1b[1;33m{label}\x1b[0m: ")?;
        } else {
            write!(writer, "{label}: ")?;
        }
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    write!(writer, "{fields}: ")?;
                }
            }
        }
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// Everything written, shared with the test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    fn written(emit: impl FnOnce()) -> String {
        let out = Captured::default();
        let subscriber =
            tracing_subscriber::fmt().with_ansi(false).event_format(Plain).with_writer(out.clone()).finish();
        tracing::subscriber::with_default(subscriber, emit);
        let bytes = out.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn a_warning_is_one_line_without_time_or_module() {
        let text = written(|| tracing::warn!("the run has no lookahead"));
        assert_eq!(text, "warning: the run has no lookahead\n");
    }

    #[test]
    fn span_and_event_fields_are_kept() {
        let text = written(|| {
            let span = tracing::warn_span!("shard", index = 1);
            let _entered = span.enter();
            tracing::warn!(ticket = 7, "dropped a malformed claim ticket");
        });
        assert_eq!(text, "warning: index=1: dropped a malformed claim ticket ticket=7\n");
    }
}
