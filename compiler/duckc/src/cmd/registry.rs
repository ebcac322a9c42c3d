//! Registry verbs: `pull`, `push`, `login`, `logout` (the client is `duckc-registry`).

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgAction, Args, Subcommand};
use duckc_registry::credentials::HelperFailure;
use duckc_registry::{Credentials, Error, Options, Platform, PullOptions};
use miette::miette;

use crate::Global;
use crate::cmd::image::open_store;
use crate::cmd::pull_view::{View, pulled_json};
use duckc_executor::progress::Mode;

// How to reach a registry: flags shared by the verbs.
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Require HTTPS with a verified certificate (`--tls-verify=false` accepts any
    /// certificate and plain HTTP; loopback registries may always use plain HTTP).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1,
          default_missing_value = "true", value_name = "BOOL")]
    tls_verify: bool,
    /// A directory of CA certificates (`*.crt`) for the registry (default: without root,
    /// `~/.config/duckc/certs.d/HOST/` first; then `/etc/duckc/certs.d/HOST/`, then
    /// `/etc/docker/certs.d/HOST/`).
    #[arg(long, value_name = "DIR")]
    cert_dir: Option<PathBuf>,
}

impl TlsArgs {
    /// The client options these flags ask for.
    pub fn options(&self) -> Options {
        Options {
            insecure: !self.tls_verify,
            cert_dir: self.cert_dir.clone(),
            credentials: None,
        }
    }
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Download an image from a registry (`HOST[:PORT]/NAME[:TAG|@sha256:…]`).
    Pull {
        /// The image: `HOST[:PORT]/PATH[:TAG]`, `…@sha256:…`, or a short name resolved
        /// through the search registries.
        name: String,
        /// The platform to pick from a multi-platform image (`OS/ARCH[/VARIANT]`).
        #[arg(long, value_name = "OS/ARCH")]
        platform: Option<String>,
        /// Layers downloaded at the same time.
        #[arg(long, default_value_t = duckc_registry::pull::JOBS, value_name = "N")]
        jobs: usize,
        /// Pull every platform of a multi-platform image (the name then points at the whole
        /// index, and `push` pushes it whole).
        #[arg(short = 'a', long, conflicts_with = "platform")]
        all_platforms: bool,
        /// Print only the image name.
        #[arg(short, long)]
        quiet: bool,
        /// Progress output: `tty` (a live line per layer with its bytes, on stderr; the
        /// default when stderr is a terminal), `plain` (Docker's lines) or `json` (one event
        /// a line).
        #[arg(long, value_enum, default_value = "auto")]
        progress: super::build::Progress,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Upload an image to a registry (name it first: `duckc tag IMAGE HOST[:PORT]/NAME:TAG`).
    Push {
        /// The image's name, which says where it goes: `HOST[:PORT]/PATH[:TAG]`.
        name: String,
        /// Print only the digest.
        #[arg(short, long)]
        quiet: bool,
        /// How to compress the layers duckc stores uncompressed (those it built): `gzip`
        /// (default) or `zstd` (OCI media type `…tar+zstd`). Layers already compressed are
        /// pushed as they are.
        #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd"])]
        compression: String,
        /// Also attach the image's SBOM (SPDX 2.3 JSON, as `duckc sbom` writes it) through
        /// the OCI referrers API (or its `sha256-HEX` tag fallback).
        #[arg(long)]
        sbom: bool,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Log in to a registry; the credentials are kept in Docker's config.json.
    Login {
        /// The registry: `HOST[:PORT]`.
        server: String,
        /// User name.
        #[arg(short, long)]
        username: Option<String>,
        /// Password (prefer `--password-stdin`: arguments are visible to other users).
        #[arg(short, long)]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        tls: TlsArgs,
    },
    /// Forget the credentials for a registry.
    Logout {
        /// The registry: `HOST[:PORT]`.
        server: String,
    },
}

/// A registry error as a report with a `help:` line saying what to do.
pub(crate) fn report(e: Error) -> miette::Report {
    // A layer that does not unpack to its diff_id, and a full disk, have their own code and
    // help.
    let e = match e {
        Error::Store(s)
            if matches!(
                *s,
                duckc_store::Error::DiffIdMismatch { .. } | duckc_store::Error::NoSpace { .. }
            ) =>
        {
            return miette::Report::new(*s);
        }
        e => e,
    };
    let help = match &e {
        Error::BadReference(..) => {
            "a name looks like `HOST[:PORT]/PATH[:TAG]` or `HOST[:PORT]/PATH@sha256:…`".to_owned()
        }
        Error::NoRegistry(name) => format!(
            "name the registry, as in `localhost:5000/{name}`, or list registries to search in \
             `unqualified-search-registries` of /etc/containers/registries.conf (or set \
             DUCKC_REGISTRY=HOST)"
        ),
        Error::Transport { .. } => "check that the registry is up and the name's host and port \
             are right; a registry without TLS away from this machine needs `--tls-verify=false`"
            .to_owned(),
        Error::Tls(_) => "pass a directory of `*.crt` files with `--cert-dir`".to_owned(),
        Error::NotFound { .. } => "check the name and the tag (or digest)".to_owned(),
        Error::Unauthorized { host, .. } => {
            format!("log in with `duckc login {host}` (or check the account's permissions)")
        }
        Error::Status { .. } => "the registry failed; try again later".to_owned(),
        Error::TooLarge { .. } => {
            "duckc refuses manifests and configs over 4 MiB; the registry serves something that \
             is not an image manifest"
                .to_owned()
        }
        Error::Mismatch { .. } | Error::Blob { .. } => {
            "the registry served bytes that do not match the image's digests; nothing of it was \
             stored. Try again; if it persists, the registry's copy is corrupt"
                .to_owned()
        }
        Error::BadManifest { .. } => "the image uses a format duckc does not read".to_owned(),
        Error::NoPlatform { .. } => {
            "pick one of the platforms it has with `--platform OS/ARCH`".to_owned()
        }
        Error::NotACache { .. } => "a build cache needs a tag of its own (an image there would be \
             overwritten by `--cache-to`): name another tag, such as `REPOSITORY:buildcache`"
            .to_owned(),
        Error::Credentials(_) => "fix or remove the credentials file the error names (Docker's \
             `$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, or Podman's \
             `containers/auth.json`)"
            .to_owned(),
        Error::CredentialHelper {
            program, failure, ..
        } => {
            let config = duckc_registry::credentials::config_path();
            match failure {
                HelperFailure::Missing => format!(
                    "install `{program}`, or take its name out of `credsStore`/`credHelpers` in \
                     `{}` to keep credentials in the file itself",
                    config.display()
                ),
                HelperFailure::Failed => format!(
                    "unlock the keychain or password store `{program}` uses (or sign in to \
                     it), then run the command again"
                ),
                HelperFailure::Broken => format!(
                    "`{program}` does not answer as a Docker credential helper does: update or \
                     reinstall it, or take its name out of `{}`",
                    config.display()
                ),
            }
        }
        Error::Io { .. } | Error::Store(_) | Error::Image(_) => {
            "check the store with `duckc verify`".to_owned()
        }
    };
    miette!(help = help, "{e}")
}

/// A `pull NAME` without a tag that found no `latest`: the help says that `latest` was asked
/// for and how to name a tag, as Docker users meet it (`docker pull NAME` does the same).
fn with_untagged_help(e: Error, name: &str) -> miette::Report {
    let help = format!(
        "no tag was given, so `latest` was asked for and the registry has none under that name; name the tag: `duckc pull {name}:TAG`"
    );
    miette!(help = help, "{e}")
}

/// `https://host/path` or `host` → `host`.
fn server_host(server: &str) -> miette::Result<String> {
    let s = server
        .strip_prefix("https://")
        .or_else(|| server.strip_prefix("http://"))
        .unwrap_or(server);
    let host = s.split('/').next().unwrap_or("").to_owned();
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
    {
        return Err(miette!(
            help = "name the registry as `HOST` or `HOST:PORT`",
            "invalid registry `{server}`"
        ));
    }
    Ok(host)
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        match self {
            Command::Pull {
                name,
                platform,
                jobs,
                all_platforms,
                quiet,
                progress,
                tls,
            } => {
                if name.starts_with("ssh://") {
                    return crate::remote::transfer::pull(global, &name, quiet);
                }
                let store = open_store(global)?;
                let platform = match platform {
                    Some(p) => Some(Platform::parse(&p).ok_or_else(|| {
                        miette!(
                            help = "a platform is `OS/ARCH` or `OS/ARCH/VARIANT`, as `linux/arm64`",
                            "invalid platform `{p}`"
                        )
                    })?),
                    None => None,
                };
                let candidates = duckc_registry::parse(&name).map_err(report)?;
                let pull_opts = PullOptions {
                    platform,
                    jobs,
                    all_platforms,
                };
                let opts = tls.options();
                let mode = progress.mode(std::io::stderr().is_terminal());
                let json = mode == Mode::Json;
                // Docker's header lines, `Digest:` and `Status:` (not in JSON: its events
                // say all that).
                let say = |line: String| {
                    if !quiet && !json {
                        println!("{line}");
                    }
                };
                // The parsed reference always has a tag (`latest` filled in): whether the user
                // wrote one is read from the name as given.
                let untagged =
                    !name.contains('@') && !name.rsplit('/').next().unwrap_or(&name).contains(':');
                // A missing `latest` the user never asked for by name: say which tag was asked.
                let failed = |e: Error| match &e {
                    Error::NotFound { .. } if untagged => with_untagged_help(e, &name),
                    _ => report(e),
                };
                let mut last = None;
                if untagged {
                    say("Using default tag: latest".to_owned());
                }
                for reference in &candidates {
                    say(format!(
                        "{}: Pulling from {}",
                        reference
                            .tag
                            .clone()
                            .unwrap_or_else(|| reference.reference()),
                        reference.repository
                    ));
                    let view = (!quiet).then(|| View::new(mode));
                    let event = |e: duckc_registry::PullEvent<'_>| {
                        if let Some(view) = &view {
                            view.event(e);
                        }
                    };
                    let result = duckc_registry::pull(&store, reference, &opts, &pull_opts, &event);
                    match result {
                        Ok(pulled) => {
                            if let Some(view) = &view {
                                view.finish();
                            }
                            if quiet {
                                println!("{}", reference.local_name);
                                return Ok(ExitCode::SUCCESS);
                            }
                            if json {
                                println!("{}", pulled_json(&reference.local_name, &pulled));
                                return Ok(ExitCode::SUCCESS);
                            }
                            say(format!("Digest: {}", pulled.digest));
                            let shown = match reference.digest {
                                Some(d) => format!(
                                    "{}@{d}",
                                    reference
                                        .local_name
                                        .rsplit_once(':')
                                        .map_or(reference.local_name.as_str(), |(n, _)| n)
                                ),
                                None => reference.local_name.clone(),
                            };
                            if pulled.up_to_date {
                                say(format!("Status: Image is up to date for {shown}"));
                            } else {
                                say(format!("Status: Downloaded newer image for {shown}"));
                            }
                            say(reference.to_string());
                            return Ok(ExitCode::SUCCESS);
                        }
                        // A short name: try the next search registry.
                        Err(e @ Error::NotFound { .. }) if candidates.len() > 1 => {
                            if let Some(view) = &view {
                                view.finish();
                            }
                            last = Some(e);
                        }
                        Err(e) => {
                            if let Some(view) = &view {
                                view.failed(&e.to_string());
                            }
                            return Err(failed(e));
                        }
                    }
                }
                Err(failed(last.expect("at least one candidate")))
            }
            Command::Push {
                name,
                quiet,
                compression,
                sbom,
                tls,
            } => {
                if name.starts_with("ssh://") {
                    return crate::remote::transfer::push(global, &name, quiet);
                }
                let store = open_store(global)?;
                if let Err(duckc_image::Error::NotFound(_)) = duckc_image::resolve(&store, &name) {
                    return Err(miette!(
                        help = format!("name a local image first: `duckc tag IMAGE {name}`"),
                        "no image `{name}` in the store"
                    ));
                }
                let reference = duckc_registry::parse(&name)
                    .map_err(report)?
                    .into_iter()
                    .next()
                    .expect("parse gives at least one reference");
                if !quiet {
                    println!(
                        "The push refers to repository [{}]",
                        reference.repository_name()
                    );
                }
                let print = |line: String| {
                    if !quiet {
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "{line}");
                    }
                };
                let compression = duckc_layer::Compression::from_name(&compression)
                    .unwrap_or(duckc_layer::Compression::Gzip);
                let pushed = duckc_registry::push(
                    &store,
                    &name,
                    &reference,
                    &tls.options(),
                    compression,
                    &print,
                )
                .map_err(|e| {
                    let again = matches!(
                        e,
                        Error::Transport { .. } | Error::Status { status: 500.., .. }
                    );
                    let report = report(e);
                    if !again {
                        return report;
                    }
                    let help = report.help().map(|h| format!("{h}; ")).unwrap_or_default();
                    miette!(
                        help = format!(
                            "{help}run the push again: it skips the blobs the registry has and \
                             resumes a cut chunked upload"
                        ),
                        "{report}"
                    )
                })?;
                if quiet {
                    println!("{}", pushed.digest);
                } else {
                    println!(
                        "{}: digest: {} size: {}",
                        reference.reference(),
                        pushed.digest,
                        pushed.size
                    );
                }
                if sbom {
                    attach_sbom(&store, &name, &reference, &pushed, &tls.options(), quiet)?;
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Login {
                server,
                username,
                password,
                password_stdin,
                tls,
            } => {
                let host = server_host(&server)?;
                let Some(username) = username.filter(|u| !u.is_empty()) else {
                    return Err(miette!(
                        help = "pass the user name with `-u USER` and the password on standard input with `--password-stdin`",
                        "no user name given"
                    ));
                };
                let password = match (password, password_stdin) {
                    (Some(_), true) => {
                        return Err(miette!(
                            help = "use one of them: `--password-stdin` keeps it out of the process list",
                            "`--password` and `--password-stdin` were both given"
                        ));
                    }
                    (Some(p), false) => {
                        eprintln!(
                            "WARNING! Using --password via the CLI is insecure. Use --password-stdin."
                        );
                        p
                    }
                    (None, true) => {
                        let mut line = String::new();
                        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
                            miette!("cannot read the password from standard input: {e}")
                        })?;
                        line.trim_end_matches(['\n', '\r']).to_owned()
                    }
                    (None, false) => {
                        return Err(miette!(
                            help = "pipe it in with `--password-stdin` (or pass `-p PASSWORD`)",
                            "no password given"
                        ));
                    }
                };
                if password.is_empty() {
                    return Err(miette!(
                        help = "pipe the password in with `--password-stdin`",
                        "the password is empty"
                    ));
                }
                let creds = Credentials { username, password };
                let mut opts = tls.options();
                opts.credentials = Some(creds.clone());
                let client = duckc_registry::Client::connect(&host, &opts).map_err(report)?;
                client.ping().map_err(|e| match e {
                    Error::Unauthorized { .. } => miette!(
                        help = "check the user name and password",
                        "login to {host} failed: the registry refused the credentials"
                    ),
                    e => report(e),
                })?;
                duckc_registry::credentials::store(&host, &creds).map_err(report)?;
                println!("Login Succeeded");
                Ok(ExitCode::SUCCESS)
            }
            Command::Logout { server } => {
                let host = server_host(&server)?;
                if duckc_registry::credentials::erase(&host).map_err(report)? {
                    println!("Removing login credentials for {host}");
                } else {
                    println!("Not logged in to {host}");
                }
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// `push --sbom`: the image's SPDX document, attached to the manifest just pushed.
fn attach_sbom(
    store: &duckc_store::Store,
    name: &str,
    reference: &duckc_registry::Reference,
    pushed: &duckc_registry::Pushed,
    opts: &Options,
    quiet: bool,
) -> miette::Result<()> {
    let image = crate::cmd::image::resolve(store, name)?;
    let bytes = crate::cmd::sbom::document(
        store,
        &image,
        name,
        crate::cmd::sbom::Format::Spdx,
        Some(pushed.digest),
    )?;
    let subject = duckc_registry::referrers::Subject {
        digest: pushed.digest,
        size: pushed.size,
        media_type: pushed.media_type.clone(),
    };
    let attached = duckc_registry::referrers::attach(
        store,
        reference,
        &subject,
        SPDX_MEDIA_TYPE,
        SPDX_MEDIA_TYPE,
        &bytes,
        opts,
        &|_| {},
    )
    .map_err(|e| {
        let r = report(e);
        let help = r.help().map(|h| h.to_string()).unwrap_or_default();
        miette!(
            help = format!("{help}; the image itself was pushed"),
            "cannot attach the SBOM to {reference}: {r}"
        )
    })?;
    if !quiet {
        match &attached.fallback_tag {
            None => println!("sbom: digest: {} (referrers API)", attached.digest),
            Some(tag) => println!(
                "sbom: digest: {} (the registry has no referrers API: listed under the tag {tag})",
                attached.digest
            ),
        }
    }
    Ok(())
}

/// The media type (and artifact type) of an SPDX JSON document.
const SPDX_MEDIA_TYPE: &str = "application/spdx+json";
