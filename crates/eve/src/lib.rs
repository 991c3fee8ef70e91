//! TODO

pub mod config_img;
pub mod partitions;
