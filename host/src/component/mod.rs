//! Plan components: reading them, recognizing what they are, compiling them once.
//!
//! [`load`] reads a file and tells a component from a core module or from
//! something that is not wasm at all, with a message that says what to do.
//! [`cache`] compiles a component with a run's engine and keeps the result on
//! disk, keyed by the component's hash and the engine's settings, so repeated
//! runs skip Cranelift.

pub mod cache;
pub mod load;
pub mod shape;

pub use cache::compile;
pub use load::{PlanComponent, load};
pub use shape::Shape;
