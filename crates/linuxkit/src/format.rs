//! Constants of linuxkit's output format, with where they come from (linuxkit 3bf33c3,
//! `src/cmd/linuxkit/moby/...`).

/// `defaultModTime` (moby/build/dir.go): 2017-04-18T16:30:00Z, the mtime of every entry
/// linuxkit generates.
pub const DEFAULT_MTIME: i64 = 1_492_533_000;

/// PAX record naming where an entry came from (moby/const.go).
pub const PAX_SOURCE: &str = "LINUXKIT.source";
/// PAX record naming the yml section of an entry (moby/const.go).
pub const PAX_LOCATION: &str = "LINUXKIT.location";

/// Content linuxkit writes for `etc/hosts` in every image (moby/build/image.go `replace`).
pub const HOSTS: &str = "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n";
/// Content linuxkit writes for `etc/resolv.conf` in container images.
pub const RESOLV_CONF: &str = "\n# no resolv.conf configured\n";
/// Where `etc/resolv.conf` points in init images and volumes (`resolvconfSymlink`).
pub const RESOLV_SYMLINK: &str = "/run/resolvconf/resolv.conf";
/// Target of the generated `etc/mtab` symlink.
pub const MTAB_TARGET: &str = "/proc/mounts";

/// Entries dropped from every image (`exclude`).
pub const EXCLUDE: &[&str] = &[
    ".dockerenv",
    "Dockerfile",
    "dev/console",
    "dev/pts",
    "dev/shm",
    "etc/hostname",
];

/// Directories linuxkit always (re)writes as 0755 root at the end of every image: its
/// `touch` table's directory keys never match the cleaned names of the cache source, so they
/// are appended every time and win on extraction.
pub const TOUCH_DIRS: &[&str] = &["dev", "dev/pts", "dev/shm", "etc", "proc", "sys"];

/// The apk database merged across init images (moby/apk_tarwriter.go).
pub const APK_INSTALLED: &str = "lib/apk/db/installed";
/// PAX source of the merged apk database.
pub const APK_SOURCE: &str = "LINUXKIT.apkinit";

/// Where volumes live (`allVolumesBaseDir`).
pub const VOLUMES_DIR: &str = "containers/volumes";

/// The capabilities linuxkit knows, in `capability.ListKnown()` order (moby/sys/capability
/// v0.4.0): what `all` expands to.
pub const ALL_CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// The rlimits linuxkit accepts (moby/config.go `ConfigToOCI`).
pub const RLIMITS: &[&str] = &[
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// OCI runtime-spec version linuxkit vendors.
pub const OCI_VERSION: &str = "1.2.1";
