//! `tg-wasm new`: a plan crate written anywhere, ready for `tg-wasm run` —
//! Testground's `plan create`.
//!
//! A [`Template`] is a set of files (`templates/`): `Cargo.toml` with tg-sdk
//! as a dependency ([`SdkSource`]: a checkout of tg-wasm by path — by
//! default the one this binary was built from — or a git repository), a `rust-toolchain.toml` that brings tg-wasm's Rust and the
//! `wasm32-wasip2` target, `src/lib.rs` with a test case that meets at a
//! barrier and records a metric, a composition in Testground's format, a
//! README and a `.gitignore`. [`create`] fills them in for a name and writes
//! them into a new or empty directory.
//!
//! This module writes source files; building and running them is the
//! builder's and the run's.

use crate::error::InputError;
use std::path::{Path, PathBuf};

/// The checkout this binary was built from (`cargo install --path host`
/// builds in place): a plan written by `tg-wasm new` takes tg-sdk from it
/// by path unless told otherwise, so that the SDK a plan builds against is
/// the one the host it runs on was built with.
pub const BUILT_FROM: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// tg-wasm's own `rust-toolchain.toml`: plans are built with the Rust the SDK is tested with
/// (its compat pieces replace parts of that Rust's wasi-libc).
const TOOLCHAIN_FILE: &str = include_str!("../../../rust-toolchain.toml");

/// The test case every template's plan declares.
const CASE: &str = "ping";

/// What a new plan is built on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// Blocking `std::net` and the blocking sync client.
    Std,
    /// A tokio runtime, tokio's networking and the async sync client.
    Tokio,
    /// A rust-libp2p swarm (TCP, noise, yamux, identify) on tokio.
    Libp2p,
}

/// Every template, by name.
pub const TEMPLATES: &[(&str, Template)] =
    &[("std", Template::Std), ("tokio", Template::Tokio), ("libp2p", Template::Libp2p)];

impl Template {
    /// The template called `name`, or bad input listing those there are.
    pub fn parse(name: &str) -> Result<Template, InputError> {
        TEMPLATES.iter().find(|(n, _)| *n == name).map(|(_, t)| *t).ok_or_else(|| {
            let names: Vec<&str> = TEMPLATES.iter().map(|(n, _)| *n).collect();
            InputError::new(format!("there is no template {name:?}; templates are {}", names.join(", ")))
        })
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        TEMPLATES.iter().find(|(_, t)| *t == self).map_or("std", |(n, _)| n)
    }

    /// The tg-sdk features it needs.
    fn sdk_features(self) -> &'static [&'static str] {
        match self {
            Template::Std => &[],
            Template::Tokio => &["tokio"],
            Template::Libp2p => &["libp2p"],
        }
    }

    /// (path in the plan, contents with placeholders), in the order they are listed.
    fn files(self) -> Vec<(&'static str, &'static str)> {
        let (manifest, lib) = match self {
            Template::Std => (include_str!("templates/std/Cargo.toml"), include_str!("templates/std/lib.rs")),
            Template::Tokio => (include_str!("templates/tokio/Cargo.toml"), include_str!("templates/tokio/lib.rs")),
            Template::Libp2p => (include_str!("templates/libp2p/Cargo.toml"), include_str!("templates/libp2p/lib.rs")),
        };
        let mut files = vec![
            ("Cargo.toml", manifest),
            ("rust-toolchain.toml", include_str!("templates/common/rust-toolchain.toml")),
            ("src/lib.rs", lib),
            ("compositions/two-groups.toml", include_str!("templates/common/composition.toml")),
            ("README.md", include_str!("templates/common/README.md")),
            (".gitignore", include_str!("templates/common/gitignore")),
        ];
        match self {
            Template::Std => {}
            // tokio's networking on wasm32-wasip2 needs `--cfg tokio_unstable` for a plain cargo build.
            Template::Tokio => files.push((".cargo/config.toml", include_str!("templates/tokio/cargo-config.toml"))),
            // The same, and wasm's wide arithmetic for curve25519's 64-bit backend.
            Template::Libp2p => files.push((".cargo/config.toml", include_str!("templates/libp2p/cargo-config.toml"))),
        }
        files
    }
}

