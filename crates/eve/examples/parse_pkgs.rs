//! parse-pkgs.sh's table: print `NAME=value` for every placeholder of an EVE tree.
//! `parse_pkgs <eve root> [platform] [kernel tag]`; EVE_HASH is honoured.

use evebuild_eve::placeholders::{TagContext, table};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(root) = args.first() else {
        eprintln!("usage: parse_pkgs <eve root> [platform] [kernel tag]");
        std::process::exit(2);
    };
    let ctx = TagContext {
        eve_root: std::path::absolute(root).expect("absolute path"),
        platform: args.get(1).cloned().unwrap_or_else(|| "generic".into()),
        kernel_tag: args.get(2).cloned().unwrap_or_default(),
        eve_hash: std::env::var("EVE_HASH").ok().filter(|h| !h.is_empty()),
        org: None,
    };
    match table(&ctx) {
        Ok(rows) => {
            for (name, value) in rows {
                println!("{name}={value}");
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
