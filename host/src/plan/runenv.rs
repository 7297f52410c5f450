//! `tg:plan/runenv`: who an instance is and what it was asked to do.

use crate::bindings::runenv::Host;
use crate::instance::{InstanceState, RecordedMessage};

/// Longest message or crash reason kept, in bytes; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 64 << 10;

fn bounded(mut text: String) -> String {
    if text.len() > MAX_MESSAGE_BYTES {
        let end = crate::text::truncate(&text, MAX_MESSAGE_BYTES).len();
        text.truncate(end);
        text.push_str(" [truncated]");
    }
    text
}

impl Host for InstanceState {
    fn test_plan(&mut self) -> wasmtime::Result<String> {
        Ok(self.env.test_plan.clone())
    }

    fn test_case(&mut self) -> wasmtime::Result<String> {
        Ok(self.env.test_case.clone())
    }

    fn test_run(&mut self) -> wasmtime::Result<String> {
        Ok(self.env.test_run.clone())
    }

    fn seed(&mut self) -> wasmtime::Result<u64> {
        Ok(self.env.seed)
    }

    fn test_instance_count(&mut self) -> wasmtime::Result<u32> {
        Ok(self.env.instance_count)
    }

    fn global_seq(&mut self) -> wasmtime::Result<u32> {
        Ok(self.placement.node.0)
    }

    fn group_id(&mut self) -> wasmtime::Result<String> {
        Ok(self.placement.group.id.clone())
    }

    fn group_seq(&mut self) -> wasmtime::Result<u32> {
        Ok(self.placement.group_seq)
    }

    fn group_instance_count(&mut self) -> wasmtime::Result<u32> {
        Ok(self.placement.group.instance_count)
    }

    fn params(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.placement.group.params.clone())
    }

    fn record_message(&mut self, message: String) -> wasmtime::Result<()> {
        let message = bounded(message);
        let before = self.record.message_bytes.fetch_add(message.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if before + message.len() as u64 > self.message_budget {
            // Every message is kept for the run directory: a plan logging without end would fill the host.
            return Err(crate::limits::LimitExceeded(format!(
                "record-message: this instance's messages passed {} bytes, tg-wasm's limit per instance (raise it \
                 with --max-message-bytes, or log less: stdout is kept too, up to 16 MiB)",
                self.message_budget
            ))
            .into());
        }
        let mut sim = self.sim.lock();
        let at = sim.now();
        sim.record(self.placement.node, "message", format_args!("{message:?}"));
        drop(sim);
        // The span names the instance, so `-v` shows `instance{seq=3 group="small"}: …`
        // on every line, whatever the subscriber's format.
        let span = tracing::info_span!("instance", seq = self.placement.node.0, group = %self.placement.group.id);
        span.in_scope(|| tracing::info!(target: "tg_wasm::plan::message", at = %at, "{message}"));
        self.record.messages.lock().unwrap_or_else(|e| e.into_inner()).push(RecordedMessage { at, text: message });
        Ok(())
    }

    fn record_crash(&mut self, reason: String) -> wasmtime::Result<()> {
        *self.record.crash_reason.lock().unwrap_or_else(|e| e.into_inner()) = Some(bounded(reason));
        Ok(())
    }
}
