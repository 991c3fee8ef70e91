//! TODO

pub mod grub;
