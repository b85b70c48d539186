//! Where the CLI finds its server, credential and app, and the config file `gantry login`
//! writes (mode 0600, in a 0700 directory).
//!
//! Order (DESIGN §4): URL `--url` > `GANTRY_URL` > config file > `http://127.0.0.1:8080`;
//! token `--token` > `GANTRY_TOKEN` > config file; app `-a` > `GANTRY_APP`.

use crate::CliError;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The default server address.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080";

/// Where a setting came from (shown by `gantry tokens whoami`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Flag,
    Env,
    ConfigFile,
    Default,
    None,
}

impl Source {
    /// Words for messages.
    pub fn describe(self, env_name: &str) -> String {
        match self {
            Source::Flag => "the command-line flag".to_owned(),
            Source::Env => env_name.to_owned(),
            Source::ConfigFile => "the saved login".to_owned(),
            Source::Default => "the default".to_owned(),
            Source::None => "nowhere".to_owned(),
        }
    }
}

/// The saved state of `gantry login`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// The config file's path: `$GANTRY_CONFIG`, else `$XDG_CONFIG_HOME/gantry/config.toml`, else
/// `~/.config/gantry/config.toml`.
pub fn config_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("GANTRY_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("gantry").join("config.toml"))
}

impl ConfigFile {
    /// Reads the config file; a missing file is an empty config.
    pub fn load() -> Result<ConfigFile, CliError> {
        let Some(path) = config_path() else {
            return Ok(ConfigFile::default());
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                // toml's own text adds a source excerpt over several lines; errors are one
                // line (and newlines in them are escaped), so: the message and where.
                let line = e
                    .span()
                    .and_then(|span| text.get(..span.start))
                    .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
                    .unwrap_or_default();
                CliError::failure(format!(
                    "{} is not a valid gantry config file: {}{line}",
                    path.display(),
                    e.message().trim_end()
                ))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
            Err(e) => Err(CliError::failure(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Writes the config file, readable by its owner only.
    pub fn save(&self) -> Result<PathBuf, CliError> {
        let path = config_path().ok_or_else(|| {
            CliError::failure("cannot find a config directory: set GANTRY_CONFIG or HOME")
        })?;
        let text = toml::to_string(self).map_err(|e| CliError::failure(e.to_string()))?;
        write_private(&path, &text)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir)?;
    }
    // Write a private temp file and rename it over the old one: never a moment where the
    // token sits in a file someone else can read.
    let tmp = path.with_extension("toml.tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&tmp)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// A resolved setting and where it came from.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub value: Option<String>,
    pub source: Source,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Flag > environment > config file > default.
pub fn resolve(
    flag: Option<&str>,
    env_name: &str,
    file: Option<&str>,
    default: Option<&str>,
) -> Resolved {
    let pick = |v: Option<String>, s: Source| {
        v.map(|v| Resolved {
            value: Some(v),
            source: s,
        })
    };
    pick(flag.map(str::to_owned), Source::Flag)
        .or_else(|| pick(env(env_name), Source::Env))
        .or_else(|| pick(file.map(str::to_owned), Source::ConfigFile))
        .or_else(|| pick(default.map(str::to_owned), Source::Default))
        .unwrap_or(Resolved {
            value: None,
            source: Source::None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_file_beats_default() {
        let r = resolve(Some("f"), "GANTRY_TEST_UNSET_VAR", Some("c"), Some("d"));
        assert_eq!((r.value.as_deref(), r.source), (Some("f"), Source::Flag));
        let r = resolve(None, "GANTRY_TEST_UNSET_VAR", Some("c"), Some("d"));
        assert_eq!(
            (r.value.as_deref(), r.source),
            (Some("c"), Source::ConfigFile)
        );
        let r = resolve(None, "GANTRY_TEST_UNSET_VAR", None, Some("d"));
        assert_eq!((r.value.as_deref(), r.source), (Some("d"), Source::Default));
        let r = resolve(None, "GANTRY_TEST_UNSET_VAR", None, None);
        assert_eq!(r.source, Source::None);
    }
}
