//! TODO

pub mod config_img;
