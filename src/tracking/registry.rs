//! The model registry: numbered versions (one per promoted run), aliases that point at one
//! version each, and an append-only audit log of every alias move.
//!
//! Every move is one immediate transaction that writes the alias and its event together, so a
//! reader (the server polling an alias) sees the old version or the new one, never neither, and
//! the log never disagrees with the aliases.

use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;

use super::documents::EventDoc;
use super::{Store, StoreError};
use crate::util::now_ms;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelVersion {
    pub version: i64,
    pub run_id: String,
    pub run_name: String,
    pub family: String,
    pub sha256: String,
    pub created_at: i64,
    pub description: Option<String>,
    /// Aliases pointing at this version now.
    pub aliases: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasTarget {
    pub alias: String,
    pub version: i64,
    pub run_id: String,
    pub sha256: String,
    /// Where training wrote the bundle (the workspace's content-addressed copy is preferred).
    pub path: Option<String>,
    pub updated_at: i64,
}

/// A registered version and where its bundle is, for loading it by number.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionTarget {
    pub version: i64,
    pub run_id: String,
    pub sha256: String,
    pub path: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasEvent {
    pub id: i64,
    pub alias: String,
    pub from_version: Option<i64>,
    pub to_version: Option<i64>,
    pub actor: String,
    pub reason: Option<String>,
    pub at: i64,
    /// The bucket object a pulled move was replayed from; `None` for a move made here.
    pub pulled_from: Option<String>,
    /// What the promotion policy weighed (JSON), when a policy guarded the move.
    pub evidence: Option<serde_json::Value>,
}

impl AliasEvent {
    /// The move as the audit log shows it, in every front end: when (UTC), alias,
    /// `from → to` (`none` where there was no version), who, and why.
    pub fn audit_row(&self) -> [String; 5] {
        let v = |x: Option<i64>| x.map_or("none".to_string(), |v| v.to_string());
        [
            crate::util::format_ms(self.at),
            self.alias.clone(),
            format!("{} → {}", v(self.from_version), v(self.to_version)),
            self.actor.clone(),
            self.reason.clone().unwrap_or_default(),
        ]
    }
}

/// What replaying a move from a bucket did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Replayed {
    /// The move is the alias's newest: the alias now points where it says.
    Moved {
        event_id: i64,
        alias_move: AliasMove,
    },
    /// An older move than the alias's newest: kept in the audit log, the alias unchanged.
    History { event_id: i64 },
    /// The store holds this move already.
    AlreadyHere { event_id: i64 },
}

impl Replayed {
    /// The audit-log row that holds the move.
    pub fn event_id(&self) -> i64 {
        match self {
            Replayed::Moved { event_id, .. }
            | Replayed::History { event_id }
            | Replayed::AlreadyHere { event_id } => *event_id,
        }
    }
}

/// What the audit log keeps of a move besides the move itself: who, why, on what evidence.
#[derive(Debug, Clone, Copy, Default)]
pub struct Audit<'a> {
    pub actor: &'a str,
    pub reason: Option<&'a str>,
    /// The promotion policy's evidence, as JSON.
    pub evidence: Option<&'a serde_json::Value>,
    /// The version the alias must still point at (`Some(None)`: not set), checked inside the
    /// move's transaction, so evidence weighed against one model never replaces another.
    pub expect_from: Option<Option<i64>>,
}

/// The longest reason an alias move keeps, in characters: enough for a paragraph, and an event
/// with it stays far inside what `sync` moves (`documents::MAX_EVENT_BYTES`). Every way in (the
/// CLI, the admin route, the TUI) meets it here.
pub const MAX_REASON: usize = 1000;
/// The longest actor name an alias move keeps, in characters.
pub const MAX_ACTOR: usize = 64;

