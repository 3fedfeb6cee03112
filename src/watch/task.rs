//! The watcher task: checks each watched service on its interval and pulls what the
//! registry has that the host does not. It reads the desired state and the revision
//! histories through a [`Host`] (the controller in the daemon, a fake in tests) and talks
//! to the engine through the [`ContainerRuntime`]; the decisions are [`super::decide`]'s.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};
use tracing::{info, warn};

use super::config::{Mode, WatchConfig};
use super::decide::{self, DigestDecision};
use super::versions;
use super::{Error, Result, Watches};
use crate::clock::WallClock;
use crate::model::ServiceRef;
use crate::model::observed::{normalize_image_ref, repository_of};
use crate::model::spec::ServiceSpec;
use crate::rollout::RolloutConfig;
use crate::runtime::ContainerRuntime;
use crate::runtime::docker::auth::{registry_host, split_reference};
use crate::webhook::EventKind;

/// How often the watcher looks for services that started or stopped being watched.
pub const REFRESH: Duration = Duration::from_secs(1);

/// A revision of a service whose rollout failed: its image ID and the digest recorded
/// for it, if one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedRevision {
    /// The image reference the revision's spec names.
    pub image: String,
    /// The image ID the revision runs.
    pub image_id: String,
    /// The registry digest its history entry records.
    pub digest: Option<String>,
}

/// What the watcher reads and tells the rest of the daemon.
pub trait Host: Send + Sync + 'static {
    /// Every service of every loaded project that may be watched (at least every one
    /// with `x-rollout.watch`), with its spec.
    fn services(&self) -> Vec<(ServiceRef, ServiceSpec)>;
    /// The revisions of `service` whose rollout failed.
    fn failed_revisions(&self, service: &ServiceRef) -> Result<Vec<FailedRevision>>;
    /// The image `image_id` was pulled by `digest` (for the revision history).
    fn note_digest(&self, image_id: &str, digest: &str);
    /// Reconcile `project` soon.
    fn kick(&self, project: &str);
    /// The latest rollout of `service`: its phase and target (image reference, image ID).
    fn latest_rollout(&self, _service: &ServiceRef) -> Option<LatestRollout> {
        None
    }
}

/// Where a service's latest rollout stands, for telling an update applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestRollout {
    /// Its phase.
    pub phase: crate::rollout::record::PhaseName,
    /// The image reference it rolls out.
    pub image: String,
    /// The image ID it rolls out.
    pub image_id: String,
}

/// An update found and not yet seen running everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pending {
    /// What was found (a digest or a reference), for the status and the events.
    found: String,
    /// The image ID pulled (digest mode), if known.
    image_id: Option<String>,
    /// The reference chosen (semver mode).
    reference: Option<String>,
}

/// One watched service.
#[derive(Debug)]
struct Entry {
    image: String,
    platform: Option<String>,
    config: WatchConfig,
    due: Instant,
    failures: u32,
    pending: Option<Pending>,
}

/// What one check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checked {
    /// The local image is what the registry names.
    UpToDate {
        /// The digest.
        digest: String,
    },
    /// The registry names a held digest.
    Held {
        /// The held digest.
        digest: String,
        /// The local image's digest, if it was pulled.
        local: Option<String>,
    },
    /// The registry names another digest: it was pulled.
    Pulled {
        /// The digest the local image was pulled by before, if any.
        from: Option<String>,
        /// The digest pulled.
        to: String,
        /// The image ID the pull gave, when the engine told.
        image_id: Option<String>,
    },
    /// Semver: no tag newer than the running one (`running`).
    Latest {
        /// The reference run.
        running: String,
        /// A newer tag that is held, if the registry has one.
        held: Option<String>,
    },
    /// Semver: a newer tag was chosen; the reconcile pulls it and rolls it out.
    NewTag {
        /// The reference run until now.
        from: String,
        /// The reference chosen.
        to: String,
    },
    /// A dry run found an update (a digest or a reference) and left it.
    Available {
        /// What was found.
        to: String,
    },
    /// The image is not on this host yet: the reconcile pulls it.
    NotLocal {
        /// The registry's digest.
        digest: String,
    },
}

