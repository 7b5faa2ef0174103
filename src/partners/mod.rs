//! Partners: the sites that republish the wire, each with its own keys, its entitlement (per
//! category, `full` or `headlines`) and optional request quotas.
//!
//! **Where partners live, and why.** Partners are defined in a TOML file (`partners_file`),
//! read at start-up, again on SIGHUP and whenever the file changes (looked at every
//! [`WATCH_EVERY`], the same mechanism as the TLS certificates, [`crate::reload`]). A file is
//! declarative and reviewable (a new partner or a rotated key is a diff), the same on every
//! replica through deployment, and needs no admin write API to secure. Keys may be written as
//! their SHA-256 digest (`sha256:<hex>`), so the file need not hold a secret. A file that does
//! not load (bad TOML, an unknown field, a short or duplicate key) is reported with its file
//! and line — never a key — and the partners in use are kept. What must sum across replicas,
//! the usage, is in the store ([`usage`]).
//!
//! **Keys** are looked up by their SHA-256 digest in a hash map, then confirmed in constant
//! time (`subtle`) against the key as written (or its digest), so neither the map nor the
//! comparison tells an attacker how close a guess came. Several keys per partner make a
//! rotation: add the new key, let the partner switch, drop the old one.

mod file;
pub(crate) mod usage;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::{Category, Entitlement, Level, Selection};
use crate::reload::{Reloadable, Stamp};

/// How often the partners file is looked at for a change.
pub(crate) const WATCH_EVERY: Duration = Duration::from_secs(2);

/// One partner, as the file defines it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Partner {
    /// Its name, in logs, metrics, usage and the operator's page; never a key.
    pub(crate) name: String,
    /// The level of each category named in the file.
    levels: BTreeMap<Category, Level>,
    /// The level of every other category (`"*"`), if any.
    others: Option<Level>,
    /// Whether it sees embargoed stories before their lift.
    pub(crate) embargo_early: bool,
    /// Requests allowed per UTC hour and per UTC day, when limited.
    pub(crate) quota_hour: Option<u64>,
    pub(crate) quota_day: Option<u64>,
}

impl Partner {
    /// The partner's entitlement restricted to a feed's `selection`, in canonical form: the
    /// same value for every partner entitled alike to that feed (see [`Entitlement`]).
    pub(crate) fn view_of(&self, selection: &Selection) -> Entitlement {
        let mut view = Entitlement {
            embargo_early: self.embargo_early,
            ..Entitlement::default()
        };
        match selection {
            // The flash feed reads every category; stories outside the view are left out once
            // read.
            Selection::All | Selection::Urgent(_) => {
                view.levels = self.levels.clone();
                view.others = self.others;
            }
            Selection::Categories(list) => {
                view.levels = list
                    .iter()
                    .filter_map(|c| Some((c.clone(), self.levels.get(c).copied().or(self.others)?)))
                    .collect();
                // Only a headlines story can be raised by its other categories.
                if view.levels.values().any(|l| *l == Level::Headlines) {
                    view.full_elsewhere = self
                        .levels
                        .iter()
                        .filter(|(c, l)| **l == Level::Full && !view.levels.contains_key(*c))
                        .map(|(c, _)| c.clone())
                        .collect();
                    view.others_full = self.others == Some(Level::Full);
                }
            }
        }
        view
    }
}

/// A key as the file holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Held {
    /// The key itself.
    Plain(Vec<u8>),
    /// Only its SHA-256 digest (the map's key).
    Digest,
}

/// One loaded partners file: every partner, and every key by digest.
#[derive(Debug, Default)]
pub(crate) struct PartnerSet {
    partners: Vec<Arc<Partner>>,
    keys: HashMap<[u8; 32], (usize, Held)>,
}

impl PartnerSet {
    /// The partner whose key was presented, if any.
    pub(crate) fn find(&self, presented: &str) -> Option<Arc<Partner>> {
        let digest = digest(presented.as_bytes());
        let (index, held) = self.keys.get(&digest)?;
        let confirmed = match held {
            Held::Plain(key) => bool::from(key.as_slice().ct_eq(presented.as_bytes())),
            // The map matched the digest: comparing digests says nothing about how close a
            // wrong key came, as a digest cannot be worked back to its key.
            Held::Digest => true,
        };
        confirmed.then(|| Arc::clone(&self.partners[*index]))
    }

    pub(crate) fn partners(&self) -> &[Arc<Partner>] {
        &self.partners
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The partners in use, and the file they come from (none: no partners, keys are ignored).
pub(crate) struct Partners {
    path: Option<PathBuf>,
    current: RwLock<Arc<PartnerSet>>,
    /// The file as last tried (loaded or not), so a bad file is reported once.
    tried: Mutex<Option<Stamp>>,
}

impl Partners {
    /// No partners file: every feed is public and keys are not looked at.
    pub(crate) fn none() -> Self {
        Self {
            path: None,
            current: RwLock::new(Arc::new(PartnerSet::default())),
            tried: Mutex::new(None),
        }
    }

    /// Loads the file at `path`, or says what is wrong with it (each problem with its line).
    pub(crate) fn load(path: &Path) -> Result<Self, Vec<String>> {
        let stamp = Stamp::of(path);
        let set = file::read(path)?;
        Ok(Self {
            path: Some(path.to_owned()),
            current: RwLock::new(Arc::new(set)),
            tried: Mutex::new(stamp),
        })
    }

    /// Whether a partners file is configured: only then are keys looked at.
    pub(crate) fn configured(&self) -> bool {
        self.path.is_some()
    }

    /// The partners in use now.
    pub(crate) fn current(&self) -> Arc<PartnerSet> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Reloadable for Partners {
    fn what(&self) -> &'static str {
        "the partners file"
    }

    fn reload(&self, force: bool) -> bool {
        let Some(path) = &self.path else {
            return false;
        };
        let stamp = Stamp::of(path);
        {
            let mut tried = self.tried.lock().unwrap_or_else(|e| e.into_inner());
            if !force && *tried == stamp {
                return false;
            }
            *tried = stamp;
        }
        match file::read(path) {
            Ok(set) => {
                let partners = set.partners.len();
                *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(set);
                tracing::info!(file = %path.display(), partners, "loaded the partners file");
                true
            }
            Err(problems) => {
                for problem in problems {
                    tracing::error!("{problem}; still using the partners loaded before");
                }
                false
            }
        }
    }
}

#[cfg(test)]
mod tests;