/// Where a new plan takes tg-sdk (and, for libp2p, the stand-ins it patches in) from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SdkSource {
    /// A git repository holding tg-wasm.
    Git(String),
    /// A checkout of tg-wasm: its root, or its `sdk-guest` directory.
    Path(PathBuf),
}

impl SdkSource {
    /// The checkout this binary was built from, if it still holds tg-sdk;
    /// else bad input asking for `--sdk-path` or `--sdk-git`.
    pub fn built_from() -> Result<SdkSource, InputError> {
        let checkout = PathBuf::from(BUILT_FROM);
        Self::sdk_dir(&checkout).map(|_| SdkSource::Path(checkout)).map_err(|_| {
            InputError::new(format!(
                "tg-sdk: the tg-wasm checkout this binary was built from ({}) no longer holds it; \
                 give --sdk-path DIR (a tg-wasm checkout) or --sdk-git URL (a tg-wasm repository)",
                Path::new(BUILT_FROM).parent().unwrap_or(Path::new(BUILT_FROM)).display()
            ))
        })
    }

    /// The checkout's `sdk-guest` directory, absolute, for a path source; bad
    /// input if `path` holds no tg-sdk.
    fn sdk_dir(path: &Path) -> Result<PathBuf, InputError> {
        let holds_sdk = |dir: &Path| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.lines().any(|l| l.trim() == "name = \"tg-sdk\""))
        };
        let dir = [path.to_path_buf(), path.join("sdk-guest")].into_iter().find(|d| holds_sdk(d)).ok_or_else(|| {
            InputError::new(format!(
                "--sdk-path {}: no tg-sdk there; give the root of a tg-wasm checkout (it holds sdk-guest/)",
                path.display()
            ))
        })?;
        dir.canonicalize().map_err(|e| InputError::new(format!("--sdk-path {}: {e}", dir.display())))
    }

    /// `tg-sdk = { … }` for `features`, with the other source in a comment.
    fn dependency(&self, features: &[&str]) -> Result<String, InputError> {
        let features = if features.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
            format!(", features = [{}]", quoted.join(", "))
        };
        Ok(match self {
            SdkSource::Git(url) => format!(
                "# From tg-wasm's repository; pin it with rev = \"…\" to the tg-wasm you run, or take a checkout:\n\
                 # tg-sdk = {{ path = \"/path/to/tg-wasm/sdk-guest\"{features} }}\n\
                 tg-sdk = {{ git = {url:?}{features} }}"
            ),
            SdkSource::Path(path) => {
                let dir = Self::sdk_dir(path)?;
                format!(
                    "# From a checkout of tg-wasm (`tg-wasm new --sdk-path`); from a tg-wasm repository instead:\n\
                     # tg-sdk = {{ git = \"https://…/tg-wasm\", rev = \"…\"{features} }}\n\
                     tg-sdk = {{ path = {:?}{features} }}",
                    dir.display().to_string()
                )
            }
        })
    }

    /// The `[patch.crates-io]` block a libp2p plan needs: tg-wasm's stand-ins
    /// for futures-timer and if-watch (see the libp2p docs).
    fn patch(&self) -> Result<String, InputError> {
        let source = |krate: &str| -> Result<String, InputError> {
            Ok(match self {
                SdkSource::Git(url) => format!("{{ git = {url:?} }}"),
                SdkSource::Path(path) => {
                    let dir = Self::sdk_dir(path)?.join("compat-crates").join(krate);
                    format!("{{ path = {:?} }}", dir.display().to_string())
                }
            })
        };
        Ok(format!(
            "\n# tg-wasm's stand-ins for crates that cannot work on wasm32-wasip2 (futures-timer's helper\n\
             # thread cannot start; if-watch needs async-io, which does not build for WASI). Cargo\n\
             # replaces a crate for all its dependents only here, in the workspace's root manifest.\n\
             [patch.crates-io]\n\
             futures-timer = {}\n\
             if-watch = {}\n",
            source("futures-timer")?,
            source("if-watch")?
        ))
    }
}