/// The watcher: one per daemon.
pub struct Watcher<R, H> {
    runtime: Arc<R>,
    host: H,
    watches: Watches,
    clock: WallClock,
    minimum: Duration,
    entries: BTreeMap<ServiceRef, Entry>,
    seed: std::collections::hash_map::RandomState,
    checks: u64,
    telemetry: Option<crate::metrics::Telemetry>,
    webhook: Option<crate::webhook::Webhook>,
    dry_run: bool,
}

impl<R: ContainerRuntime, H: Host> Watcher<R, H> {
    /// A watcher checking through `runtime` the services `host` loads, never more often
    /// than `minimum` per service, recording what it finds in `watches`.
    pub fn new(
        runtime: Arc<R>,
        host: H,
        watches: Watches,
        clock: WallClock,
        minimum: Duration,
    ) -> Self {
        Self {
            runtime,
            host,
            watches,
            clock,
            minimum,
            entries: BTreeMap::new(),
            seed: Default::default(),
            checks: 0,
            telemetry: None,
            webhook: None,
            dry_run: false,
        }
    }

    /// The same watcher, only looking: a check that finds an update records it as
    /// available (for `composectl plan`) and neither pulls nor chooses it.
    pub fn dry_run(mut self) -> Self {
        self.dry_run = true;
        self
    }

    /// The same watcher, telling `webhook` of updates found and applied.
    pub fn with_webhook(mut self, webhook: Option<crate::webhook::Webhook>) -> Self {
        self.webhook = webhook;
        self
    }

    /// The same watcher, recording each check in `telemetry`'s metrics.
    pub fn with_telemetry(mut self, telemetry: crate::metrics::Telemetry) -> Self {
        self.telemetry = Some(telemetry);
        self
    }

