//! Print `linuxkit pkg show-tag` for each package directory given, resolved in one batch.
//! Used by bench/tags.sh: `show_tags [--canonical] <pkg dir>...`.

use evebuild_linuxkit::tag::{ShowTagOptions, TagRequest, show_tags};

fn main() {
    let mut canonical = false;
    let mut requests = Vec::new();
    for arg in std::env::args().skip(1) {
        if arg == "--canonical" {
            canonical = true;
            continue;
        }
        requests.push(TagRequest {
            pkg_dir: arg.into(),
            options: ShowTagOptions::default().with_env(),
        });
    }
    match show_tags(&requests) {
        Ok(tags) => {
            for t in tags {
                println!(
                    "{}",
                    if canonical {
                        t.canonical()
                    } else {
                        t.reference()
                    }
                );
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