/// What [`create`] wrote.
#[derive(Debug)]
pub struct Created {
    /// The plan's directory, as given.
    pub dir: PathBuf,
    /// The crate's name.
    pub name: String,
    /// Its template.
    pub template: Template,
    /// The files, relative to `dir`.
    pub files: Vec<&'static str>,
}

impl Created {
    /// What was written and what to do next, for the terminal.
    pub fn render(&self) -> String {
        let dir = self.dir.display();
        let mut out = format!("created plan {} ({} template) in {dir}/:\n", self.name, self.template.name());
        for file in &self.files {
            out.push_str(&format!("  {file}\n"));
        }
        out.push_str(&format!(
            "run it:\n  tg-wasm run {dir} --instances 100\n  tg-wasm run composition -f {dir}/compositions/two-groups.toml\n"
        ));
        out
    }
}

/// Rust keywords and the names of Rust's own crates: Cargo refuses them as package names.
const RESERVED: &[&str] = &[
    "alloc",
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "core",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "proc_macro",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "std",
    "struct",
    "super",
    "test",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
];

/// The crate name a plan in `dir` gets: its directory's name, if Cargo takes it.
fn crate_name(dir: &Path) -> Result<String, InputError> {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid {
        return Err(InputError::new(format!(
            "{:?} cannot name a plan crate: use letters, digits, - and _, starting with a letter",
            dir.display().to_string()
        )));
    }
    if RESERVED.contains(&name) {
        return Err(InputError::new(format!("{name:?} is reserved by Rust and cannot name a crate; choose another")));
    }
    // Every plan depends on tg-sdk 0.1.0, and a plan crate is 0.1.0 too: one
    // lockfile cannot hold two packages of one name and version, and in code
    // `tg_sdk` and `tg-sdk` are one crate. (Other dependencies' names build.)
    if name.replace('_', "-").eq_ignore_ascii_case("tg-sdk") {
        return Err(InputError::new(format!(
            "{name:?} is the name of the SDK every plan depends on, which a plan cannot share; choose another (e.g. {name}-plan)"
        )));
    }
    Ok(name.to_string())
}