impl<'a> Audit<'a> {
    /// The free text within its bounds, or the error naming which is too long.
    fn check(&self) -> Result<(), RegistryError> {
        let long = |what: &'static str, text: &str, max: usize| {
            let len = text.chars().count();
            if len > max {
                Err(RegistryError::TooLong { what, len, max })
            } else {
                Ok(())
            }
        };
        long("the reason", self.reason.unwrap_or(""), MAX_REASON)?;
        long("the actor", self.actor, MAX_ACTOR)
    }

    pub fn by(actor: &'a str, reason: Option<&'a str>) -> Audit<'a> {
        Audit {
            actor,
            reason,
            ..Audit::default()
        }
    }
}

/// The result of moving an alias.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AliasMove {
    pub alias: String,
    pub from_version: Option<i64>,
    pub to_version: i64,
    pub run_id: String,
    /// False when the alias already pointed there (nothing was written).
    pub changed: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "alias '{0}' is not valid: use 1 to 64 lowercase letters, digits, '-' or '_', \
         starting with a letter"
    )]
    BadAlias(String),
    #[error("run {run} is {status}; only a finished run with a model can be promoted")]
    NotFinished { run: String, status: String },
    #[error(
        "run {0} has no model bundle recorded, so nothing can serve it (a run logged through \
         the MLflow API carries none: it can hold an MLflow alias and be compared, not served)"
    )]
    NoBundle(String),
    #[error("no model version {0}")]
    NoSuchVersion(i64),
    #[error("alias '{0}' has never been set")]
    NoSuchAlias(String),
    #[error("alias '{0}' has no earlier version to roll back to")]
    NothingToRollBack(String),
    #[error("run {0} is not in this store")]
    UnknownRun(String),
    #[error(
        "alias '{alias}' moved to {} while the promotion was weighed (it was {}); try again",
        found.map_or("nothing".to_string(), |v| format!("version {v}")),
        expected.map_or("unset".to_string(), |v| format!("version {v}"))
    )]
    Moved {
        alias: String,
        expected: Option<i64>,
        found: Option<i64>,
    },
    #[error("{what} is {len} characters long; at most {max} are kept")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who moved an alias, for the audit log.
pub fn actor() -> String {
    match std::env::var("USER").or_else(|_| std::env::var("LOGNAME")) {
        Ok(user) if !user.is_empty() => format!("cli:{user}"),
        _ => "cli".to_string(),
    }
}

/// The alias the server, scoring and drift follow unless told otherwise.
pub const PRODUCTION: &str = "production";

