//! TODO
pub mod partitions;
