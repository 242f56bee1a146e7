//! MLflow's registered models, kept beside staytrack's own registry: names, numbered
//! versions pointing at runs, aliases per model, and every alias move in their own audit log.
//! staytrack's registry (one model, aliases the server follows) stays the only thing served:
//! an alias here that shares a served alias's name is only set on a version whose run carries
//! a staytrack bundle (see `crate::mlflow::registry`).

use rusqlite::{params, OptionalExtension, TransactionBehavior};

use super::external::ExternalError;
use super::Store;
use crate::util::now_ms;

type Res<T> = Result<T, ExternalError>;

#[derive(Debug, Clone)]
pub struct RegisteredModel {
    pub name: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// (alias, version)
    pub aliases: Vec<(String, i64)>,
    /// The newest version, if any.
    pub latest: Option<RegisteredVersion>,
}

#[derive(Debug, Clone)]
pub struct RegisteredVersion {
    pub name: String,
    pub version: i64,
    pub run_id: Option<String>,
    pub source: String,
    pub description: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub aliases: Vec<String>,
}

impl Store {
    pub fn create_registered_model(&mut self, name: &str, description: Option<&str>) -> Res<()> {
        let now = now_ms();
        let n = self.write(|c| {
            c.execute(
                "INSERT OR IGNORE INTO registered_models (name, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?3)",
                params![name, description, now],
            )
        })?;
        if n == 0 {
            return Err(ExternalError::AlreadyExists(format!(
                "registered model '{name}' already exists"
            )));
        }
        Ok(())
    }

    pub fn registered_model(&self, name: &str) -> Res<RegisteredModel> {
        self.registered_models(Some(name), None, 0, 1)?
            .pop()
            .ok_or_else(|| ExternalError::NotFound(format!("registered model '{name}' not found")))
    }

