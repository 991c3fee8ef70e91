//! The targets and knobs `evebuild --help` lists after the options.

use std::fmt::Write;

/// Text shown after the option list: targets, knobs and examples.
pub fn after_help() -> String {
    let mut s = String::from("Targets (as with EVE's make):\n");
    for (name, what) in evebuild::target::TARGET_HELP {
        let _ = writeln!(s, "  {name:<24} {what}");
    }
    s.push_str("\nKnobs (KNOB=VALUE on the command line or in the environment):\n");
    for (name, what) in evebuild::KNOB_HELP {
        let _ = writeln!(s, "  {name:<24} {what}");
    }
    s.push_str(
        "\nExamples:\n  evebuild live\n  evebuild ZARCH=arm64 HV=kvm PLATFORM=generic live\n  \
         evebuild --hv xen rootfs\n  evebuild rootfs-acrn\n  evebuild pkg show-tag pkg/pillar\n",
    );
    s
}
