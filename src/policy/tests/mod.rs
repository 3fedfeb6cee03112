//! Tables over real temporary desired directories: what each compose file asks of the
//! host and where ([`extract`]), how grants cover each other, how they are judged and
//! written in the policy file ([`grants`]), and what the guard makes of a load
//! ([`guard`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::guard::{Guard, Settings};
use super::{Mode, Privilege};
use crate::desired::hostpath::real_path;
use crate::desired::{self, LoadReport};
use crate::state::StateDir;

mod container;
mod extract;
mod grants;
mod guard;

/// A desired directory `desired/` beside a directory `outside/` (both real paths), with
/// one project `shop`.
pub(super) struct Host {
    _tmp: tempfile::TempDir,
    pub(super) base: PathBuf,
}

impl Host {
    pub(super) fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let base = real_path(tmp.path()).unwrap();
        std::fs::create_dir_all(base.join("desired/shop")).unwrap();
        std::fs::create_dir_all(base.join("outside")).unwrap();
        std::fs::write(base.join("outside/secret.env"), "TOKEN=x\n").unwrap();
        Self { _tmp: tmp, base }
    }

    pub(super) fn desired(&self) -> PathBuf {
        self.base.join("desired")
    }

    pub(super) fn outside(&self) -> PathBuf {
        self.base.join("outside")
    }

    /// `text` with `{OUT}` replaced by the outside directory.
    pub(super) fn fill(&self, text: &str) -> String {
        text.replace("{OUT}", &self.outside().display().to_string())
    }

    pub(super) fn write(&self, file: &str, text: &str) {
        let path = self.desired().join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, self.fill(text)).unwrap();
    }

    pub(super) fn load(&self) -> LoadReport {
        let env: BTreeMap<String, String> = [("HOME".to_owned(), "/home/nas".to_owned())].into();
        desired::load_dir(&self.desired(), &env).unwrap()
    }

    pub(super) fn privileges(&self) -> Vec<Privilege> {
        let report = self.load();
        let loaded = match &report.projects["shop"] {
            Ok(loaded) => loaded,
            Err(e) => panic!("shop does not load:\n{e}"),
        };
        crate::policy::extract::privileges(&loaded.spec, &loaded.origins)
    }

    pub(super) fn state(&self) -> StateDir {
        StateDir::new(&self.base.join("state"), "default")
    }

    pub(super) fn guard(&self, mode: Mode, policy_file: Option<PathBuf>, pin: bool) -> Guard {
        let settings = Settings {
            mode,
            file: policy_file,
            pin,
            ..Settings::default()
        };
        Guard::new(settings, self.desired(), self.state())
    }
}

/// A compose file of one service `web` with `lines` (4 spaces in) under it, after line 3.
pub(super) fn web(lines: &str) -> String {
    format!("services:\n  web:\n    image: demo:v1\n{lines}")
}
