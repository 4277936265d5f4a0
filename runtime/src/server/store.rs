//! The engine's durable state on disk: agents' presence and daily counters, round-robin
//! positions, sticky memory and phones' registrations in an embedded redb database in the data
//! directory
//! (`state.redb`), one table each, keyed by the names in the flows. A save writes only what
//! changed since the last one, in one transaction: a crash (even `kill -9`) leaves the last
//! committed state, never a torn one. The server saves from a thread of its own, so the
//! signalling loop never waits on the disk ([`Writer`]).

use crate::acd::store::{Durable, StickyEntry, Store, StoreError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;

const AGENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("agents");
const ROUND_ROBIN: TableDefinition<&str, u32> = TableDefinition::new("round_robin");
/// Key: group, a newline, caller; value: agent, a newline, the time (ms since the epoch).
const STICKY: TableDefinition<&str, &str> = TableDefinition::new("sticky");
/// Key: agent; value: its phone's registration (JSON).
const REGISTRATIONS: TableDefinition<&str, &[u8]> = TableDefinition::new("registrations");

/// The database file in the data directory.
pub const FILE: &str = "state.redb";

pub struct Disk {
    db: Database,
    /// What the database holds now (so a save writes the difference).
    saved: Durable,
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

impl Disk {
    /// Opens (or makes) the database at `path`.
    pub fn open(path: &Path) -> Result<Disk, StoreError> {
        let db = Database::create(path).map_err(err)?;
        let mut disk = Disk {
            db,
            saved: Durable::default(),
        };
        disk.saved = disk.read()?;
        Ok(disk)
    }

    fn read(&self) -> Result<Durable, StoreError> {
        let mut d = Durable::default();
        let tx = self.db.begin_read().map_err(err)?;
        // A record this version cannot read is skipped, not fatal (a phone registers again).
        rows(&tx, AGENTS, |k, v| {
            if let Ok(r) = serde_json::from_slice(v) {
                d.agents.insert(k.to_string(), r);
            }
        })?;
        rows(&tx, ROUND_ROBIN, |k, v| {
            d.round_robin.insert(k.to_string(), v);
        })?;
        rows(&tx, STICKY, |k, v| {
            let (Some((group, caller)), Some((agent, at))) =
                (k.split_once('\n'), v.split_once('\n'))
            else {
                return;
            };
            let Ok(at) = at.parse() else { return };
            d.sticky.push(StickyEntry {
                group: group.into(),
                caller: caller.into(),
                agent: agent.into(),
                at,
            });
        })?;
        rows(&tx, REGISTRATIONS, |k, v| {
            if let Ok(r) = serde_json::from_slice(v) {
                d.registrations.insert(k.to_string(), r);
            }
        })?;
        Ok(d)
    }
}

/// Each row of a table keyed by name (a table not made yet has none).
fn rows<V: redb::Value + 'static>(
    tx: &redb::ReadTransaction,
    table: TableDefinition<&str, V>,
    mut each: impl for<'a> FnMut(&'a str, V::SelfType<'a>),
) -> Result<(), StoreError> {
    let t = match tx.open_table(table) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
        Err(e) => return Err(err(e)),
    };
    for row in t.iter().map_err(err)? {
        let (k, v) = row.map_err(err)?;
        each(k.value(), v.value());
    }
    Ok(())
}

/// Writes into a table keyed by name what changed from `before` to `now`: `put` writes an
/// entry that is new or different, and names gone are removed.
fn write_changes<V: redb::Value + 'static, T: PartialEq>(
    t: &mut redb::Table<&'static str, V>,
    before: &BTreeMap<String, T>,
    now: &BTreeMap<String, T>,
    mut put: impl FnMut(&mut redb::Table<&'static str, V>, &str, &T) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    for (name, v) in now {
        if before.get(name) != Some(v) {
            put(t, name, v)?;
        }
    }
    for name in before.keys() {
        if !now.contains_key(name) {
            t.remove(name.as_str()).map_err(err)?;
        }
    }
    Ok(())
}

/// An entry of a table of JSON values.
fn put_json<T: serde::Serialize>(
    t: &mut redb::Table<&'static str, &'static [u8]>,
    name: &str,
    value: &T,
) -> Result<(), StoreError> {
    let v = serde_json::to_vec(value).map_err(err)?;
    t.insert(name, v.as_slice()).map_err(err)?;
    Ok(())
}

fn sticky_map(d: &Durable) -> BTreeMap<String, String> {
    d.sticky
        .iter()
        .map(|s| {
            (
                format!("{}\n{}", s.group, s.caller),
                format!("{}\n{}", s.agent, s.at),
            )
        })
        .collect()
}

impl Store for Disk {
    fn load(&mut self) -> Result<Option<Durable>, StoreError> {
        Ok(Some(self.saved.clone()))
    }

