//! What a component needs from the instance pool: how many core instances,
//! memories and tables one instance of it creates, its largest table, and
//! its largest memory image (the bytes its data segments write).
//!
//! The pooling allocator reserves every slot up front, so the engine is
//! sized from the plan itself: a Rust plan (three core instances, one
//! memory) gets what it always got, and a Python plan, whose interpreter and
//! adapters make a dozen core instances and a large function table, gets
//! what it needs. Counting reads the binary's sections without validating
//! it; compiling validates.

use crate::error::InputError;
use wasmparser::{Parser, Payload};

/// The pool resources one instance of a component takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// Core module instances (including instances made from exports).
    pub core_instances: u32,
    /// Memories its core modules define.
    pub memories: u32,
    /// Tables its core modules define.
    pub tables: u32,
    /// The largest initial size of those tables, in elements.
    pub largest_table: u64,
    /// The most bytes one core module's data segments write into memory: the
    /// image each of its instances starts from.
    pub largest_image: u64,
}

impl Shape {
    /// What the engine is sized for when it need not be larger: a Rust
    /// `wasm32-wasip2` component with room to spare (it has 3 core
    /// instances, 1 memory, 2 tables of a few hundred elements).
    pub const FLOOR: Shape =
        Shape { core_instances: 4, memories: 1, tables: 2, largest_table: 10_000, largest_image: 0 };

    /// The shape of the component in `bytes`, at least [`Shape::FLOOR`].
    /// Each core instance counts the memories and tables its module
    /// defines; a module the component did not define itself (imported or
    /// aliased) counts as its largest.
    pub fn of(bytes: &[u8]) -> Result<Shape, InputError> {
        let invalid = |e: wasmparser::BinaryReaderError| InputError::new(format!("is not a valid component: {e}"));
        // One frame per component or module being read, innermost last.
        let mut frames: Vec<Frame> = Vec::new();
        let mut counted = Shape { core_instances: 0, memories: 0, tables: 0, largest_table: 0, largest_image: 0 };
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(invalid)? {
                Payload::Version { encoding, .. } => frames.push(Frame {
                    is_module: encoding == wasmparser::Encoding::Module,
                    defines: Defines::default(),
                    modules: Vec::new(),
                }),
                Payload::MemorySection(reader) => {
                    if let Some(frame) = frames.last_mut() {
                        frame.defines.memories += reader.count();
                    }
                }
                Payload::TableSection(reader) => {
                    for table in reader {
                        let table = table.map_err(invalid)?;
                        if let Some(frame) = frames.last_mut() {
                            frame.defines.tables += 1;
                            frame.defines.largest_table = frame.defines.largest_table.max(table.ty.initial);
                        }
                    }
                }
                Payload::DataSection(reader) => {
                    for data in reader {
                        let data = data.map_err(invalid)?;
                        if let Some(frame) = frames.last_mut() {
                            frame.defines.image += data.data.len() as u64;
                        }
                    }
                }
                Payload::InstanceSection(reader) => {
                    for instance in reader {
                        counted.core_instances += 1;
                        let Some(frame) = frames.last() else { continue };
                        if let wasmparser::Instance::Instantiate { module_index, .. } = instance.map_err(invalid)? {
                            let module = frame.modules.get(module_index as usize).copied();
                            let defines = module.unwrap_or_else(|| frame.largest_module());
                            counted.memories += defines.memories;
                            counted.tables += defines.tables;
                            counted.largest_table = counted.largest_table.max(defines.largest_table);
                            counted.largest_image = counted.largest_image.max(defines.image);
                        }
                    }
                }
                Payload::End(_) => {
                    if let Some(done) = frames.pop()
                        && done.is_module
                        && let Some(parent) = frames.last_mut()
                    {
                        parent.modules.push(done.defines);
                    }
                }
                _ => {}
            }
        }
        Ok(counted.at_least(Shape::FLOOR))
    }

    fn at_least(self, floor: Shape) -> Shape {
        Shape {
            core_instances: self.core_instances.max(floor.core_instances),
            memories: self.memories.max(floor.memories),
            tables: self.tables.max(floor.tables),
            largest_table: self.largest_table.max(floor.largest_table),
            largest_image: self.largest_image.max(floor.largest_image),
        }
    }
}

/// What one core module defines.
#[derive(Clone, Copy, Debug, Default)]
struct Defines {
    memories: u32,
    tables: u32,
    largest_table: u64,
    /// Bytes its data segments write.
    image: u64,
}

/// A component or module being read, and the modules a component defined so far.
struct Frame {
    is_module: bool,
    defines: Defines,
    modules: Vec<Defines>,
}

impl Frame {
    fn largest_module(&self) -> Defines {
        self.modules.iter().fold(Defines::default(), |a, m| Defines {
            memories: a.memories.max(m.memories),
            tables: a.tables.max(m.tables),
            largest_table: a.largest_table.max(m.largest_table),
            image: a.image.max(m.image),
        })
    }
}

impl Shape {
    /// What covers every one of `shapes` (the components of one run), at
    /// least [`Shape::FLOOR`].
    pub fn covering_all(shapes: impl IntoIterator<Item = Shape>) -> Shape {
        shapes.into_iter().fold(Shape::FLOOR, Shape::covering)
    }

    /// What covers both `self` and `other`: components of one run share a
    /// pool, so each slot must hold the largest of them.
    pub fn covering(self, other: Shape) -> Shape {
        Shape {
            core_instances: self.core_instances.max(other.core_instances),
            memories: self.memories.max(other.memories),
            tables: self.tables.max(other.tables),
            largest_table: self.largest_table.max(other.largest_table),
            largest_image: self.largest_image.max(other.largest_image),
        }
    }
}

impl Default for Shape {
    fn default() -> Shape {
        Shape::FLOOR
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_component_is_counted_through_its_nested_modules() {
        let component = wat::parse_str(
            r#"(component
                 (core module $a (memory 1) (table 20000 funcref) (table 1 funcref) (data (i32.const 0) "abc"))
                 (core module $b (memory 1) (memory 2) (data (i32.const 8) "abcdefg") (data (i32.const 64) "x"))
                 (core instance (instantiate $a))
                 (core instance (instantiate $b))
                 (core instance (instantiate $b)))"#,
        )
        .unwrap();
        let shape = Shape::of(&component).unwrap();
        // $b is instantiated twice: its two memories twice over.
        assert_eq!(
            shape,
            Shape { core_instances: 3, memories: 5, tables: 2, largest_table: 20_000, largest_image: 8 }
                .at_least(Shape::FLOOR)
        );
    }

    #[test]
    fn a_small_component_gets_the_floor() {
        let component = wat::parse_str("(component (core module (memory 1)))").unwrap();
        assert_eq!(Shape::of(&component).unwrap(), Shape::FLOOR);
    }
}