/// Writes a new plan from `template` into `dir` (created if missing, else it
/// must be empty), with tg-sdk from `sdk`.
pub fn create(dir: &Path, template: Template, sdk: &SdkSource) -> Result<Created, InputError> {
    let name = crate_name(dir)?;
    if dir.exists() {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| InputError::new(format!("{} exists and is not a directory I can read: {e}", dir.display())))?;
        if entries.count() > 0 {
            return Err(InputError::new(format!(
                "{} is not empty: tg-wasm new writes a plan into a new or empty directory",
                dir.display()
            )));
        }
    }
    let mut dependency = sdk.dependency(template.sdk_features())?;
    dependency.push('\n');
    let mut manifest_tail = include_str!("templates/common/profile.toml").to_string();
    if template == Template::Libp2p {
        manifest_tail.push_str(&sdk.patch()?);
    }
    let toolchain = TOOLCHAIN_FILE
        .lines()
        .find_map(|l| {
            l.trim().strip_prefix("channel").map(|v| v.trim_start_matches([' ', '=']).trim().trim_matches('"'))
        })
        .unwrap_or("stable");
    let fill = |text: &str| {
        text.replace("{{name}}", &name)
            .replace("{{case}}", CASE)
            .replace("{{template}}", template.name())
            .replace("{{toolchain}}", toolchain)
            .replace("{{sdk}}\n", &dependency)
    };
    let files = template.files();
    for (path, text) in &files {
        let mut text = fill(text);
        if *path == "Cargo.toml" {
            text.push_str(&manifest_tail);
        }
        let dest = dir.join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| InputError::new(format!("cannot create {}: {e}", parent.display())))?;
        }
        std::fs::write(&dest, text).map_err(|e| InputError::new(format!("cannot write {}: {e}", dest.display())))?;
    }
    Ok(Created { dir: dir.to_path_buf(), name, template, files: files.iter().map(|(p, _)| *p).collect() })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Path `name` inside a directory removed with it when the first value is dropped.
    fn scratch(name: &str) -> (tempfile::TempDir, PathBuf) {
        let root = tempfile::Builder::new().prefix("tg-wasm-scaffold-").tempdir().unwrap();
        let path = root.path().join(name);
        (root, path)
    }

    #[test]
    fn templates_are_named_and_unknown_ones_listed() {
        assert_eq!(Template::parse("tokio").unwrap(), Template::Tokio);
        let refused = Template::parse("go").unwrap_err();
        assert_eq!(refused.message(), "there is no template \"go\"; templates are std, tokio, libp2p");
    }

    #[test]
    fn crate_names_are_what_cargo_takes() {
        assert_eq!(crate_name(Path::new("/x/gossip-sub_2")).unwrap(), "gossip-sub_2");
        for bad in ["/x/2fast", "/x/has space", "/x/déjà", "/"] {
            assert!(crate_name(Path::new(bad)).is_err(), "{bad}");
        }
        assert!(crate_name(Path::new("std")).unwrap_err().message().contains("reserved"));
        // Named like the SDK: the lockfile or the code could not tell them apart.
        for name in ["tg-sdk", "TG_SDK"] {
            let refused = crate_name(Path::new(name)).unwrap_err();
            assert!(refused.message().contains("the SDK every plan depends on"), "{name}: {}", refused.message());
        }
        assert_eq!(crate_name(Path::new("tokio")).unwrap(), "tokio", "a tokio plan named tokio builds");
    }

    #[test]
    fn every_placeholder_is_filled_and_the_sdk_comes_from_the_checkout_by_default() {
        let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sdk-guest").canonicalize().unwrap();
        for (name, template) in TEMPLATES {
            let (_scratch, dir) = scratch("demo");
            let created = create(&dir, *template, &SdkSource::built_from().unwrap()).unwrap();
            for file in &created.files {
                let text = std::fs::read_to_string(dir.join(file)).unwrap();
                assert!(!text.contains("{{"), "{name}: {file} keeps a placeholder:\n{text}");
            }
            let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
            assert!(manifest.contains(&format!("tg-sdk = {{ path = {:?}", sdk.display().to_string())), "{manifest}");
            assert!(manifest.contains("name = \"demo\""), "{manifest}");
            let toolchain = std::fs::read_to_string(dir.join("rust-toolchain.toml")).unwrap();
            assert!(toolchain.contains("channel = \"1.") && toolchain.contains("wasm32-wasip2"), "{toolchain}");
            assert_eq!(manifest.contains("[patch.crates-io]"), *template == Template::Libp2p, "{name}");
            assert_eq!(dir.join(".cargo/config.toml").is_file(), *template != Template::Std, "{name}");
        }
    }

    #[test]
    fn a_git_source_is_written_as_given() {
        let (_scratch, dir) = scratch("g");
        create(&dir, Template::Tokio, &SdkSource::Git("https://example.org/tg-wasm".into())).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        assert!(
            manifest.contains("tg-sdk = { git = \"https://example.org/tg-wasm\", features = [\"tokio\"] }"),
            "{manifest}"
        );
    }

    #[test]
    fn a_path_source_points_at_the_checkout_and_a_wrong_one_is_refused() {
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let (_scratch, dir) = scratch("p");
        create(&dir, Template::Libp2p, &SdkSource::Path(checkout.clone())).unwrap();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let sdk = checkout.join("sdk-guest").canonicalize().unwrap();
        assert!(manifest.contains(&format!("path = {:?}", sdk.display().to_string())), "{manifest}");
        assert!(manifest.contains("compat-crates/if-watch"), "{manifest}");
        let refused = create(&dir.with_file_name("nowhere"), Template::Std, &SdkSource::Path("/nonexistent".into()));
        assert!(refused.unwrap_err().message().contains("no tg-sdk there"));
    }

    #[test]
    fn a_directory_with_files_is_not_overwritten() {
        let (_scratch, dir) = scratch("full");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("keep.txt"), "mine").unwrap();
        let refused = create(&dir, Template::Std, &SdkSource::Git("https://example.org/tg-wasm".into())).unwrap_err();
        assert!(refused.message().ends_with("is not empty: tg-wasm new writes a plan into a new or empty directory"));
        assert_eq!(std::fs::read_to_string(dir.join("keep.txt")).unwrap(), "mine");
    }
}
