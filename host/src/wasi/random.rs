//! `wasi:random` from the run's seed.
//!
//! Both the "secure" and the insecure generators of an instance are
//! [`RngStream`]s derived from `(seed, instance)`, so a plan's random choices
//! replay exactly. A plan therefore must not rely on `wasi:random` for real
//! secrets — inside a simulation nothing is secret.

use netsim::RngStream;
use std::convert::Infallible;

/// Adapts an [`RngStream`] to the `rand` traits wasmtime-wasi expects.
pub struct SeededRandom(pub RngStream);

impl rand_core::TryRng for SeededRandom {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.0.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.0.fill_bytes(dst);
        Ok(())
    }
}

/// The secure and insecure generators and the insecure seed of one instance.
pub fn for_instance(seed: u64, instance: u32) -> (SeededRandom, SeededRandom, u128) {
    let secure = RngStream::derive(seed, "wasi-random", u64::from(instance));
    let insecure = RngStream::derive(seed, "wasi-insecure-random", u64::from(instance));
    let mut seed_stream = RngStream::derive(seed, "wasi-insecure-seed", u64::from(instance));
    let insecure_seed = (u128::from(seed_stream.next_u64()) << 64) | u128::from(seed_stream.next_u64());
    (SeededRandom(secure), SeededRandom(insecure), insecure_seed)
}