    /// Registered models by name: exactly `name`, or matching the GLOB `glob`.
    pub fn registered_models(
        &self,
        name: Option<&str>,
        glob: Option<&str>,
        offset: usize,
        limit: usize,
    ) -> Res<Vec<RegisteredModel>> {
        let (filter, arg) = match (name, glob) {
            (Some(n), _) => ("WHERE name = ?1", n),
            (None, Some(g)) => ("WHERE name GLOB ?1", g),
            (None, None) => ("WHERE name GLOB ?1", "*"),
        };
        let mut models: Vec<RegisteredModel> = self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT name, description, created_at, updated_at FROM registered_models {filter}
                 ORDER BY name LIMIT {limit} OFFSET {offset}"
            ))?;
            let rows = st.query_map([arg], |r| {
                Ok(RegisteredModel {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    created_at: r.get(2)?,
                    updated_at: r.get(3)?,
                    aliases: Vec::new(),
                    latest: None,
                })
            })?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        for m in &mut models {
            m.aliases = self.read(|c| {
                let mut st = c.prepare_cached(
                    "SELECT alias, version FROM registered_aliases WHERE name = ?1 ORDER BY alias",
                )?;
                let rows = st.query_map([&m.name], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<Vec<_>>>()
            })?;
            m.latest = self
                .registered_versions(Some(&m.name), None, 0, 1, true)?
                .pop();
        }
        Ok(models)
    }

    /// Adds the next version of a registered model.
    pub fn create_registered_version(
        &mut self,
        name: &str,
        source: &str,
        run_id: Option<&str>,
        description: Option<&str>,
    ) -> Res<RegisteredVersion> {
        self.registered_model(name)?;
        if let Some(r) = run_id {
            if !self.run_exists(r)? {
                return Err(ExternalError::NotFound(format!("run '{r}' not found")));
            }
        }
        let now = now_ms();
        let version = self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let v: i64 = tx.query_row(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM registered_versions WHERE name = ?1",
                [name],
                |r| r.get(0),
            )?;
            tx.execute(
                "INSERT INTO registered_versions
                 (name, version, run_id, source, description, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
                params![name, v, run_id, source, description, now],
            )?;
            tx.execute(
                "UPDATE registered_models SET updated_at = ?2 WHERE name = ?1",
                params![name, now],
            )?;
            tx.commit()?;
            Ok(v)
        })?;
        self.registered_version(name, version)
    }

    pub fn registered_version(&self, name: &str, version: i64) -> Res<RegisteredVersion> {
        self.registered_versions_where(
            "WHERE name = ?1 AND version = ?2",
            &[&name, &version],
            0,
            1,
            false,
        )?
        .pop()
        .ok_or_else(|| not_found(name, version))
    }

    /// Versions of one model (`name`) or of models matching the GLOB `glob`; with `newest`,
    /// newest first.
    pub fn registered_versions(
        &self,
        name: Option<&str>,
        run_id: Option<&str>,
        offset: usize,
        limit: usize,
        newest: bool,
    ) -> Res<Vec<RegisteredVersion>> {
        match (name, run_id) {
            (Some(n), Some(r)) => self.registered_versions_where(
                "WHERE name = ?1 AND run_id = ?2",
                &[&n, &r],
                offset,
                limit,
                newest,
            ),
            (Some(n), None) => {
                self.registered_versions_where("WHERE name = ?1", &[&n], offset, limit, newest)
            }
            (None, Some(r)) => {
                self.registered_versions_where("WHERE run_id = ?1", &[&r], offset, limit, newest)
            }
            (None, None) => self.registered_versions_where("", &[], offset, limit, newest),
        }
    }

    fn registered_versions_where(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        offset: usize,
        limit: usize,
        newest: bool,
    ) -> Res<Vec<RegisteredVersion>> {
        let dir = if newest { "DESC" } else { "ASC" };
        Ok(self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT name, version, run_id, source, description, created_at, updated_at
                 FROM registered_versions {filter} ORDER BY name, version {dir}
                 LIMIT {limit} OFFSET {offset}"
            ))?;
            let mut out: Vec<RegisteredVersion> = st
                .query_map(args, |r| {
                    Ok(RegisteredVersion {
                        name: r.get(0)?,
                        version: r.get(1)?,
                        run_id: r.get(2)?,
                        source: r.get(3)?,
                        description: r.get(4)?,
                        created_at: r.get(5)?,
                        updated_at: r.get(6)?,
                        aliases: Vec::new(),
                    })
                })?
                .collect::<rusqlite::Result<_>>()?;
            let mut al = c.prepare_cached(
                "SELECT alias FROM registered_aliases WHERE name = ?1 AND version = ?2
                 ORDER BY alias",
            )?;
            for v in &mut out {
                v.aliases = al
                    .query_map(params![v.name, v.version], |r| r.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
            }
            Ok(out)
        })?)
    }

    /// Points `alias` of model `name` at `version`, and keeps the move in the audit log.
    pub fn set_registered_alias(
        &mut self,
        name: &str,
        alias: &str,
        version: i64,
        actor: &str,
    ) -> Res<()> {
        self.registered_version(name, version)?;
        let now = now_ms();
        self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before: Option<i64> = tx
                .query_row(
                    "SELECT version FROM registered_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()?;
            if before != Some(version) {
                tx.execute(
                    "INSERT OR REPLACE INTO registered_aliases (name, alias, version, updated_at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![name, alias, version, now],
                )?;
                tx.execute(
                    "INSERT INTO registered_alias_events
                     (name, alias, from_version, to_version, actor, at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![name, alias, before, version, actor, now],
                )?;
            }
            tx.commit()
        })?;
        Ok(())
    }

    pub fn delete_registered_alias(&mut self, name: &str, alias: &str, actor: &str) -> Res<()> {
        let now = now_ms();
        let found = self.write(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let before: Option<i64> = tx
                .query_row(
                    "SELECT version FROM registered_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                    |r| r.get(0),
                )
                .optional()?;
            if before.is_some() {
                tx.execute(
                    "DELETE FROM registered_aliases WHERE name = ?1 AND alias = ?2",
                    params![name, alias],
                )?;
                tx.execute(
                    "INSERT INTO registered_alias_events
                     (name, alias, from_version, to_version, actor, at)
                     VALUES (?1, ?2, ?3, NULL, ?4, ?5)",
                    params![name, alias, before, actor, now],
                )?;
            }
            tx.commit()?;
            Ok(before.is_some())
        })?;
        if !found {
            return Err(ExternalError::NotFound(format!(
                "registered model '{name}' has no alias '{alias}'"
            )));
        }
        Ok(())
    }

    pub fn registered_version_by_alias(&self, name: &str, alias: &str) -> Res<RegisteredVersion> {
        let v: Option<i64> = self.read(|c| {
            c.query_row(
                "SELECT version FROM registered_aliases WHERE name = ?1 AND alias = ?2",
                params![name, alias],
                |r| r.get(0),
            )
            .optional()
        })?;
        let v = v.ok_or_else(|| {
            ExternalError::NotFound(format!("registered model '{name}' has no alias '{alias}'"))
        })?;
        self.registered_version(name, v)
    }

    /// The alias moves of one registered model, newest first: (alias, from, to, actor, at).
    #[allow(clippy::type_complexity)]
    pub fn registered_alias_events(
        &self,
        name: &str,
    ) -> Res<Vec<(String, Option<i64>, Option<i64>, String, i64)>> {
        Ok(self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT alias, from_version, to_version, actor, at FROM registered_alias_events
                 WHERE name = ?1 ORDER BY at DESC, id DESC",
            )?;
            let rows = st.query_map([name], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?;
            rows.collect()
        })?)
    }
}

fn not_found(name: &str, version: i64) -> ExternalError {
    ExternalError::NotFound(format!(
        "registered model '{name}' has no version {version}"
    ))
}