/// Alias names are path segments and config values, so they stay plain.
pub fn valid_alias(alias: &str) -> bool {
    let mut chars = alias.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && alias.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Store {
    /// Points `alias` at `run`'s model, registering a new version for the run if it has none.
    pub fn promote_run(
        &mut self,
        run: &str,
        alias: &str,
        audit: &Audit<'_>,
    ) -> Result<AliasMove, RegistryError> {
        if !valid_alias(alias) {
            return Err(RegistryError::BadAlias(alias.to_string()));
        }
        audit.check()?;
        let summary = self.get_run(run)?;
        if summary.status != super::RunStatus::Finished {
            return Err(RegistryError::NotFinished {
                run: summary.id,
                status: summary.status.as_str().to_string(),
            });
        }
        let bundle = self
            .artifacts(&summary.id)?
            .into_iter()
            .find(|a| a.name == "bundle")
            .ok_or_else(|| RegistryError::NoBundle(summary.id.clone()))?;
        self.registry_tx(|tx| {
            let version = version_of(tx, &summary.id, &bundle.sha256, &summary.name)?;
            let mv = match move_alias(tx, alias, version, audit)? {
                Ok(mv) => mv,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(AliasMove {
                run_id: summary.id.clone(),
                ..mv
            }))
        })
    }

    /// Points `alias` at an existing version.
    pub fn set_alias(
        &mut self,
        alias: &str,
        version: i64,
        audit: &Audit<'_>,
    ) -> Result<AliasMove, RegistryError> {
        if !valid_alias(alias) {
            return Err(RegistryError::BadAlias(alias.to_string()));
        }
        audit.check()?;
        self.registry_tx(|tx| {
            let run_id: Option<String> = tx
                .query_row(
                    "SELECT run_id FROM model_versions WHERE version = ?1",
                    [version],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(run_id) = run_id else {
                return Ok(Err(RegistryError::NoSuchVersion(version)));
            };
            let mv = match move_alias(tx, alias, version, audit)? {
                Ok(mv) => mv,
                Err(e) => return Ok(Err(e)),
            };
            Ok(Ok(AliasMove { run_id, ..mv }))
        })
    }

    /// Runs `f` in one immediate transaction, committed only when `f` succeeds.
    fn registry_tx<T>(
        &mut self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<Result<T, RegistryError>>,
    ) -> Result<T, RegistryError> {
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            if out.is_ok() {
                tx.commit()?;
            }
            Ok(out)
        })?
    }

    /// Moves `alias` back to the version it pointed at before its last move.
    pub fn rollback_alias(
        &mut self,
        alias: &str,
        actor: &str,
        reason: Option<&str>,
    ) -> Result<AliasMove, RegistryError> {
        let last = self
            .alias_events(Some(alias), 1)?
            .into_iter()
            .next()
            .ok_or_else(|| RegistryError::NoSuchAlias(alias.to_string()))?;
        let to = last
            .from_version
            .ok_or_else(|| RegistryError::NothingToRollBack(alias.to_string()))?;
        let reason = reason.map(str::to_string).unwrap_or_else(|| {
            format!(
                "rollback from version {}",
                last.to_version.map_or("-".into(), |v| v.to_string())
            )
        });
        self.set_alias(alias, to, &Audit::by(actor, Some(&reason)))
    }

    /// Where `alias` points now, if anywhere.
    pub fn alias_target(&self, alias: &str) -> Result<Option<AliasTarget>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT a.alias, a.version, v.run_id, v.sha256, a.updated_at,
                        (SELECT path FROM artifacts WHERE run_id = v.run_id AND name = 'bundle')
                 FROM aliases a JOIN model_versions v ON v.version = a.version
                 WHERE a.alias = ?1",
                [alias],
                |r| {
                    Ok(AliasTarget {
                        alias: r.get(0)?,
                        version: r.get(1)?,
                        run_id: r.get(2)?,
                        sha256: r.get(3)?,
                        updated_at: r.get(4)?,
                        path: r.get(5)?,
                    })
                },
            )
            .optional()
        })
    }

    /// A registered version's run and bundle, if the version exists.
    pub fn version_target(&self, version: i64) -> Result<Option<VersionTarget>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT v.version, v.run_id, v.sha256,
                        (SELECT path FROM artifacts WHERE run_id = v.run_id AND name = 'bundle')
                 FROM model_versions v WHERE v.version = ?1",
                [version],
                |r| {
                    Ok(VersionTarget {
                        version: r.get(0)?,
                        run_id: r.get(1)?,
                        sha256: r.get(2)?,
                        path: r.get(3)?,
                    })
                },
            )
            .optional()
        })
    }

    /// The registered version numbers, oldest first.
    pub fn version_numbers(&self) -> Result<Vec<i64>, StoreError> {
        self.read(|c| {
            let mut st = c.prepare("SELECT version FROM model_versions ORDER BY version")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<i64>>>()
        })
    }

    /// The version `alias` points at, and nothing else: the cheap question a server polls.
    pub fn alias_version(&self, alias: &str) -> Result<Option<i64>, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT version FROM aliases WHERE alias = ?1",
                [alias],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Every registered version, newest first, with the aliases on it.
    pub fn model_versions(&self) -> Result<Vec<ModelVersion>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT v.version, v.run_id, r.name, r.family, v.sha256, v.created_at, v.description,
                        (SELECT group_concat(alias, ',') FROM
                            (SELECT alias FROM aliases a WHERE a.version = v.version ORDER BY alias))
                 FROM model_versions v JOIN runs r ON r.id = v.run_id
                 ORDER BY v.version DESC",
            )?;
            let rows = st.query_map([], |r| {
                let aliases: Option<String> = r.get(7)?;
                Ok(ModelVersion {
                    version: r.get(0)?,
                    run_id: r.get(1)?,
                    run_name: r.get(2)?,
                    family: r.get(3)?,
                    sha256: r.get(4)?,
                    created_at: r.get(5)?,
                    description: r.get(6)?,
                    aliases: aliases
                        .map(|a| a.split(',').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }

    /// Every alias and the version it points at, by name.
    pub fn aliases(&self) -> Result<Vec<AliasTarget>, StoreError> {
        let names: Vec<String> = self.read(|conn| {
            let mut st = conn.prepare("SELECT alias FROM aliases ORDER BY alias")?;
            let rows = st.query_map([], |r| r.get(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })?;
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            if let Some(t) = self.alias_target(&n)? {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// The audit log, newest first; `alias` narrows it to one alias.
    pub fn alias_events(
        &self,
        alias: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AliasEvent>, StoreError> {
        self.read(|conn| {
            let mut st = conn.prepare(
                "SELECT id, alias, from_version, to_version,
                        actor || CASE WHEN pulled_from IS NULL THEN '' ELSE ' (via sync)' END,
                        reason, at, pulled_from, evidence
                 FROM alias_events
                 WHERE ?1 IS NULL OR alias = ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![alias, limit as i64], |r| {
                Ok(AliasEvent {
                    id: r.get(0)?,
                    alias: r.get(1)?,
                    from_version: r.get(2)?,
                    to_version: r.get(3)?,
                    actor: r.get(4)?,
                    reason: r.get(5)?,
                    at: r.get(6)?,
                    pulled_from: r.get(7)?,
                    evidence: r
                        .get::<_, Option<String>>(8)?
                        .map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t))),
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
    }
}

impl Store {
    /// Replays a move pulled from a bucket (`origin` is its object key) with its original time,
    /// actor and reason, in one transaction. Moves are ordered by (time, key): the alias follows
    /// a move only when it is newer than every move the store knows for that alias, so replaying
    /// a bucket's moves in any order ends where its history ends. An older move is still written
    /// to the audit log.
    ///
    /// One transaction, so the checks and the move cannot be split by another writer.
    pub fn replay_event(&mut self, ev: &EventDoc, origin: &str) -> Result<Replayed, RegistryError> {
        if !valid_alias(&ev.alias) {
            return Err(RegistryError::BadAlias(ev.alias.clone()));
        }
        let key = ev.key();
        self.registry_tx(|tx| {
            let run: Option<(String, Option<String>, String)> = tx
                .query_row(
                    "SELECT r.status, (SELECT sha256 FROM artifacts WHERE run_id = r.id AND name = 'bundle'), r.name
                     FROM runs r WHERE r.id = ?1",
                    [&ev.run_id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((status, bundle, name)) = run else {
                return Ok(Err(RegistryError::UnknownRun(ev.run_id.clone())));
            };
            if status != "finished" {
                return Ok(Err(RegistryError::NotFinished {
                    run: ev.run_id.clone(),
                    status,
                }));
            }
            let Some(sha) = bundle else {
                return Ok(Err(RegistryError::NoBundle(ev.run_id.clone())));
            };
            let here: Option<i64> = tx
                .query_row(
                    "SELECT e.id FROM alias_events e JOIN model_versions v ON v.version = e.to_version
                     WHERE e.alias = ?1 AND e.at = ?2 AND v.run_id = ?3
                       AND (e.pulled_from = ?4 OR (e.actor = ?5 AND e.reason IS ?6))",
                    params![ev.alias, ev.at, ev.run_id, origin, ev.actor, ev.reason],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(event_id) = here {
                return Ok(Ok(Replayed::AlreadyHere { event_id }));
            }
            let version = version_of(tx, &ev.run_id, &sha, &name)?;
            let newest: Option<EventDoc> = tx
                .query_row(
                    "SELECT e.alias, COALESCE(v.run_id, ''), e.actor, e.reason, e.at
                     FROM alias_events e LEFT JOIN model_versions v ON v.version = e.to_version
                     WHERE e.alias = ?1 ORDER BY e.at DESC, e.id DESC LIMIT 1",
                    [&ev.alias],
                    |r| {
                        Ok(EventDoc {
                            alias: r.get(0)?,
                            run_id: r.get(1)?,
                            actor: r.get(2)?,
                            reason: r.get(3)?,
                            at: r.get(4)?,
                            evidence: None,
                        })
                    },
                )
                .optional()?;
            let is_newest = newest
                .as_ref()
                .is_none_or(|n| (ev.at, key.as_str()) > (n.at, n.key().as_str()));
            let from: Option<i64> = if is_newest {
                tx.query_row(
                    "SELECT version FROM aliases WHERE alias = ?1",
                    [&ev.alias],
                    |r| r.get(0),
                )
                .optional()?
            } else {
                // Where the alias stood just before this move, by time.
                tx.query_row(
                    "SELECT to_version FROM alias_events WHERE alias = ?1 AND at <= ?2
                     ORDER BY at DESC, id DESC LIMIT 1",
                    params![ev.alias, ev.at],
                    |r| r.get(0),
                )
                .optional()?
                .flatten()
            };
            if is_newest {
                tx.execute(
                    "INSERT INTO aliases (alias, version, updated_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
                    params![ev.alias, version, ev.at],
                )?;
            }
            tx.execute(
                "INSERT INTO alias_events (alias, from_version, to_version, actor, reason, at, pulled_from, evidence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    ev.alias,
                    from,
                    version,
                    ev.actor,
                    ev.reason,
                    ev.at,
                    origin,
                    ev.evidence.as_ref().map(|e| e.to_string())
                ],
            )?;
            let event_id = tx.last_insert_rowid();
            Ok(Ok(if is_newest {
                Replayed::Moved {
                    event_id,
                    alias_move: AliasMove {
                        alias: ev.alias.clone(),
                        from_version: from,
                        to_version: version,
                        run_id: ev.run_id.clone(),
                        changed: from != Some(version),
                    },
                }
            } else {
                Replayed::History { event_id }
            }))
        })
    }
}

/// The version registered for `run`, registering one when it has none.
fn version_of(
    tx: &rusqlite::Transaction<'_>,
    run: &str,
    sha256: &str,
    description: &str,
) -> rusqlite::Result<i64> {
    let existing: Option<i64> = tx
        .query_row(
            "SELECT version FROM model_versions WHERE run_id = ?1",
            [run],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(v) = existing {
        return Ok(v);
    }
    tx.execute(
        "INSERT INTO model_versions (version, run_id, sha256, created_at, description)
         VALUES ((SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions), ?1, ?2, ?3, ?4)",
        params![run, sha256, now_ms(), description],
    )?;
    Ok(tx.last_insert_rowid())
}

/// Writes the alias and its audit event inside the caller's transaction.
fn move_alias(
    tx: &rusqlite::Transaction<'_>,
    alias: &str,
    version: i64,
    audit: &Audit<'_>,
) -> rusqlite::Result<Result<AliasMove, RegistryError>> {
    let from: Option<i64> = tx
        .query_row(
            "SELECT version FROM aliases WHERE alias = ?1",
            [alias],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(expected) = audit.expect_from {
        if expected != from {
            return Ok(Err(RegistryError::Moved {
                alias: alias.to_string(),
                expected,
                found: from,
            }));
        }
    }
    let changed = from != Some(version);
    if changed {
        let now = now_ms();
        tx.execute(
            "INSERT INTO aliases (alias, version, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(alias) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at",
            params![alias, version, now],
        )?;
        tx.execute(
            "INSERT INTO alias_events (alias, from_version, to_version, actor, reason, at, evidence)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                alias,
                from,
                version,
                audit.actor,
                audit.reason,
                now,
                audit.evidence.map(|e| e.to_string())
            ],
        )?;
    }
    Ok(Ok(AliasMove {
        alias: alias.to_string(),
        from_version: from,
        to_version: version,
        run_id: String::new(),
        changed,
    }))
}
