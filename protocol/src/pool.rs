//! Slot pools: which kind of work an operator is, and which slots a node offers to each kind.
//!
//! Like Flink's slot sharing groups, operators of different pools never share a slot or a
//! task (chaining breaks at a pool boundary), and a job needs, for each pool it uses, as many
//! slots as that pool's largest parallelism. A node offers *shared* slots (`--slots 4`: any
//! pool's work) and slots reserved for one pool (`--slots serving=2,training=1`). On a node,
//! `training` work runs on its own threads at a lower OS scheduling priority, so under CPU
//! overload it yields to serving (design §4, "Resource isolation").

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// The kind of work an operator does, set by `pool = "..."` on a source, stage or sink.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Pool {
    /// Unmarked work: every operator whose pool is neither set nor inherited.
    #[default]
    Default,
    /// Latency-critical work: scoring and the paths that answer requests.
    Serving,
    /// Feature engineering (scalers, encoders, aggregates feeding models).
    Features,
    /// Model training: runs at a lower OS priority and yields under overload.
    Training,
}

impl Pool {
    /// Every pool with its name in specs and on the command line.
    pub const NAMES: [(&'static str, Pool); 4] = [
        ("default", Pool::Default),
        ("serving", Pool::Serving),
        ("features", Pool::Features),
        ("training", Pool::Training),
    ];

    /// The pool's name in specs and on the command line.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("default", |(n, _)| n)
    }

    /// The pool named `name`.
    pub fn from_name(name: &str) -> Option<Pool> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }

    /// Whether its work runs at a lower OS priority than the rest of the node.
    pub fn is_low_priority(self) -> bool {
        self == Pool::Training
    }
}

impl fmt::Display for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The slots a node offers (`quiver node --slots`): shared slots any pool may use, and
/// slots reserved for one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeSlots {
    /// Slots any pool's work may take.
    pub shared: u32,
    /// Slots only that pool's work may take.
    pub reserved: BTreeMap<Pool, u32>,
}

impl NodeSlots {
    /// `n` shared slots (what `--slots N` means).
    pub fn shared(n: u32) -> NodeSlots {
        NodeSlots {
            shared: n,
            reserved: BTreeMap::new(),
        }
    }

    /// The slots reserved for `pool`.
    pub fn reserved_for(&self, pool: Pool) -> u32 {
        self.reserved.get(&pool).copied().unwrap_or(0)
    }

    /// Every slot, shared and reserved.
    pub fn total(&self) -> u32 {
        self.reserved
            .values()
            .fold(self.shared, |sum, n| sum.saturating_add(*n))
    }
}

/// The most slots `--slots` may declare in all.
pub const MAX_NODE_SLOTS: u32 = 4096;

/// What `--slots` accepts, for error messages.
pub const SLOTS_FORMAT: &str = "N (shared slots), or POOL=N pairs separated by commas, with an \
     optional leading N for shared slots: `4`, `serving=2,training=1`, `2,training=1`; \
     pools: default, serving, features, training";

impl FromStr for NodeSlots {
    type Err = String;

    fn from_str(text: &str) -> Result<NodeSlots, String> {
        let mut slots = NodeSlots::default();
        let mut shared_given = false;
        for (i, part) in text.split(',').map(str::trim).enumerate() {
            let count = |n: &str| {
                n.trim()
                    .parse::<u32>()
                    .map_err(|_| format!("`{part}` is not a number of slots; write {SLOTS_FORMAT}"))
            };
            match part.split_once('=') {
                None if i == 0 => {
                    slots.shared = count(part)?;
                    shared_given = true;
                }
                None => {
                    return Err(format!(
                        "`{part}`: only the first item may be a bare number; write {SLOTS_FORMAT}"
                    ))
                }
                Some((name, n)) => {
                    let pool = Pool::from_name(name.trim()).ok_or_else(|| {
                        format!("`{}` is not a pool; write {SLOTS_FORMAT}", name.trim())
                    })?;
                    if slots.reserved.insert(pool, count(n)?).is_some() {
                        return Err(format!("pool `{pool}` is given twice in `{text}`"));
                    }
                }
            }
        }
        slots.reserved.retain(|_, n| *n > 0);
        if slots.total() == 0 || slots.total() > MAX_NODE_SLOTS {
            return Err(format!(
                "`{text}` declares {} slots: a node offers 1..={MAX_NODE_SLOTS}{}",
                slots.total(),
                if shared_given { "" } else { " in all" }
            ));
        }
        Ok(slots)
    }
}

impl fmt::Display for NodeSlots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if self.shared > 0 || self.reserved.is_empty() {
            parts.push(self.shared.to_string());
        }
        parts.extend(self.reserved.iter().map(|(p, n)| format!("{p}={n}")));
        f.write_str(&parts.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_that_many_shared_slots() {
        assert_eq!("4".parse::<NodeSlots>(), Ok(NodeSlots::shared(4)));
        assert_eq!(NodeSlots::shared(4).to_string(), "4");
    }

    #[test]
    fn pools_take_reserved_slots_and_a_leading_number_is_shared() {
        let slots: NodeSlots = "2, serving=3,training=1".parse().unwrap();
        assert_eq!(slots.shared, 2);
        assert_eq!(slots.reserved_for(Pool::Serving), 3);
        assert_eq!(slots.reserved_for(Pool::Training), 1);
        assert_eq!(slots.reserved_for(Pool::Features), 0);
        assert_eq!(slots.total(), 6);
        assert_eq!(slots.to_string(), "2,serving=3,training=1");
        let only: NodeSlots = "training=2".parse().unwrap();
        assert_eq!((only.shared, only.to_string().as_str()), (0, "training=2"));
    }

    #[test]
    fn bad_slot_declarations_say_what_to_write() {
        for (text, says) in [
            ("0", "declares 0 slots"),
            ("trainig=1", "`trainig` is not a pool"),
            ("serving=x", "`serving=x` is not a number"),
            ("serving=1,2", "only the first item"),
            ("serving=1,serving=2", "given twice"),
            ("4097", "1..=4096"),
            ("", "is not a number"),
        ] {
            let e = text.parse::<NodeSlots>().unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }

    #[test]
    fn pool_names_round_trip() {
        for (name, pool) in Pool::NAMES {
            assert_eq!(Pool::from_name(name), Some(pool));
            assert_eq!(pool.name(), name);
        }
        assert!(Pool::Training.is_low_priority() && !Pool::Serving.is_low_priority());
    }
}