    /// Runs until `shutdown` resolves.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let now = Instant::now();
            let round = async {
                self.refresh(now);
                self.check_due(now).await;
            };
            tokio::select! {
                () = &mut shutdown => return,
                () = round => {}
            }
            let now = Instant::now();
            let wake = self
                .next_due()
                .map_or(now + REFRESH, |d| d.min(now + REFRESH));
            tokio::select! {
                () = &mut shutdown => return,
                () = sleep_until(wake) => {}
            }
        }
    }

    /// When the next check is due, if any service is watched.
    pub fn next_due(&self) -> Option<Instant> {
        self.entries.values().map(|e| e.due).min()
    }

    /// Picks up services that started or stopped being watched, or whose image or
    /// settings changed (those are checked at once).
    pub fn refresh(&mut self, now: Instant) {
        let mut seen = BTreeSet::new();
        for (sref, service) in self.host.services() {
            let Some(config) = watch_config(&service) else {
                continue;
            };
            seen.insert(sref.clone());
            let same = self
                .entries
                .get(&sref)
                .is_some_and(|e| e.image == service.image && e.config == config);
            if !same {
                info!(project = %sref.project, service = %sref.service, image = %service.image, mode = config.mode.as_str(), "watching the registry for new images");
                self.watches.update(&sref, |w| {
                    *w = super::ServiceWatch {
                        mode: config.mode.as_str().to_owned(),
                        image: service.image.clone(),
                        ..Default::default()
                    }
                });
                self.entries.insert(
                    sref,
                    Entry {
                        image: service.image.clone(),
                        platform: service.platform.clone(),
                        config,
                        due: now,
                        failures: 0,
                        pending: None,
                    },
                );
            }
        }
        if let Some(telemetry) = &self.telemetry {
            for gone in self.entries.keys().filter(|s| !seen.contains(*s)) {
                telemetry.forget_watch(&gone.project, &gone.service);
            }
        }
        self.entries.retain(|s, _| seen.contains(s));
        self.watches.retain(|s| seen.contains(s));
    }

    /// Checks every service due at `now`, and schedules its next check.
    pub async fn check_due(&mut self, now: Instant) {
        let due: Vec<ServiceRef> = self
            .entries
            .iter()
            .filter(|(_, e)| e.due <= now)
            .map(|(s, _)| s.clone())
            .collect();
        for sref in due {
            let Some(entry) = self.entries.get(&sref) else {
                continue;
            };
            let result = match entry.config.mode {
                Mode::Digest => self.check_digest(&sref, entry).await,
                Mode::Semver => self.check_semver(&sref, entry).await,
            };
            self.record(&sref, result);
        }
    }

    /// Records a check's result and schedules the next one.
    fn record(&mut self, sref: &ServiceRef, result: Result<Checked>) {
        let sample = self.sample();
        let now_ms = self.clock.now_ms();
        let Some(entry) = self.entries.get_mut(sref) else {
            return;
        };
        let was_failing = entry.failures > 0;
        match &result {
            Ok(_) => {
                if was_failing {
                    info!(project = %sref.project, service = %sref.service, image = %entry.image, "registry check works again");
                }
                entry.failures = 0;
            }
            Err(err @ Error::EngineAway { .. }) => {
                // The engine's outage is not the registry's: no backoff.
                tracing::debug!(project = %sref.project, service = %sref.service, "registry check skipped: {err}");
            }
            Err(err) => {
                if !was_failing {
                    warn!(project = %sref.project, service = %sref.service, "registry check failed, nothing changes until it works: {err}");
                }
                entry.failures = entry.failures.saturating_add(1);
            }
        }
        let delay = decide::next_delay(entry.config.interval, self.minimum, entry.failures, sample);
        entry.due = Instant::now() + delay;
        let mut notices = Vec::new();
        match &result {
            Ok(Checked::Pulled { from, to, image_id }) => {
                let from = from.as_deref().unwrap_or("none");
                notices.push((
                    EventKind::UpdateAvailable,
                    format!("{} is a new image in the registry ({from} -> {to}); it rolls out through the service's strategy", entry.image),
                ));
                entry.pending = Some(Pending {
                    found: to.clone(),
                    image_id: image_id.clone(),
                    reference: None,
                });
            }
            Ok(Checked::NewTag { from, to }) => {
                notices.push((
                    EventKind::UpdateAvailable,
                    format!("the registry has {to} (running {from}); it rolls out through the service's strategy"),
                ));
                entry.pending = Some(Pending {
                    found: to.clone(),
                    image_id: None,
                    reference: Some(to.clone()),
                });
            }
            _ => {}
        }
        if let Some(pending) = &entry.pending
            && let Some(latest) = self.host.latest_rollout(sref)
            && (pending.image_id.as_deref() == Some(latest.image_id.as_str())
                || pending.reference.as_deref() == Some(latest.image.as_str()))
        {
            use crate::rollout::record::PhaseName;
            match latest.phase {
                PhaseName::Complete => {
                    notices.push((
                        EventKind::UpdateApplied,
                        format!("{} runs on every replica", pending.found),
                    ));
                    entry.pending = None;
                }
                PhaseName::RolledBack | PhaseName::Aborted => entry.pending = None,
                _ => {}
            }
        }
        let mut pending = entry.pending.as_ref().map(|p| p.found.clone());
        if let Ok(Checked::Available { to }) = &result {
            pending = Some(to.clone());
        }
        self.watches.update(sref, |w| {
            w.last_check_ms = Some(now_ms);
            match result {
                Ok(checked) => {
                    w.error = None;
                    apply(w, checked);
                }
                Err(err) => w.error = Some(err.to_string()),
            }
            w.update_available = pending;
        });
        if let Some(webhook) = &self.webhook {
            for (kind, reason) in notices {
                webhook.notify(crate::webhook::Event {
                    event: kind,
                    project: sref.project.clone(),
                    service: Some(sref.service.clone()),
                    rollout: None,
                    reason: Some(reason),
                    at: crate::timefmt::rfc3339(u64::try_from(now_ms / 1000).unwrap_or(0)),
                });
            }
        }
        if let (Some(telemetry), Some(watch)) = (&self.telemetry, self.watches.get(sref)) {
            let available = watch.update_available.is_some();
            telemetry.record_watch(&sref.project, &sref.service, now_ms, available);
        }
    }

    /// A number in 0..1 for the jitter, different per check.
    fn sample(&mut self) -> f64 {
        self.checks = self.checks.wrapping_add(1);
        let mut hasher = self.seed.build_hasher();
        hasher.write_u64(self.checks);
        (hasher.finish() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// One digest check: asks the registry, compares, pulls and kicks when it moved.
    async fn check_digest(&self, sref: &ServiceRef, entry: &Entry) -> Result<Checked> {
        let image = &entry.image;
        let registry = registry_host(image);
        let remote =
            self.runtime
                .inspect_distribution(image)
                .await
                .map_err(|source| match source {
                    crate::runtime::Error::Unavailable { .. } => Error::EngineAway {
                        image: image.clone(),
                        source,
                    },
                    source => Error::Registry {
                        registry: registry.clone(),
                        image: image.clone(),
                        source,
                    },
                })?;
        let Some(local) = self.inspect(image).await? else {
            return Ok(Checked::NotLocal { digest: remote });
        };
        let repository = repository_of(&normalize_image_ref(image)).to_owned();
        let local_digests = decide::local_digests(&local.repo_digests, &repository);
        let held = self.held(sref, &repository).await?;
        match decide::digest(&remote, &local_digests, &held) {
            DigestDecision::UpToDate => Ok(Checked::UpToDate { digest: remote }),
            DigestDecision::Held { digest } => Ok(Checked::Held {
                digest,
                local: local_digests.first().map(|d| (*d).to_owned()),
            }),
            DigestDecision::Update { to, .. } if self.dry_run => Ok(Checked::Available { to }),
            DigestDecision::Update { from, to } => {
                info!(
                    project = %sref.project, service = %sref.service, %image,
                    old_digest = from.as_deref().unwrap_or("none"), new_digest = %to,
                    "the registry's {image} is a new image (digest {} -> {to}); pulling it, its rollout follows the service's strategy",
                    from.as_deref().unwrap_or("none")
                );
                self.runtime
                    .pull_image(image, entry.platform.as_deref())
                    .await
                    .map_err(|source| Error::Pull {
                        registry,
                        image: image.clone(),
                        source,
                    })?;
                let pulled = self.inspect(image).await?;
                if let Some(pulled) = &pulled {
                    let digests = decide::local_digests(&pulled.repo_digests, &repository);
                    let digest = digests
                        .iter()
                        .find(|d| **d == to)
                        .or(digests.first())
                        .map_or(to.as_str(), |d| *d);
                    self.host.note_digest(&pulled.id, digest);
                }
                self.host.kick(&sref.project);
                Ok(Checked::Pulled {
                    from,
                    to,
                    image_id: pulled.map(|p| p.id),
                })
            }
        }
    }

    /// One semver check: lists the registry's tags and moves the service to the highest
    /// newer one its rules allow.
    async fn check_semver(&self, sref: &ServiceRef, entry: &Entry) -> Result<Checked> {
        let base = &entry.image;
        let running = self
            .watches
            .override_of(sref, base)
            .unwrap_or_else(|| base.clone());
        let tags = super::registry::tags(&running).await?;
        let (repository, running_tag) = split_reference(&running);
        let held: BTreeSet<String> = self
            .host
            .failed_revisions(sref)?
            .into_iter()
            .filter_map(|f| {
                let (repo, tag) = split_reference(&f.image);
                (repo == repository).then_some(tag)
            })
            .collect();
        let rules = versions::Rules {
            pattern: entry.config.pattern.as_ref(),
            prereleases: entry.config.prereleases,
            held: &held,
        };
        let chosen =
            versions::choose(&tags, &running_tag, rules).map_err(|tag| Error::NotAVersion {
                image: running.clone(),
                tag,
            })?;
        let Some(tag) = chosen else {
            let everything = versions::Rules {
                held: &BTreeSet::new(),
                ..rules
            };
            let held = versions::choose(&tags, &running_tag, everything)
                .ok()
                .flatten()
                .filter(|t| held.contains(*t))
                .map(str::to_owned);
            return Ok(Checked::Latest { running, held });
        };
        let to = format!("{repository}:{tag}");
        if self.dry_run {
            return Ok(Checked::Available { to });
        }
        info!(
            project = %sref.project, service = %sref.service, from = %running, to = %to,
            "the registry has a newer version {to} (running {running}, newest matching tag); its rollout follows the service's strategy"
        );
        let value = super::Override {
            base_image: base.clone(),
            image: Some(to.clone()),
        };
        self.watches
            .set_override(sref, value)
            .map_err(Error::State)?;
        self.host.kick(&sref.project);
        Ok(Checked::NewTag { from: running, to })
    }

    async fn inspect(&self, image: &str) -> Result<Option<crate::runtime::ImageInfo>> {
        self.runtime
            .inspect_image(image)
            .await
            .map_err(|source| Error::Inspect {
                image: image.to_owned(),
                source,
            })
    }

    /// The digests of `sref`'s failed revisions: recorded in the history, and those its
    /// images (still on the host) were pulled by.
    async fn held(&self, sref: &ServiceRef, repository: &str) -> Result<BTreeSet<String>> {
        let mut held = BTreeSet::new();
        for failed in self.host.failed_revisions(sref)? {
            held.extend(failed.digest);
            if let Some(info) = self.inspect(&failed.image_id).await? {
                held.extend(
                    decide::local_digests(&info.repo_digests, repository)
                        .into_iter()
                        .map(str::to_owned),
                );
            }
        }
        Ok(held)
    }
}

/// The watch settings of `service`, when it is watched (a service built here is not: its
/// image comes from its build, not a registry; nor is one whose `pull_policy` forbids
/// pulling).
fn watch_config(service: &ServiceSpec) -> Option<WatchConfig> {
    if service.build.is_some() || !service.pull_policy.pulls() {
        return None;
    }
    RolloutConfig::from_service(service).ok()?.watch
}

/// Writes what a check found into the service's status.
fn apply(w: &mut super::ServiceWatch, checked: Checked) {
    match checked {
        Checked::UpToDate { digest } => {
            w.local_digest = Some(digest.clone());
            w.registry_digest = Some(digest);
            w.result = Some("up to date".to_owned());
            w.update_available = None;
            w.held = None;
        }
        Checked::Held { digest, local } => {
            w.local_digest = local;
            w.result = Some(format!(
                "{digest} failed its rollout here; held until the registry names another image"
            ));
            w.registry_digest = Some(digest.clone());
            w.update_available = None;
            w.held = Some(digest);
        }
        Checked::Pulled { to, .. } => {
            w.local_digest = Some(to.clone());
            w.registry_digest = Some(to.clone());
            w.result = Some(format!("pulled {to}; rolling out"));
            w.update_available = Some(to);
            w.held = None;
        }
        Checked::Latest { running, held } => {
            w.result = Some(format!("{running} is the newest version the rules allow"));
            w.update_available = None;
            if let Some(tag) = &held {
                w.result = Some(format!(
                    "{running} runs; {tag} failed its rollout here and is held"
                ));
            }
            w.held = held;
        }
        Checked::NewTag { to, .. } => {
            w.result = Some(format!("chose {to}; rolling out"));
            w.update_available = Some(to);
            w.held = None;
        }
        Checked::Available { to } => {
            w.result = Some(format!("{to} is available"));
        }
        Checked::NotLocal { digest } => {
            w.registry_digest = Some(digest);
            w.result = Some("not on this host yet; the reconcile pulls it".to_owned());
        }
    }
}