    fn save(&mut self, state: &Durable) -> Result<(), StoreError> {
        if *state == self.saved {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(err)?;
        {
            let (was, is) = (&self.saved, state);
            let mut t = tx.open_table(AGENTS).map_err(err)?;
            write_changes(&mut t, &was.agents, &is.agents, put_json)?;
            let mut t = tx.open_table(ROUND_ROBIN).map_err(err)?;
            write_changes(&mut t, &was.round_robin, &is.round_robin, |t, k, &v| {
                t.insert(k, v).map(drop).map_err(err)
            })?;
            let mut t = tx.open_table(STICKY).map_err(err)?;
            write_changes(&mut t, &sticky_map(was), &sticky_map(is), |t, k, v| {
                t.insert(k, v.as_str()).map(drop).map_err(err)
            })?;
            let mut t = tx.open_table(REGISTRATIONS).map_err(err)?;
            write_changes(&mut t, &was.registrations, &is.registrations, put_json)?;
        }
        tx.commit().map_err(err)?;
        self.saved = state.clone();
        Ok(())
    }
}

/// Saves from a thread of its own: [`Writer::offer`] hands over the newest state without
/// waiting (a state offered while a save runs replaces any older one still waiting).
pub struct Writer {
    tx: Option<std::sync::mpsc::SyncSender<(u64, Durable)>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// States handed over, and saves written (each save may write several states handed
    /// over meanwhile, the newest of them: `written` then jumps to `offered`).
    offered: std::sync::Arc<std::sync::atomic::AtomicU64>,
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl Writer {
    pub fn spawn(mut disk: Disk) -> std::io::Result<Writer> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(u64, Durable)>(1);
        let offered = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = written.clone();
        let thread = std::thread::Builder::new()
            .name("callflow-store".into())
            .spawn(move || {
                while let Ok((mut n, mut state)) = rx.recv() {
                    loop {
                        // Only the newest of what waits.
                        while let Ok(newer) = rx.try_recv() {
                            (n, state) = newer;
                        }
                        match disk.save(&state) {
                            Ok(()) => {
                                counted.store(n, std::sync::atomic::Ordering::Release);
                                break;
                            }
                            Err(e) => {
                                tracing::error!(
                                    "cannot save the agents' state (trying again in a second): {e}"
                                );
                                // Again a second later, or with a newer state; the loop ends
                                // when the server does.
                                match rx.recv_timeout(std::time::Duration::from_secs(1)) {
                                    Ok(newer) => (n, state) = newer,
                                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                                }
                            }
                        }
                    }
                }
            })?;
        Ok(Writer {
            tx: Some(tx),
            thread: Some(thread),
            offered,
            written,
        })
    }

    /// How many states were handed over, and how many of them are written (for the metrics).
    pub fn counters(&self) -> [std::sync::Arc<std::sync::atomic::AtomicU64>; 2] {
        [self.offered.clone(), self.written.clone()]
    }

    /// Writes `state` last (waiting for the disk), then stops.
    pub fn finish(mut self, state: Durable) {
        if let Some(tx) = self.tx.take() {
            let n = self
                .offered
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel)
                + 1;
            let _ = tx.send((n, state));
        }
    }

    /// Hands `state` to the writer; false when one is still waiting (offer it again later).
    pub fn offer(&self, state: Durable) -> bool {
        let Some(tx) = self.tx.as_ref() else {
            return true;
        };
        let n = self.offered.load(std::sync::atomic::Ordering::Acquire) + 1;
        match tx.try_send((n, state)) {
            Ok(()) => {
                self.offered.store(n, std::sync::atomic::Ordering::Release);
                true
            }
            Err(_) => false,
        }
    }
}

impl Drop for Writer {
    /// Waits for what was offered to be written.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acd::agent::Presence;
    use crate::acd::store::{AgentRecord, Registered};

    #[test]
    fn what_is_saved_comes_back_and_only_changes_are_written() {
        let dir = std::env::temp_dir().join(format!("callflow-store-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(FILE);
        let _ = std::fs::remove_file(&path);
        let mut d = Durable::default();
        d.agents.insert(
            "jan".into(),
            AgentRecord {
                presence: Presence::NotReady {
                    reason: "lunch".into(),
                },
                ..AgentRecord::default()
            },
        );
        d.round_robin.insert("care".into(), 3);
        d.sticky.push(StickyEntry {
            group: "care".into(),
            caller: "+4930123".into(),
            agent: "jan".into(),
            at: 1_700_000_000_000,
        });
        d.registrations.insert(
            "jan".into(),
            Registered {
                contact: "sip:jan@192.0.2.7:5062".into(),
                source: "[2001:db8::7]:5062".parse().unwrap(),
                until: 1_700_000_600_000,
            },
        );
        {
            let mut disk = Disk::open(&path).unwrap();
            assert_eq!(disk.load().unwrap(), Some(Durable::default()));
            disk.save(&d).unwrap();
        }
        let mut disk = Disk::open(&path).unwrap();
        assert_eq!(disk.load().unwrap(), Some(d.clone()));
        // Removals are written too.
        d.sticky.clear();
        d.registrations.clear();
        d.round_robin.insert("care".into(), 4);
        disk.save(&d).unwrap();
        drop(disk);
        assert_eq!(Disk::open(&path).unwrap().load().unwrap(), Some(d));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
